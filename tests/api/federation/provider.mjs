// The upstream OpenID Provider of tests/api/federation: panva's oidc-provider (a
// certified OP implementation) with one client, the depot, and accounts given by the
// test. Protocol with the test, on stdin/stdout:
//   1. listens on 127.0.0.1, port 0, and prints {"issuer": "http://127.0.0.1:<port>"}
//   2. reads one line of JSON: {client_id, client_secret, redirect_uri, auth_method,
//      client_jwks (for private_key_jwt),
//      claims_in_id_token, id_token_ttl, accounts: {<login>: {acr, amr?, claims: {...}}}}
//   3. prints {"ready": true} and serves.
// Interaction (no JavaScript, no devInteractions): GET /interaction/<uid> is a form;
// POST /interaction/<uid> with `login=<account>` signs that account in with its `acr`,
// with `deny=1` ends the request with access_denied. Consent is implicit (the depot is
// a first-party client). `oidc-provider` is loaded from OIDC_PROVIDER_MODULES.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

// Its start-up warnings (the in-memory adapter, a Node.js release other than 22) are
// known here and would only clutter the test output.
const warn = console.warn;
console.warn = (...args) => {
  if (!String(args[0]).includes('oidc-provider WARNING')) warn(...args);
};

const modules = process.env.OIDC_PROVIDER_MODULES;
const require = createRequire(join(modules, 'noop.js'));
const { default: Provider } = await import(pathToFileURL(require.resolve('oidc-provider')).href);

let handler = (req, res) => { res.statusCode = 503; res.end(); };
const server = createServer((req, res) => handler(req, res));
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const issuer = `http://127.0.0.1:${server.address().port}`;
console.log(JSON.stringify({ issuer }));

const lines = createInterface({ input: process.stdin });
const setup = JSON.parse(await new Promise((ok) => lines.once('line', ok)));

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signing = { ...privateKey.export({ format: 'jwk' }), kid: 'op-es256', alg: 'ES256', use: 'sig' };
const accounts = setup.accounts;
const claimNames = [...new Set(Object.values(accounts).flatMap((a) => Object.keys(a.claims)))];

const provider = new Provider(issuer, {
  clients: [{
    client_id: setup.client_id,
    client_secret: setup.client_secret,
    redirect_uris: [setup.redirect_uri],
    token_endpoint_auth_method: setup.auth_method ?? 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
    // private_key_jwt: the depot's published JWK Set, as the test read it.
    ...(setup.client_jwks ? { jwks: setup.client_jwks, token_endpoint_auth_signing_alg: 'ES256' } : {}),
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  jwks: { keys: [signing] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  ttl: { IdToken: setup.id_token_ttl ?? 3600 },
  scopes: ['openid', 'ehealth'],
  claims: { openid: ['sub'], ehealth: claimNames },
  acrValues: [...new Set(Object.values(accounts).map((a) => a.acr).filter(Boolean))],
  // false: the scope's claims are in the ID token too; true: only at UserInfo.
  conformIdTokenClaims: setup.claims_in_id_token === false,
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: async (ctx, id) => (accounts[id] ? {
    accountId: id,
    claims: async () => ({ sub: id, ...accounts[id].claims }),
  } : undefined),
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid ehealth');
    grant.addOIDCClaims(claimNames);
    await grant.save();
    return grant;
  },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

const callback = provider.callback();
const form = (req) => new Promise((ok) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => ok(new URLSearchParams(body)));
});

handler = async (req, res) => {
  const match = req.url.match(/^\/interaction\/([\w-]+)$/);
  if (!match) return callback(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    if (req.method === 'GET') {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      return res.end(`<!doctype html><title>Upstream login</title>
<form method="post" action="/interaction/${details.uid}">
<label>Account <input name="login"></label><button>Sign in</button>
<button name="deny" value="1">Cancel</button></form>`);
    }
    const fields = await form(req);
    const account = accounts[fields.get('login')];
    const result = fields.get('deny') || !account
      ? { error: 'access_denied', error_description: 'the person cancelled' }
      : { login: { accountId: fields.get('login'), acr: account.acr, amr: account.amr } };
    return await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  } catch (err) {
    console.error(err);
    res.statusCode = 400;
    return res.end(String(err));
  }
};
console.log(JSON.stringify({ ready: true }));
process.on('SIGTERM', () => process.exit(0));

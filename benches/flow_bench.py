#!/usr/bin/env python3
"""Closed-loop driver for the stateful token scenarios of benches/token.sh.

The shared peers/loadgen only sends one kind of stateless request (GET, a fixed POST
body, or client_credentials with a fresh assertion), so it cannot follow an
authorization code from the redirect into the token request, nor carry a refresh
token from one answer into the next request. This script does, with asyncio + aiohttp
(uvloop when installed), one keep-alive connection and one cookie jar per worker, like
loadgen's workers, and it writes the same JSON report (`levels[].runs[]` with rps,
p50_us, p99_us, gen_cpu_pct, server_cpu_pct, errors ...) so that
peers/lib/summarize.py prints it next to the client_credentials rows.

Scenarios (one "token" = one counted iteration):
  code     GET /oauth2/authorize (the session cookie and the consent exist, the person has
           one profile: 303 straight to the redirect_uri with ?code=&state=&iss=) then
           POST /oauth2/token grant_type=authorization_code + PKCE verifier + a fresh
           private_key_jwt assertion. Latency = the pair; the two steps are also
           reported apart (authorize_* and token_* fields).
  refresh  POST /oauth2/token grant_type=refresh_token with the worker's current refresh
           token and a fresh assertion; the answer's new refresh token is the next one.
           Each worker owns its own family (rotation: a reused token revokes the family).
  cc       POST /oauth2/token grant_type=client_credentials + a fresh assertion (what
           loadgen's token mode sends), for a system client: the baseline of cc-dpop,
           driven by the same generator so that the two compare.
  cc-dpop  the same with a DPoP proof (RFC 9449) by a P-256 key of the generator's: the
           token is bound to it (cnf.jkt); the difference is the proof check's cost.

Setup, not measured: every worker logs in once through the HTML forms (login, consent
on the first worker) with its own cookie jar; for `refresh` it then redeems one code to
start its family. A preflight checks, once per invocation, that a code and a rotated
refresh token cannot be used twice (cc: an assertion; cc-dpop: a proof). Assertions
and proofs are ES256, signed before each run (a pool, as loadgen does; a dry pool signs
inline and counts `inline_signed`); cc and cc-dpop need no login.

  taskset -c 1 flow_bench.py --scenario code --base http://127.0.0.1:18080 \
      --client-id bench-app --key app.pem --kid bench-app --username 85073003328 \
      --password 'correct horse battery' --concurrency 1,8,32 --duration 10 --runs 1 \
      --watch-pid PID --label depot-code-sqlite --json out.json
"""
import argparse
import asyncio
import base64
import hashlib
import json
import os
import re
import secrets
import sys
import time
import uuid
from urllib.parse import parse_qs, quote, urlencode, urljoin, urlsplit

import aiohttp
import yarl
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FORM = {"content-type": "application/x-www-form-urlencoded"}
CSRF_RE = re.compile(r'<input[^>]*name="csrf"[^>]*value="([^"]*)"|<input[^>]*value="([^"]*)"[^>]*name="csrf"')
ACTION_RE = re.compile(r'<form[^>]*action="([^"]*)"')


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(part: str):
    try:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except Exception:  # noqa: BLE001 - best effort, for the record only
        return None


def q(s: str) -> str:
    return quote(s, safe="-._~")


class Signer:
    def __init__(self, pem_path, kid, client_id, aud, ttl):
        with open(pem_path, "rb") as f:
            self.key = serialization.load_pem_private_key(f.read(), password=None)
        self.client_id, self.aud, self.ttl = client_id, aud, ttl
        self.header = b64(json.dumps({"alg": "ES256", "typ": "JWT", "kid": kid}, separators=(",", ":")).encode())
        # Form prefix shared by every token request: client_id + assertion type.
        self.auth_prefix = f"client_id={q(client_id)}&client_assertion_type={q(ASSERTION_TYPE)}&client_assertion="

    def assertion(self) -> str:
        now = int(time.time())
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": self.aud,
                  "jti": str(uuid.uuid4()), "iat": now, "exp": now + self.ttl}
        signing_input = f"{self.header}.{b64(json.dumps(claims, separators=(',', ':')).encode())}"
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def auth(self) -> str:
        return self.auth_prefix + self.assertion()


class Prover:
    """DPoP proofs (RFC 9449 §4.2) of POST to the token endpoint by one P-256 key."""

    def __init__(self, htu):
        self.key = ec.generate_private_key(ec.SECP256R1())
        numbers = self.key.public_key().public_numbers()
        jwk = {"crv": "P-256", "kty": "EC", "x": b64(numbers.x.to_bytes(32, "big")),
               "y": b64(numbers.y.to_bytes(32, "big"))}
        # RFC 7638: the required members, lexicographic order, no whitespace.
        self.jkt = b64(hashlib.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()).digest())
        self.header = b64(json.dumps({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk},
                                     separators=(",", ":")).encode())
        self.htu = htu

    def proof(self) -> str:
        claims = {"jti": str(uuid.uuid4()), "htm": "POST", "htu": self.htu, "iat": int(time.time())}
        signing_input = f"{self.header}.{b64(json.dumps(claims, separators=(',', ':')).encode())}"
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


class Pool:
    """Pre-signed client-authentication form fragments, each with a DPoP proof when a
    prover is given; signs inline when dry."""

    def __init__(self, signer, n, prover=None):
        self.signer, self.prover = signer, prover
        self.items = [self.make() for _ in range(n)]
        self.idx = 0
        self.inline = 0

    def make(self):
        return self.signer.auth(), (self.prover.proof() if self.prover else None)

    def next(self):
        """(client authentication form fragment, DPoP proof or None)."""
        i = self.idx
        self.idx += 1
        if i < len(self.items):
            return self.items[i]
        self.inline += 1
        return self.make()


class Flow:
    """What every request of the authorization code flow needs."""

    def __init__(self, a):
        self.a = a
        self.base = a.base.rstrip("/")
        self.token_url = self.base + "/oauth2/token"
        self.token_yurl = yarl.URL(self.token_url, encoded=True)
        self.redirect_q = q(a.redirect_uri)
        self.authorize_prefix = (
            f"{self.base}/oauth2/authorize?response_type=code&client_id={q(a.client_id)}"
            f"&redirect_uri={self.redirect_q}&scope={q(a.scope)}&code_challenge_method=S256"
        )

    def authorize_url(self):
        verifier = b64(secrets.token_bytes(32))  # 43 characters
        challenge = b64(hashlib.sha256(verifier.encode()).digest())
        state = b64(secrets.token_bytes(12))
        nonce = b64(secrets.token_bytes(12))
        url = f"{self.authorize_prefix}&state={state}&nonce={nonce}&code_challenge={challenge}"
        return url, verifier, state

    def cc_body(self, auth):
        return f"grant_type=client_credentials&scope={q(self.a.scope)}&resource={q(self.a.resource)}&{auth}"

    def code_body(self, code, verifier, auth):
        return (f"grant_type=authorization_code&code={q(code)}&redirect_uri={self.redirect_q}"
                f"&code_verifier={verifier}&{auth}")

    @staticmethod
    def refresh_body(refresh_token, auth):
        return f"grant_type=refresh_token&refresh_token={q(refresh_token)}&{auth}"


class StepError(Exception):
    pass


def code_from_location(resp, expected_state, redirect_uri):
    if resp.status != 303:
        raise StepError(f"authorize: HTTP {resp.status} (expected 303 to the redirect_uri)")
    loc = resp.headers.get("location", "")
    if not loc.startswith(redirect_uri + "?"):
        raise StepError(f"authorize: 303 to {loc[:200]!r}, not to the redirect_uri (session or consent missing?)")
    qs = parse_qs(urlsplit(loc).query)
    if "code" not in qs:
        raise StepError(f"authorize: redirect without a code: {loc[:300]}")
    if qs.get("state", [None])[0] != expected_state:
        raise StepError("authorize: state mismatch")
    return qs["code"][0]


async def get_code(http, flow):
    url, verifier, state = flow.authorize_url()
    async with http.get(yarl.URL(url, encoded=True), allow_redirects=False) as resp:
        await resp.read()
        return code_from_location(resp, state, flow.a.redirect_uri), verifier


async def token_request(http, flow, body, proof=None):
    headers = {**FORM, "dpop": proof} if proof else FORM
    async with http.post(flow.token_yurl, data=body.encode(), headers=headers, allow_redirects=False) as resp:
        raw = await resp.read()
        if resp.status != 200:
            raise StepError(f"token: HTTP {resp.status}: {raw[:300].decode(errors='replace')}")
        return json.loads(raw)


def csrf_of(html):
    m = CSRF_RE.search(html)
    if not m:
        raise StepError("no csrf field in the page")
    return m.group(1) or m.group(2)


async def login(http, flow):
    """Drives the HTML login (and, the first time, the consent) with this cookie jar,
    until /oauth2/authorize answers with a code. Returns (code, verifier) of that last
    authorization, so that the caller can redeem it (refresh) or drop it (code)."""
    a, base = flow.a, flow.base
    url, verifier, state = flow.authorize_url()
    async with http.get(yarl.URL(url, encoded=True), allow_redirects=False) as resp:
        await resp.read()
        if resp.status != 303:
            raise StepError(f"setup authorize: HTTP {resp.status}")
        loc = resp.headers["location"]
    for _ in range(10):
        if loc.startswith(a.redirect_uri):
            qs = parse_qs(urlsplit(loc).query)
            if "code" not in qs:
                raise StepError(f"setup: authorization refused: {loc}")
            return qs["code"][0], verifier
        page_url = urljoin(base + "/", loc)
        async with http.get(page_url, allow_redirects=False) as resp:
            text = await resp.text()
            if resp.status in (302, 303):
                loc = resp.headers["location"]
                continue
            if resp.status != 200:
                raise StepError(f"setup GET {loc}: HTTP {resp.status}: {text[:300]}")
        action = ACTION_RE.search(text)
        if not action:
            raise StepError(f"setup: no form at {loc}: {text[:300]}")
        action = action.group(1)
        fields = {"csrf": csrf_of(text)}
        if 'name="password"' in text:
            fields.update(username=a.username, password=a.password, totp="")
        elif "decision" in text:
            fields["decision"] = "allow"
        else:
            raise StepError(f"setup: unexpected page at {loc}: {text[:400]}")
        async with http.post(urljoin(base + "/", action), data=urlencode(fields).encode(), headers=FORM,
                             allow_redirects=False) as resp:
            body = await resp.text()
            if resp.status not in (302, 303):
                raise StepError(f"setup POST {action}: HTTP {resp.status}: {body[:300]}")
            loc = resp.headers["location"]
    raise StepError("setup: too many steps")


def new_http(limit_one=True):
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=1 if limit_one else 4, force_close=False),
        cookie_jar=aiohttp.CookieJar(unsafe=True),  # cookies from 127.0.0.1
        # No Accept-Encoding, like loadgen: the server would gzip the HTML pages otherwise.
        skip_auto_headers=("Accept-Encoding",),
    )


# ---------------------------------------------------------------------------
# workers


class Worker:
    def __init__(self, flow, signer):
        self.flow = flow
        self.signer = signer
        self.http = new_http()
        self.refresh_token = None
        self.lat, self.lat_authz, self.lat_token = [], [], []
        self.ok = self.errors = 0
        self.first_error = None

    async def setup(self, scenario):
        if scenario.startswith("cc"):
            return
        code, verifier = await login(self.http, self.flow)
        if scenario == "refresh":
            await self.new_family(code, verifier)

    async def new_family(self, code=None, verifier=None):
        if code is None:
            code, verifier = await get_code(self.http, self.flow)
        tok = await token_request(self.http, self.flow, self.flow.code_body(code, verifier, self.signer.auth()))
        if "refresh_token" not in tok:
            raise StepError(f"no refresh_token in the code exchange answer: {sorted(tok)}")
        self.refresh_token = tok["refresh_token"]

    def fail(self, counted, err):
        if counted:
            self.errors += 1
        if self.first_error is None:
            self.first_error = str(err) or repr(err)

    async def run(self, scenario, pool, t_start, t_end, budget):
        flow, http = self.flow, self.http
        pc = time.perf_counter_ns
        while True:
            t0 = pc()
            if t0 >= t_end or budget[0] <= 0:
                return
            budget[0] -= 1
            try:
                if scenario.startswith("cc"):
                    auth, proof = pool.next()
                    tok = await token_request(http, flow, flow.cc_body(auth), proof)
                    if "access_token" not in tok or tok.get("token_type") != ("DPoP" if proof else "Bearer"):
                        raise StepError(f"client_credentials: unexpected answer {sorted(tok)}")
                elif scenario == "code":
                    url, verifier, state = flow.authorize_url()
                    async with http.get(yarl.URL(url, encoded=True), allow_redirects=False) as resp:
                        await resp.read()
                        code = code_from_location(resp, state, flow.a.redirect_uri)
                    t1 = pc()
                    tok = await token_request(http, flow, flow.code_body(code, verifier, pool.next()[0]))
                    if "access_token" not in tok:
                        raise StepError("token: no access_token")
                else:
                    tok = await token_request(http, flow, flow.refresh_body(self.refresh_token, pool.next()[0]))
                    rt = tok.get("refresh_token")
                    if not rt or "access_token" not in tok:
                        raise StepError("refresh: no access_token/refresh_token in the answer")
                    self.refresh_token = rt
                t2 = pc()
            except (StepError, aiohttp.ClientError, asyncio.TimeoutError, ValueError, KeyError) as e:
                self.fail(t0 >= t_start and pc() <= t_end, e)
                if scenario == "refresh":
                    # The chain may be broken (or the family revoked): start a new one.
                    try:
                        await self.new_family()
                    except Exception as e2:  # noqa: BLE001
                        self.fail(False, e2)
                        await asyncio.sleep(0.02)
                continue
            if t0 >= t_start and t2 <= t_end:
                self.ok += 1
                self.lat.append((t2 - t0) // 1000)
                if scenario == "code":
                    self.lat_authz.append((t1 - t0) // 1000)
                    self.lat_token.append((t2 - t1) // 1000)


# ---------------------------------------------------------------------------
# preflight: single use of codes and refresh tokens


async def preflight_cc(http, flow, signer, prover):
    """One client_credentials token (bound when there is a prover), then the replay of
    its proof (cc-dpop) or of its assertion (cc), which must be refused."""
    pf = {}
    auth, proof = signer.auth(), (prover.proof() if prover else None)
    tok = await token_request(http, flow, flow.cc_body(auth), proof)
    pf["status"] = 200
    pf["response"] = {k: (f"<{len(v)} chars>" if k == "access_token" else v) for k, v in tok.items()}
    parts = tok["access_token"].split(".")
    pf["token_header"], pf["token_claims"] = b64json(parts[0]), b64json(parts[1])
    if prover:
        bound = (pf["token_claims"] or {}).get("cnf", {}).get("jkt")
        if tok.get("token_type") != "DPoP" or bound != prover.jkt:
            raise StepError(f"the token is not bound to the proof's key: {tok.get('token_type')} {bound}")
        replay = flow.cc_body(signer.auth()), proof
    else:
        replay = flow.cc_body(auth), None
    headers = {**FORM, "dpop": replay[1]} if replay[1] else FORM
    async with http.post(flow.token_url, data=replay[0].encode(), headers=headers) as resp:
        pf["replay_status"], pf["replay_body"] = resp.status, (await resp.text())[:300]
    pf["replay_rejected"] = pf["replay_status"] != 200
    return pf


async def preflight(http, flow, signer, scenario):
    pf = {}
    code, verifier = await get_code(http, flow)
    tok = await token_request(http, flow, flow.code_body(code, verifier, signer.auth()))
    pf["status"] = 200
    pf["response"] = {k: (f"<{len(v)} chars>" if k in ("access_token", "id_token", "refresh_token") else v)
                      for k, v in tok.items()}
    parts = tok["access_token"].split(".")
    if len(parts) == 3:
        pf["token_header"], pf["token_claims"] = b64json(parts[0]), b64json(parts[1])
    if "id_token" in tok:
        pf["id_token_claims"] = b64json(tok["id_token"].split(".")[1])
    if scenario == "code":
        async with http.post(flow.token_url, data=flow.code_body(code, verifier, signer.auth()).encode(),
                             headers=FORM) as resp:
            pf["replay_status"], pf["replay_body"] = resp.status, (await resp.text())[:300]
    else:
        rt1 = tok["refresh_token"]
        tok2 = await token_request(http, flow, flow.refresh_body(rt1, signer.auth()))
        pf["rotated"] = tok2.get("refresh_token") not in (None, rt1)
        async with http.post(flow.token_url, data=flow.refresh_body(rt1, signer.auth()).encode(), headers=FORM) as resp:
            pf["replay_status"], pf["replay_body"] = resp.status, (await resp.text())[:300]
        async with http.post(flow.token_url, data=flow.refresh_body(tok2["refresh_token"], signer.auth()).encode(),
                             headers=FORM) as resp:
            pf["family_revoked_status"] = resp.status
            pf["family_revoked_body"] = (await resp.text())[:300]
        pf["family_revoked"] = pf["family_revoked_status"] != 200
    pf["replay_rejected"] = pf["replay_status"] != 200
    return pf


# ---------------------------------------------------------------------------
# runs


def proc_cpu_s(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    f = s[s.rindex(")") + 2:].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def pct(sorted_vals, p):
    if not sorted_vals:
        return 0
    # hdrhistogram's value_at_quantile: the smallest value with at least p of the samples at or below it
    i = max(0, min(len(sorted_vals) - 1, int(-(-p * len(sorted_vals) // 1)) - 1))
    return sorted_vals[i]


async def run_once(a, flow, signer, conc, run, pool_n, prover=None):
    workers = [Worker(flow, signer) for _ in range(conc)]
    try:
        # Setup (not measured): logins in small batches, so one worker per session.
        t = time.perf_counter()
        for i in range(0, conc, 8):
            await asyncio.gather(*(w.setup(a.scenario) for w in workers[i:i + 8]))
        if not a.scenario.startswith("cc"):
            print(f"  setup: {conc} logins{' + families' if a.scenario == 'refresh' else ''} in "
                  f"{time.perf_counter() - t:.2f}s", file=sys.stderr)
        t = time.perf_counter()
        pool = Pool(signer, pool_n, prover)
        print(f"  pre-signed {pool_n} fresh assertions{' and proofs' if prover else ''} in "
              f"{time.perf_counter() - t:.2f}s", file=sys.stderr)
        budget = [a.max_requests]
        cpu0 = (proc_cpu_s("self"), proc_cpu_s(a.watch_pid) if a.watch_pid else None, time.perf_counter())
        start = time.perf_counter_ns()
        t_start = start + int(a.warmup * 1e9)
        t_end = t_start + int(a.duration * 1e9)
        await asyncio.gather(*(w.run(a.scenario, pool, t_start, t_end, budget) for w in workers))
        wall = time.perf_counter() - cpu0[2]
        cpu1 = (proc_cpu_s("self"), proc_cpu_s(a.watch_pid) if a.watch_pid else None)
    finally:
        await asyncio.gather(*(w.http.close() for w in workers), return_exceptions=True)
    measured_s = max(1e-9, (min(time.perf_counter_ns(), t_end) - t_start) / 1e9)
    lat = sorted(x for w in workers for x in w.lat)
    la = sorted(x for w in workers for x in w.lat_authz)
    lt = sorted(x for w in workers for x in w.lat_token)
    ok = sum(w.ok for w in workers)
    r = {
        "concurrency": conc, "run": run, "measured_s": measured_s, "ok": ok,
        "errors": sum(w.errors for w in workers), "rps": ok / measured_s,
        "p50_us": pct(lat, .5), "p90_us": pct(lat, .9), "p99_us": pct(lat, .99), "max_us": lat[-1] if lat else 0,
        "mean_us": sum(lat) / len(lat) if lat else 0.0,
        "inline_signed": pool.inline, "pool_size": len(pool.items), "pool_used": pool.idx,
        "gen_cpu_pct": (cpu1[0] - cpu0[0]) / wall * 100 if cpu0[0] is not None else None,
        "server_cpu_pct": (cpu1[1] - cpu0[1]) / wall * 100 if cpu0[1] is not None and cpu1[1] is not None else None,
        "first_error": next((w.first_error for w in workers if w.first_error), None),
        "requests_per_token": 2 if a.scenario == "code" else 1,
    }
    if a.scenario == "code":
        r.update(authorize_p50_us=pct(la, .5), authorize_p99_us=pct(la, .99),
                 token_p50_us=pct(lt, .5), token_p99_us=pct(lt, .99))
    return r


def median(v):
    v = sorted(v)
    return v[len(v) // 2]


async def main_async(a):
    flow = Flow(a)
    signer = Signer(a.key, a.kid, a.client_id, flow.token_url, a.assertion_ttl)
    prover = Prover(flow.token_url) if a.scenario == "cc-dpop" else None
    pf_http = new_http()
    try:
        if a.scenario.startswith("cc"):
            pf = await preflight_cc(pf_http, flow, signer, prover)
        else:
            await login(pf_http, flow)
            pf = await preflight(pf_http, flow, signer, a.scenario)
    finally:
        await pf_http.close()
    print(f"[preflight] {a.scenario}: HTTP {pf['status']} ; access token header={json.dumps(pf.get('token_header'))} "
          f"claims={json.dumps(pf.get('token_claims'))}", file=sys.stderr)
    what = {"code": "code", "refresh": "rotated refresh token", "cc": "assertion",
            "cc-dpop": "DPoP proof"}[a.scenario]
    print(f"[preflight] replay of the same {what}: HTTP {pf['replay_status']} {pf['replay_body'].strip()} -> "
          f"{'REJECTED (ok)' if pf['replay_rejected'] else 'ACCEPTED (single use missing!)'}", file=sys.stderr)
    if a.scenario == "refresh":
        print(f"[preflight] its successor after the replay: HTTP {pf['family_revoked_status']} -> "
              f"{'family revoked (ok)' if pf['family_revoked'] else 'STILL VALID'}", file=sys.stderr)
    hint = {}
    if a.pool_state and os.path.exists(a.pool_state):
        with open(a.pool_state) as f:
            hint = json.load(f)
    print(f"[{a.label}] {a.base} {a.scenario} duration={a.duration}s warmup={a.warmup}s runs={a.runs}", file=sys.stderr)
    print(f"{'label':<10} {'conc':>4} {'tokens/s':>11} {'p50(ms)':>9} {'p90(ms)':>9} {'p99(ms)':>9} {'max(ms)':>9} "
          f"{'errors':>8} {'inline':>8} {'genCPU%':>7} {'srvCPU%':>7}")
    levels = []
    for conc in a.concurrency:
        runs = []
        for run in range(1, a.runs + 1):
            n = max(a.pregen, int(hint.get(a.scenario, 0) * 1.5)) + conc
            r = await run_once(a, flow, signer, conc, run, n, prover)
            hint[a.scenario] = max(hint.get(a.scenario, 0), r["pool_used"])
            fmt = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
            print(f"{a.label:<10} {conc:>4} {r['rps']:>11.1f} {r['p50_us'] / 1000:>9.3f} {r['p90_us'] / 1000:>9.3f} "
                  f"{r['p99_us'] / 1000:>9.3f} {r['max_us'] / 1000:>9.3f} {r['errors']:>8} {r['inline_signed']:>8} "
                  f"{fmt(r['gen_cpu_pct']):>7} {fmt(r['server_cpu_pct']):>7}")
            if r["first_error"]:
                print(f"  first error: {r['first_error']}", file=sys.stderr)
            runs.append(r)
        levels.append({"concurrency": conc, "median_rps": median([r["rps"] for r in runs]),
                       "median_p50_us": median([r["p50_us"] for r in runs]),
                       "median_p99_us": median([r["p99_us"] for r in runs]), "runs": runs})
    if a.pool_state:
        with open(a.pool_state, "w") as f:
            json.dump(hint, f)
    report = {"label": a.label, "mode": a.scenario, "url": flow.token_url, "generator": "benches/flow_bench.py",
              "generator_threads": 1, "duration_s": a.duration, "warmup_s": a.warmup, "runs_per_level": a.runs,
              "unix_time": int(time.time()), "preflight": pf, "levels": levels}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
        print(f"wrote {a.json}", file=sys.stderr)


def steps(paths):
    """Where the time of a code iteration goes: medians over the runs of each
    (tag, concurrency) of the authorize and token step latencies."""
    rows = {}
    for path in paths:
        for line in open(path):
            if not line.strip():
                continue
            rec = json.loads(line)
            if rec.get("mode") != "code":
                continue
            for lv in rec["levels"]:
                for r in lv["runs"]:
                    rows.setdefault((rec["tag"], r["concurrency"]), []).append({**r, "clean": rec.get("clean", True)})
    if not rows:
        return
    print("# code scenario, per step (medians): one token = GET /oauth2/authorize (303 with a code) + POST /oauth2/token")
    print(f"{'target':<22} {'conc':>4} {'authz p50':>10} {'authz p99':>10} {'token p50':>10} {'token p99':>10}  (ms)")
    for (tag, c), rs in rows.items():
        clean = [r for r in rs if r.get("clean", True)] or rs
        m = lambda k: median([r[k] for r in clean]) / 1000  # noqa: E731
        print(f"{tag:<22} {c:>4} {m('authorize_p50_us'):>10.3f} {m('authorize_p99_us'):>10.3f} "
              f"{m('token_p50_us'):>10.3f} {m('token_p99_us'):>10.3f}")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "steps":
        steps(sys.argv[2:])
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", choices=["code", "refresh", "cc", "cc-dpop"], required=True)
    p.add_argument("--base", required=True, help="http://127.0.0.1:PORT (loopback only)")
    p.add_argument("--client-id", default="bench-app")
    p.add_argument("--key", required=True, help="PKCS#8 PEM of the client's P-256 key")
    p.add_argument("--kid", default=None)
    p.add_argument("--redirect-uri", default="https://app.example/cb")
    p.add_argument("--scope", default="openid depot:read")
    p.add_argument("--resource", default=None, help="cc, cc-dpop: the resource parameter (default BASE/depot)")
    p.add_argument("--username", help="code, refresh: the person who logs in")
    p.add_argument("--password")
    p.add_argument("--concurrency", default=[1, 8, 32], type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--duration", type=float, default=15.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--watch-pid", type=int)
    p.add_argument("--max-requests", type=int, default=5_000_000, help="cap on iterations per run")
    p.add_argument("--pregen", type=int, default=20_000, help="minimum pre-signed assertions per run")
    p.add_argument("--pool-state", help="file remembering how many assertions a run used (pool sizing)")
    p.add_argument("--assertion-ttl", type=int, default=300)
    p.add_argument("--label", default="run")
    p.add_argument("--json")
    a = p.parse_args()
    a.kid = a.kid or a.client_id
    a.resource = a.resource or a.base.rstrip("/") + "/depot"
    if not a.scenario.startswith("cc") and not (a.username and a.password):
        p.error("--username and --password are required for code and refresh")
    host = urlsplit(a.base).hostname or ""
    if urlsplit(a.base).scheme != "http" or not (host == "localhost" or host.startswith("127.") or host == "::1"):
        sys.exit("refusing a non-loopback or non-http target")
    try:
        import uvloop  # type: ignore
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main_async(a))


if __name__ == "__main__":
    main()

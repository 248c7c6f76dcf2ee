//! DPoP (RFC 9449, API.md "Sender-constrained tokens"), with proofs made by Python's
//! jwcrypto, a JOSE implementation we did not write: what the token endpoint and the
//! resource servers accept (ES256, EdDSA, RS256, PS256 keys; `cnf.jkt` is jwcrypto's
//! thumbprint) and each proof they refuse, one defect per test, with the error, the
//! challenge and the nonce headers, and that a refused request issued or used up
//! nothing. Without jwcrypto the tests skip (and fail under `CI=true`).
//!
//! This module holds what the tests share; the tests are in `token`, `resource` and
//! `nonce`.

use serde_json::{Map, Value, json};

use crate::helpers::*;
pub(super) use crate::symkeys::{jwcrypto, jwcrypto_available};

mod nonce;
mod resource;
mod token;

/// Makes a key (when none is given) and a proof with it. On stdin: `alg`, `key` (a
/// private JWK, or null to generate one for `alg`), and for a proof `claims` (as they
/// go), `header` (members replacing the defaults `typ` dpop+jwt, `alg`, the public
/// `jwk`; null removes one), `access_token` (then `ath` is its hash, unless the claims
/// have one) and `sign_with` (another private JWK to sign with). `alg` `none` gives an
/// unsigned JWS; an `HS*` alg signs with a fresh symmetric key. On stdout: the private
/// `key`, the `public` JWK, its RFC 7638 thumbprint `jkt`, and the `proof`.
const JWCRYPTO_DPOP: &str = r#"
import hashlib, json, sys
from jwcrypto import jwk, jws
from jwcrypto.common import base64url_encode

given = json.load(sys.stdin)
alg = given["alg"]

def generate(alg):
    if alg == "ES256":
        return jwk.JWK.generate(kty="EC", crv="P-256")
    if alg == "EdDSA":
        return jwk.JWK.generate(kty="OKP", crv="Ed25519")
    if alg in ("RS256", "PS256"):
        return jwk.JWK.generate(kty="RSA", size=given.get("bits") or 2048)
    raise SystemExit("no key type for " + alg)

key = jwk.JWK(**given["key"]) if given.get("key") else generate(alg)
public = key.export_public(as_dict=True)
out = {"key": key.export_private(as_dict=True), "public": public, "jkt": key.thumbprint()}
if given.get("claims") is not None:
    claims = dict(given["claims"])
    token = given.get("access_token")
    if token is not None and "ath" not in claims:
        claims["ath"] = base64url_encode(hashlib.sha256(token.encode("ascii")).digest())
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": public}
    for name, value in (given.get("header") or {}).items():
        if value is None:
            header.pop(name, None)
        else:
            header[name] = value
    payload = json.dumps(claims)
    if header.get("alg") == "none":
        out["proof"] = ".".join(
            [base64url_encode(json.dumps(header)), base64url_encode(payload), ""])
    else:
        if header["alg"].startswith("HS"):
            signer = jwk.JWK.generate(kty="oct", size=256)
        elif given.get("sign_with"):
            signer = jwk.JWK(**given["sign_with"])
        else:
            signer = key
        signed = jws.JWS(payload.encode())
        signed.allowed_algs = [header["alg"]]
        signed.add_signature(signer, alg=None, protected=json.dumps(header))
        out["proof"] = signed.serialize(compact=True)
json.dump(out, sys.stdout)
"#;

/// The algorithms the service accepts, as discovery announces them.
pub(super) const ALGS: [&str; 4] = ["ES256", "EdDSA", "PS256", "RS256"];

/// A proof key that jwcrypto made and holds.
pub(super) struct PyKey {
    alg: String,
    private: Value,
    pub public: Value,
    /// Its RFC 7638 thumbprint as jwcrypto computes it.
    pub jkt: String,
}

impl PyKey {
    /// A fresh key for `alg` (ES256: P-256, EdDSA: Ed25519, RS256/PS256: RSA-2048).
    pub fn generate(alg: &str) -> Self {
        Self::generate_rsa_bits(alg, None)
    }

    /// An RSA key of `bits` bits for `alg` (RS256 or PS256).
    pub fn generate_rsa_bits(alg: &str, bits: Option<u32>) -> Self {
        let made = run(&json!({"alg": alg, "key": null, "bits": bits}));
        Self {
            alg: alg.to_owned(),
            private: made["key"].clone(),
            public: made["public"].clone(),
            jkt: made["jkt"].as_str().unwrap().to_owned(),
        }
    }

    /// A good proof of `htm htu`, issued at the app's present; change it before
    /// [`make`](Proof::make).
    pub fn proof(&self, app: &TestApp, htm: &str, htu: &str) -> Proof<'_> {
        Proof {
            key: self,
            claims: json!({
                "jti": uuid::Uuid::new_v4().to_string(),
                "htm": htm,
                "htu": htu,
                "iat": app.now(),
            }),
            header: Map::new(),
            access_token: None,
            sign_with: None,
        }
    }

    /// A good proof for the token endpoint.
    pub fn token_proof(&self, app: &TestApp) -> String {
        self.proof(app, "POST", &app.token_endpoint()).make()
    }

    /// A good proof of `GET path` with `token`.
    pub fn get_proof(&self, app: &TestApp, path: &str, token: &str) -> String {
        self.proof(app, "GET", &app.htu(path)).token(token).make()
    }
}

/// A proof being made.
pub(super) struct Proof<'k> {
    key: &'k PyKey,
    claims: Value,
    header: Map<String, Value>,
    access_token: Option<String>,
    sign_with: Option<Value>,
}

impl Proof<'_> {
    /// With `ath`, the hash of `token` (computed by the Python side).
    pub fn token(mut self, token: &str) -> Self {
        self.access_token = Some(token.to_owned());
        self
    }

    /// A claim set to `value`, or removed with `Value::Null`.
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        let claims = self.claims.as_object_mut().unwrap();
        if value.is_null() {
            claims.remove(name);
        } else {
            claims.insert(name.to_owned(), value);
        }
        self
    }

    /// A header member set to `value`, or removed with `Value::Null`.
    pub fn header(mut self, name: &str, value: Value) -> Self {
        self.header.insert(name.to_owned(), value);
        self
    }

    /// Signed by `other` (the header still carries this key's `jwk`).
    pub fn signed_by(mut self, other: &PyKey) -> Self {
        self.sign_with = Some(other.private.clone());
        self
    }

    pub fn make(self) -> String {
        let made = run(&json!({
            "alg": self.key.alg,
            "key": self.key.private,
            "claims": self.claims,
            "header": self.header,
            "access_token": self.access_token,
            "sign_with": self.sign_with,
        }));
        made["proof"].as_str().unwrap().to_owned()
    }
}

fn run(input: &Value) -> Value {
    serde_json::from_str(&jwcrypto(JWCRYPTO_DPOP, input)).unwrap()
}

// ---- the token endpoint -----------------------------------------------------------

/// A system client that reads the key search and stamps (two resource servers).
pub(super) async fn system_client(app: &TestApp, id: &str) -> TestClient {
    app.register_system_client(id, &["keys:read", "tsa"], json!({}))
        .await
}

/// A client_credentials request of `client` with `proof` (a fresh client assertion).
pub(super) async fn token_with(
    app: &TestApp,
    client: &TestClient,
    proof: &str,
) -> reqwest::Response {
    app.dpop_token_request(client, Some(proof), &[]).await
}

/// Asserts a 200 with a DPoP-bound token for `jkt`; returns the access token.
pub(super) async fn bound_token(response: reqwest::Response, jkt: &str) -> String {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP", "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(jwt_claims(&token)["cnf"], json!({"jkt": jkt}), "{body}");
    token
}

/// Asserts the token endpoint refused `proof` with 400 `invalid_dpop_proof` (the
/// description naming `reason`) and stored nothing: neither the proof's `jti` nor the
/// client assertion's (checked after the proof, so the client may try again with it).
pub(super) async fn refused_at_token_endpoint(
    app: &TestApp,
    client: &TestClient,
    proof: &str,
    reason: &str,
) {
    let before = app.jti_count().await;
    let response = token_with(app, client, proof).await;
    assert!(
        response.headers().get("dpop-nonce").is_none(),
        "no nonce without DEPOT_DPOP_NONCE=required"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_dpop_proof", "{reason}: {body}");
    assert!(body.get("access_token").is_none(), "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.contains(reason),
        "expected {reason:?} in {description:?}"
    );
    assert_eq!(app.jti_count().await, before, "{reason}: nothing stored");
}

// ---- the resource servers ---------------------------------------------------------

/// A path a system client's token reaches at the key search (a query, which `htu`
/// leaves out).
pub(super) fn jwks_path(client: &TestClient) -> String {
    format!("/keys/jwks?client_id={}", client.id)
}

/// `GET path` with `Authorization: DPoP token` and `proof` when given.
pub(super) async fn dpop_get(
    app: &TestApp,
    path: &str,
    token: &str,
    proof: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .http
        .get(app.url(path))
        .header("authorization", format!("DPoP {token}"));
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    request.send().await.unwrap()
}

/// The `WWW-Authenticate` challenges of a response.
pub(super) fn challenges(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// Asserts a 401 from the resource server of `realm` with one DPoP challenge carrying
/// `error` and the accepted algorithms, and a problem whose detail names `reason`.
pub(super) async fn refused_by_resource(
    response: reqwest::Response,
    realm: &str,
    error: &str,
    reason: &str,
) {
    assert_eq!(response.status(), 401, "{reason}");
    let found = challenges(&response);
    assert_eq!(found.len(), 1, "{found:?}");
    let challenge = &found[0];
    assert!(
        challenge.starts_with(&format!("DPoP realm=\"{realm}\", error=\"{error}\"")),
        "{reason}: {challenge}"
    );
    assert!(
        challenge.ends_with(&format!("algs=\"{}\"", ALGS.join(" "))),
        "{challenge}"
    );
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains(reason), "expected {reason:?} in {detail:?}");
}

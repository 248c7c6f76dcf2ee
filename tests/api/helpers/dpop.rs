//! DPoP proofs (RFC 9449) as a client makes them, for the tests that only need a good
//! proof: a P-256 key made by OpenSSL, proofs made with the `jsonwebtoken` crate (the
//! server verifies proofs with josekit), the JWK, its thumbprint (RFC 7638) and `ath`
//! written out here.
//! The refusals of bad proofs are in `crate::dpop`, with proofs made by jwcrypto.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use serde_json::{Value, json};

use super::{JWT_BEARER, TestApp, TestClient};

/// A client's DPoP key pair.
pub struct DpopKey {
    signing: EncodingKey,
    x: String,
    y: String,
}

impl DpopKey {
    /// A fresh P-256 key (ES256).
    pub fn generate() -> Self {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let pair = EcKey::generate(&group).unwrap();
        let (mut x, mut y) = (BigNum::new().unwrap(), BigNum::new().unwrap());
        let mut ctx = BigNumContext::new().unwrap();
        pair.public_key()
            .affine_coordinates(&group, &mut x, &mut y, &mut ctx)
            .unwrap();
        let coordinate = |n: &BigNum| B64.encode(n.to_vec_padded(32).unwrap());
        let pkcs8 = PKey::from_ec_key(pair)
            .unwrap()
            .private_key_to_pkcs8()
            .unwrap();
        Self {
            signing: EncodingKey::from_ec_der(&pkcs8),
            x: coordinate(&x),
            y: coordinate(&y),
        }
    }

    /// The public JWK, as the proof's `jwk` header carries it.
    pub fn jwk(&self) -> Value {
        json!({"kty": "EC", "crv": "P-256", "x": self.x, "y": self.y})
    }

    /// RFC 7638 §3: the base64url SHA-256 of the required members, in lexicographic
    /// order and without whitespace.
    pub fn jkt(&self) -> String {
        let members = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            self.x, self.y
        );
        B64.encode(openssl::sha::sha256(members.as_bytes()))
    }

    /// A proof of `htm htu`, issued now, with a fresh `jti`; `ath` when a token is given.
    pub fn proof(
        &self,
        htm: &str,
        htu: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        self.proof_at(
            chrono::Utc::now().timestamp(),
            htm,
            htu,
            access_token,
            nonce,
        )
    }

    /// [`proof`](Self::proof) issued at `iat` (a test's clock may be ahead of the
    /// system's).
    pub fn proof_at(
        &self,
        iat: i64,
        htm: &str,
        htu: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        let mut claims = json!({
            "jti": uuid::Uuid::new_v4().to_string(),
            "htm": htm,
            "htu": htu,
            "iat": iat,
        });
        if let Some(token) = access_token {
            claims["ath"] = json!(ath(token));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(serde_json::from_value(self.jwk()).unwrap());
        jsonwebtoken::encode(&header, &claims, &self.signing).unwrap()
    }
}

/// RFC 9449 §4.2: `ath`, the base64url SHA-256 of the access token.
pub fn ath(access_token: &str) -> String {
    B64.encode(openssl::sha::sha256(access_token.as_bytes()))
}

impl TestApp {
    /// The `htu` of a request to `path` (query and fragment dropped): the issuer's URL,
    /// which is what the service compares with (behind a proxy, not the port it
    /// listens on).
    pub fn htu(&self, path: &str) -> String {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        format!("{}{path}", self.issuer)
    }

    /// A client_credentials request of `client` (a fresh assertion) with `proof` as its
    /// `DPoP` header, or without one.
    pub async fn dpop_token_request(
        &self,
        client: &TestClient,
        proof: Option<&str>,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let assertion = client
            .key
            .sign(&client.claims(&self.token_endpoint(), self.now()));
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
        ];
        form.extend_from_slice(extra);
        let mut request = self.http.post(self.url("/oauth2/token")).form(&form);
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        request.send().await.unwrap()
    }

    /// A client_credentials token of `client` bound to `key` (panics unless 200 with
    /// `token_type` DPoP).
    pub async fn dpop_token_for(
        &self,
        client: &TestClient,
        key: &DpopKey,
        extra: &[(&str, &str)],
    ) -> String {
        let proof = key.proof_at(self.now(), "POST", &self.token_endpoint(), None, None);
        let response = self.dpop_token_request(client, Some(&proof), extra).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "DPoP token request failed: {body}");
        assert_eq!(body["token_type"], "DPoP", "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// `method path` with `Authorization: DPoP <token>` and `proof` as the `DPoP` header.
    pub fn dpop_request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        proof: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header("authorization", format!("DPoP {token}"))
            .header("DPoP", proof)
    }

    /// `GET path` with a DPoP-bound `token` and a fresh proof by `key`.
    pub async fn dpop_get(&self, path: &str, token: &str, key: &DpopKey) -> reqwest::Response {
        let proof = key.proof_at(self.now(), "GET", &self.htu(path), Some(token), None);
        self.dpop_request(reqwest::Method::GET, path, token, &proof)
            .send()
            .await
            .unwrap()
    }
}

/// The helper itself: its proofs are accepted, its thumbprint is the server's `cnf.jkt`,
/// and they are about what they say (another URL or method is refused).
#[tokio::test]
async fn the_helpers_proofs_bind_tokens_and_call_resources() {
    let app = super::spawn_app().await;
    let client = app
        .register_system_client("dpop-gw", &["keys:read"], json!({}))
        .await;
    let key = DpopKey::generate();
    let token = app.dpop_token_for(&client, &key, &[]).await;
    assert_eq!(super::jwt_claims(&token)["cnf"], json!({"jkt": key.jkt()}));

    let path = "/keys/jwks?client_id=dpop-gw";
    assert_eq!(app.dpop_get(path, &token, &key).await.status(), 200);
    for (method, htu) in [
        ("GET", app.htu("/keys")),
        ("POST", app.htu(path)),
        ("GET", app.url(path)),
    ] {
        let proof = key.proof(method, &htu, Some(&token), None);
        let response = app
            .dpop_request(reqwest::Method::GET, path, &token, &proof)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "a proof of {method} {htu}");
    }
}

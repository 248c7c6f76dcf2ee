//! The OpenID Connect id_token (Core §2, §3.1.3.6): ES256, with `nonce`, `at_hash`,
//! `acr`, `amr` and `auth_time`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::scope::Acr;
use super::signing::{KeyRing, SigningError};

pub struct IdTokenInput<'a> {
    pub subject: &'a str,
    pub client_id: &'a str,
    pub auth_time: i64,
    pub acr: Acr,
    pub amr: &'a [String],
    pub nonce: Option<&'a str>,
    pub access_token: &'a str,
}

#[derive(Debug, Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    azp: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    acr: &'static str,
    amr: &'a [String],
    at_hash: String,
}

/// Core §3.1.3.6: the left half of the SHA-256 of the access token, base64url (ES256
/// uses SHA-256).
pub fn at_hash(access_token: &str) -> String {
    let digest = openssl::sha::sha256(access_token.as_bytes());
    B64.encode(&digest[..16])
}

pub fn mint(
    ring: &KeyRing,
    issuer: &str,
    now: DateTime<Utc>,
    ttl_seconds: i64,
    input: &IdTokenInput<'_>,
) -> Result<String, SigningError> {
    let iat = now.timestamp();
    let claims = Claims {
        iss: issuer,
        sub: input.subject,
        aud: input.client_id,
        azp: input.client_id,
        exp: iat + ttl_seconds,
        iat,
        auth_time: input.auth_time,
        nonce: input.nonce,
        acr: input.acr.as_str(),
        amr: input.amr,
        at_hash: at_hash(input.access_token),
    };
    ring.sign("JWT", &claims)
}

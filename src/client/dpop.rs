//! DPoP (RFC 9449) from the client's side: proofs that this device holds the key its
//! tokens are bound to. A proof is a compact JWS (`typ` `dpop+jwt`) signed by the key
//! whose public half is in its `jwk` header, over the request's method (`htm`) and URL
//! without query or fragment (`htu`), with a fresh `jti` and `iat`, and, when a token
//! goes with it, `ath`, the base64url SHA-256 of the token (§4.2, §7.1).
//!
//! What a server says is kept per server (per origin): the latest nonce it gave in a
//! `DPoP-Nonce` header (§8, §9), which every later proof to it carries, and how far its
//! clock (its `Date` header) is from this machine's, by which proofs are dated so that
//! a machine whose clock is off still makes proofs the server finds fresh. A request
//! refused for want of the nonce (`use_dpop_nonce`), or refused as stale while the
//! server's clock says this machine's is off, is repeated once ([`Self::answered`]).
//!
//! Signing goes through josekit over OpenSSL, with the same key types as the device's
//! registered keys (P-256, Ed25519, RSA).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use josekit::jws::{self, JwsHeader, JwsSigner};
use openssl::pkey::{PKey, Private};
use reqwest::header::{DATE, HeaderMap, WWW_AUTHENTICATE};
use serde_json::{Map, Value, json};

use super::{Alg, ClientError};

/// The header a proof is sent in, and the authorization scheme of a bound token.
pub const HEADER: &str = "DPoP";
/// The header a server gives its nonce in.
pub const NONCE_HEADER: &str = "DPoP-Nonce";
/// `token_type` of a bound token (RFC 9449 §5).
pub const TOKEN_TYPE: &str = "DPoP";
/// A clock this close to the server's is left alone: the `Date` header has a
/// resolution of a second and the answer took some time to come.
const TOLERATED_SKEW_SECONDS: i64 = 2;

/// A key that signs DPoP proofs. Clones share what the servers said (nonces, clocks).
#[derive(Clone)]
pub struct DpopKey {
    inner: Arc<Inner>,
}

struct Inner {
    signer: Box<dyn JwsSigner>,
    /// The public key, with only the members RFC 7638 names.
    jwk: josekit::jwk::Jwk,
    jkt: String,
    alg: Alg,
    servers: Mutex<HashMap<String, Server>>,
}

/// What one server said.
#[derive(Default, Clone)]
struct Server {
    nonce: Option<String>,
    clock_offset_seconds: i64,
}

/// What an answer told about a request's proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Nothing to repeat.
    No,
    /// Repeat once with a new proof: the server asked for its nonce and gave it, or
    /// found the proof stale and its clock says this machine's is off.
    Once,
}

impl fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopKey")
            .field("alg", &self.inner.alg.jose())
            .field("jkt", &self.inner.jkt)
            .finish_non_exhaustive()
    }
}

impl DpopKey {
    /// Proofs by `key`, signed with `alg` (ES256 for P-256, EdDSA for Ed25519, RS256
    /// or PS256 for RSA).
    pub fn new(key: &PKey<Private>, alg: Alg) -> Result<Self, ClientError> {
        let crypto = |e: openssl::error::ErrorStack| ClientError::Crypto(e.to_string());
        let public =
            PKey::public_key_from_der(&key.public_key_to_der().map_err(crypto)?).map_err(crypto)?;
        let described = crate::keys::jwk::from_openssl(&public, "", crate::keys::KeyUse::Sig)
            .map_err(|e| ClientError::Crypto(format!("the DPoP key: {e}")))?;
        let members: Map<String, Value> = described
            .jwk
            .into_iter()
            .filter(|(name, _)| ["kty", "crv", "x", "y", "n", "e"].contains(&name.as_str()))
            .collect();
        let jwk = josekit::jwk::Jwk::from_map(members)
            .map_err(|e| ClientError::Crypto(format!("the DPoP key: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                signer: super::keypair::jws_signer(key, alg)?,
                jwk,
                jkt: described.jkt,
                alg,
                servers: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// A new key, held in memory only: for an application that keeps no device file.
    pub fn generate(alg: Alg) -> Result<Self, ClientError> {
        let (key, _) = super::keypair::generate(alg)?;
        Self::new(&key, alg)
    }

    /// The key's RFC 7638 thumbprint: the `cnf.jkt` of the tokens bound to it.
    pub fn jkt(&self) -> &str {
        &self.inner.jkt
    }

    pub fn alg(&self) -> Alg {
        self.inner.alg
    }

    /// A proof for `method` `url`, with `ath` when `access_token` goes with it; dated by
    /// this machine's clock corrected by what the server's says, and carrying the
    /// server's latest nonce.
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
    ) -> Result<String, ClientError> {
        let offset = self.server(url).clock_offset_seconds;
        self.proof_at(
            method,
            url,
            access_token,
            chrono::Utc::now().timestamp() + offset,
        )
    }

    /// The same, dated `iat` (Unix seconds): for a caller with a clock of its own.
    pub fn proof_at(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        iat: i64,
    ) -> Result<String, ClientError> {
        let mut claims = json!({
            "jti": uuid::Uuid::new_v4().to_string(),
            "htm": method,
            "htu": target_uri(url)?,
            "iat": iat,
        });
        if let Some(token) = access_token {
            claims["ath"] = json!(token_hash(token));
        }
        if let Some(nonce) = self.server(url).nonce {
            claims["nonce"] = json!(nonce);
        }
        let mut header = JwsHeader::new();
        header.set_token_type("dpop+jwt");
        header.set_jwk(self.inner.jwk.clone());
        let payload = serde_json::to_vec(&claims)
            .map_err(|e| ClientError::Crypto(format!("the DPoP proof's claims: {e}")))?;
        jws::serialize_compact(&payload, &header, self.inner.signer.as_ref())
            .map_err(|e| ClientError::Crypto(format!("signing the DPoP proof: {e}")))
    }

    /// Takes note of an answer to a request with a proof for `url`: the nonce it gives
    /// and the server's clock. Says whether to repeat the request once, given the
    /// answer's status and its OAuth `error` (of the body at the token endpoint, of
    /// the `WWW-Authenticate` challenge at a resource server).
    pub fn answered(
        &self,
        url: &str,
        status: reqwest::StatusCode,
        headers: &HeaderMap,
        error: Option<&str>,
    ) -> Retry {
        let Some(origin) = origin(url) else {
            return Retry::No;
        };
        let mut servers = self
            .inner
            .servers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let server = servers.entry(origin).or_default();
        let nonce = headers
            .get(NONCE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let new_nonce = nonce.is_some() && nonce != server.nonce;
        if nonce.is_some() {
            server.nonce = nonce;
        }
        let before = server.clock_offset_seconds;
        if let Some(offset) = clock_offset(headers) {
            server.clock_offset_seconds = offset;
        }
        let clock_corrected = server.clock_offset_seconds != before;
        if status.is_success() {
            return Retry::No;
        }
        match error {
            Some("use_dpop_nonce") if new_nonce => Retry::Once,
            Some("invalid_dpop_proof") if clock_corrected => Retry::Once,
            _ => Retry::No,
        }
    }

    fn server(&self, url: &str) -> Server {
        let servers = self
            .inner
            .servers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        origin(url)
            .and_then(|o| servers.get(&o).cloned())
            .unwrap_or_default()
    }
}

/// `ath`: base64url of the SHA-256 of the access token.
pub fn token_hash(token: &str) -> String {
    B64.encode(openssl::sha::sha256(token.as_bytes()))
}

/// The `error` of a resource server's `WWW-Authenticate` challenge (RFC 6750 §3,
/// RFC 9449 §7.1), in whichever scheme.
pub fn challenge_error(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .find_map(|h| {
            let (_, rest) = h.split_once("error=\"")?;
            rest.split_once('"').map(|(code, _)| code.to_owned())
        })
}

/// `htu` (§4.2): the URL without query and fragment.
fn target_uri(url: &str) -> Result<String, ClientError> {
    let mut parsed = url::Url::parse(url)
        .map_err(|e| ClientError::Protocol(format!("{url} is not a URL: {e}")))?;
    parsed.set_query(None);
    parsed.set_fragment(None);
    Ok(parsed.into())
}

fn origin(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .map(|u| u.origin().ascii_serialization())
}

/// How far the server's clock (its `Date` header) is ahead of this machine's, when it
/// is off by more than the header can tell.
fn clock_offset(headers: &HeaderMap) -> Option<i64> {
    let date = headers.get(DATE)?.to_str().ok()?;
    let server = chrono::DateTime::parse_from_rfc2822(date).ok()?.timestamp();
    let offset = server - chrono::Utc::now().timestamp();
    Some(if offset.abs() <= TOLERATED_SKEW_SECONDS {
        0
    } else {
        offset
    })
}

#[cfg(test)]
mod tests {
    use josekit::jwk::Jwk;
    use reqwest::StatusCode;
    use reqwest::header::HeaderValue;

    use super::*;

    fn part(jws: &str, i: usize) -> Value {
        serde_json::from_slice(&B64.decode(jws.split('.').nth(i).unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn a_proof_follows_rfc_9449_and_verifies_with_its_jwk() {
        for alg in [Alg::Es256, Alg::EdDsa, Alg::Ps256, Alg::Rs256] {
            let key = DpopKey::generate(alg).unwrap();
            let proof = key
                .proof_at(
                    "GET",
                    "https://depot.example/depot/messages?box=sent#x",
                    Some("the-token"),
                    1_800_000_000,
                )
                .unwrap();
            let header = part(&proof, 0);
            assert_eq!(header["typ"], "dpop+jwt");
            assert_eq!(header["alg"], alg.jose());
            let jwk = header["jwk"].as_object().unwrap();
            assert!(!jwk.contains_key("d"), "no private member");
            assert_eq!(
                crate::authz::jwks::thumbprint(&header["jwk"]).unwrap(),
                key.jkt()
            );
            let claims = part(&proof, 1);
            assert_eq!(claims["htm"], "GET");
            assert_eq!(claims["htu"], "https://depot.example/depot/messages");
            assert_eq!(claims["iat"], 1_800_000_000);
            assert_eq!(claims["ath"], token_hash("the-token"));
            assert!(claims.get("nonce").is_none());
            assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());

            let jwk = Jwk::from_map(jwk.clone()).unwrap();
            let verifier: Box<dyn jws::JwsVerifier> = match alg {
                Alg::Es256 => Box::new(jws::ES256.verifier_from_jwk(&jwk).unwrap()),
                Alg::EdDsa => Box::new(jws::EdDSA.verifier_from_jwk(&jwk).unwrap()),
                Alg::Ps256 => Box::new(jws::PS256.verifier_from_jwk(&jwk).unwrap()),
                Alg::Rs256 => Box::new(jws::RS256.verifier_from_jwk(&jwk).unwrap()),
            };
            jws::deserialize_compact(&proof, verifier.as_ref()).unwrap();
        }
    }

    #[test]
    fn a_servers_nonce_and_clock_are_kept_for_that_server() {
        let key = DpopKey::generate(Alg::Es256).unwrap();
        let token_endpoint = "https://depot.example/oauth2/token";
        let mut headers = HeaderMap::new();
        headers.insert(NONCE_HEADER, HeaderValue::from_static("n-1"));
        let ahead = chrono::Utc::now() + chrono::Duration::seconds(400);
        let date = ahead.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        headers.insert(DATE, HeaderValue::from_str(&date).unwrap());
        assert_eq!(
            key.answered(
                token_endpoint,
                StatusCode::BAD_REQUEST,
                &headers,
                Some("use_dpop_nonce")
            ),
            Retry::Once
        );
        // The same nonce again is no reason to repeat.
        assert_eq!(
            key.answered(
                token_endpoint,
                StatusCode::BAD_REQUEST,
                &headers,
                Some("use_dpop_nonce")
            ),
            Retry::No
        );

        let proof = key
            .proof("POST", "https://depot.example/depot/messages", None)
            .unwrap();
        let claims = part(&proof, 1);
        assert_eq!(claims["nonce"], "n-1", "the same server");
        let iat = claims["iat"].as_i64().unwrap();
        assert!((iat - ahead.timestamp()).abs() <= 2, "dated by its clock");

        let elsewhere = part(
            &key.proof("POST", "https://tsa.example/tsr", None).unwrap(),
            1,
        );
        assert!(elsewhere.get("nonce").is_none(), "another server");
        assert!((elsewhere["iat"].as_i64().unwrap() - chrono::Utc::now().timestamp()).abs() <= 2);
    }

    #[test]
    fn a_stale_proof_is_repeated_only_when_the_clock_was_corrected() {
        let key = DpopKey::generate(Alg::Es256).unwrap();
        let url = "https://depot.example/depot/box";
        let now = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let mut headers = HeaderMap::new();
        headers.insert(DATE, HeaderValue::from_str(&now).unwrap());
        let refused = StatusCode::UNAUTHORIZED;
        let stale = Some("invalid_dpop_proof");
        assert_eq!(key.answered(url, refused, &headers, stale), Retry::No);
        let behind = (chrono::Utc::now() - chrono::Duration::seconds(120))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        headers.insert(DATE, HeaderValue::from_str(&behind).unwrap());
        assert_eq!(key.answered(url, refused, &headers, stale), Retry::Once);
        assert_eq!(key.answered(url, refused, &headers, stale), Retry::No);
    }

    #[test]
    fn the_error_of_a_challenge_is_read_in_either_scheme() {
        let mut headers = HeaderMap::new();
        headers.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(
                "DPoP realm=\"depot\", error=\"use_dpop_nonce\", error_description=\"x\", algs=\"ES256\"",
            ),
        );
        assert_eq!(challenge_error(&headers).as_deref(), Some("use_dpop_nonce"));
        let mut headers = HeaderMap::new();
        headers.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"depot\""),
        );
        assert_eq!(challenge_error(&headers), None);
    }
}

//! DPoP (RFC 9449): proofs of possession of a key, checked at the token endpoint and by
//! every resource server. A proof is a JWS (`typ` `dpop+jwt`) signed by the key in its
//! own `jwk` header, over the request's method and URL, a fresh `iat`, a single-use
//! `jti` and, with an access token, `ath` (the token's SHA-256). The checks are those
//! of RFC 9449 §4.3, in its order; the `jti`s seen are kept in the database with the
//! client assertions', so a proof replayed at another instance is refused too.
//!
//! Server nonces (§8, §9), when required, are stateless: a nonce is a time slot and
//! its MAC under a key derived from the master key, so every instance of a fleet
//! issues and accepts the same ones. A nonce is good for the slot it was issued in and
//! the next.

use std::sync::{Arc, LazyLock};

use actix_web::HttpRequest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use josekit::jws::JwsVerifier;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::store;
use crate::cache::Memo;
use crate::clock::Clock;
use crate::crypto::{MasterKey, secrets_equal};

/// The proof header and the `typ` of a proof.
pub const HEADER: &str = "DPoP";
pub const TYP: &str = "dpop+jwt";
/// The header a server nonce is given in (§8.1).
pub const NONCE_HEADER: &str = "DPoP-Nonce";
/// The signature algorithms a proof may use (API.md), as discovery announces them.
pub const ALGS: [&str; 4] = ["ES256", "EdDSA", "PS256", "RS256"];
/// How old a proof's `iat` may be (API.md: "within 60 s").
pub const MAX_AGE_SECONDS: i64 = 60;
/// How long a server nonce's time slot is; a nonce is accepted in its slot and the next.
const NONCE_SLOT_SECONDS: i64 = 300;
const MAX_PROOF_BYTES: usize = 8 * 1024;
const MAX_JTI_CHARS: usize = 256;
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

#[derive(Debug, thiserror::Error)]
pub enum DpopError {
    /// `invalid_dpop_proof`.
    #[error("{0}")]
    Invalid(String),
    /// `use_dpop_nonce`, with the nonce to use.
    #[error("the DPoP proof must carry the server's current nonce (DPoP-Nonce header)")]
    UseNonce(String),
    #[error("internal: {0}")]
    Internal(crate::fault::Fault),
}

fn invalid(reason: impl Into<String>) -> DpopError {
    DpopError::Invalid(reason.into())
}

/// The request a proof must be about.
pub struct Target<'a> {
    /// The HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// The request URL without query or fragment, as the issuer's base makes it.
    pub url: &'a str,
    /// The access token presented with the proof (its `ath` is then required).
    pub access_token: Option<&'a str>,
    /// The thumbprint of the key that token is bound to (`cnf.jkt`).
    pub bound_to: Option<&'a str>,
}

/// A proof that passed: the RFC 7638 thumbprint of its key.
#[derive(Debug, Clone)]
pub struct Proof {
    pub jkt: String,
}

#[derive(Deserialize)]
struct Claims {
    jti: Option<Value>,
    htm: Option<String>,
    htu: Option<String>,
    iat: Option<Value>,
    ath: Option<String>,
    nonce: Option<String>,
}

/// Checks proofs; shared by the token endpoint and the resource servers.
#[derive(Clone)]
pub struct DpopVerifier {
    replays: store::Replays,
    clock: Clock,
    master: Arc<MasterKey>,
    nonce_required: bool,
    leeway_seconds: i64,
}

/// The proof of a request: its one `DPoP` header, when there is one (§4.3 check 1).
pub fn proof_of(req: &HttpRequest) -> Result<Option<&str>, DpopError> {
    let mut values = req.headers().get_all(HEADER);
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(invalid("more than one DPoP header"));
    }
    first
        .to_str()
        .map(|v| Some(v.trim()))
        .map_err(|_| invalid("the DPoP header is not text"))
}

impl DpopVerifier {
    pub fn new(
        replays: store::Replays,
        clock: Clock,
        master: Arc<MasterKey>,
        nonce_required: bool,
        leeway_seconds: i64,
    ) -> Self {
        Self {
            replays,
            clock,
            master,
            nonce_required,
            leeway_seconds,
        }
    }

    /// Every check of RFC 9449 §4.3 (and §7.1 with an access token), the `jti` last,
    /// so that a refused proof does not use up its `jti`.
    pub async fn check(&self, proof: &str, target: &Target<'_>) -> Result<Proof, DpopError> {
        let (jkt, claims) = verify_signature(proof)?;
        if target.bound_to.is_some_and(|bound| bound != jkt) {
            return Err(invalid(
                "the proof's key is not the one the token is bound to",
            ));
        }
        let jti = claims
            .jti
            .as_ref()
            .and_then(Value::as_str)
            .filter(|j| !j.is_empty() && j.chars().count() <= MAX_JTI_CHARS)
            .ok_or_else(|| invalid("the proof needs a jti: a string of 1 to 256 characters"))?;
        if claims.htm.as_deref() != Some(target.method) {
            return Err(invalid(format!(
                "the proof's htm is not the request's method {}",
                target.method
            )));
        }
        let htu = claims.htu.ok_or_else(|| invalid("the proof has no htu"))?;
        if !same_target_uri(&htu, target.url) {
            return Err(invalid(format!(
                "the proof's htu {htu:?} is not the request's URL {}",
                target.url
            )));
        }
        let iat = claims
            .iat
            .as_ref()
            .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
            .ok_or_else(|| invalid("the proof has no numeric iat"))?;
        let now = self.clock.now().timestamp();
        match (target.access_token, claims.ath.as_deref()) {
            (Some(token), Some(ath)) if secrets_equal(ath, &token_hash(token)) => {}
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "the proof's ath is not the hash of this access token",
                ));
            }
            (Some(_), None) => return Err(invalid("the proof has no ath for the access token")),
            (None, _) => {}
        }
        // §4.3 check 11: the proof's age, "as determined by either the iat claim or a
        // server managed timestamp via the nonce claim". With nonces required, the
        // nonce is that timestamp (at most two slots old), so a client whose clock is
        // off recovers by taking the nonce it is given; else `iat` must be recent.
        let kept_until = if self.nonce_required {
            if !claims
                .nonce
                .as_deref()
                .is_some_and(|n| self.nonce_is_current(n, now))
            {
                return Err(DpopError::UseNonce(self.nonce_at(now)));
            }
            now + 2 * NONCE_SLOT_SECONDS + self.leeway_seconds
        } else {
            if iat > now + self.leeway_seconds {
                return Err(invalid("the proof's iat is in the future"));
            }
            if iat < now - MAX_AGE_SECONDS - self.leeway_seconds {
                return Err(invalid(format!(
                    "the proof's iat is more than {MAX_AGE_SECONDS} s old"
                )));
            }
            iat + MAX_AGE_SECONDS + 2 * self.leeway_seconds + 1
        };
        // The jti is kept for as long as the proof would otherwise pass.
        let expires_at = chrono::DateTime::from_timestamp(kept_until, 0)
            .ok_or_else(|| invalid("the proof's iat is out of range"))?;
        let fresh = self
            .replays
            .first_use(&format!("dpop:{jkt}"), jti, expires_at)
            .await
            .map_err(|e| DpopError::Internal(crate::fault::Fault::of(&e)))?;
        if !fresh {
            return Err(invalid("the proof was already used (jti replay)"));
        }
        Ok(Proof { jkt })
    }

    /// A current nonce, when nonces are required (for the `DPoP-Nonce` header).
    pub fn fresh_nonce(&self) -> Option<String> {
        if !self.nonce_required {
            return None;
        }
        Some(self.nonce_at(self.clock.now().timestamp()))
    }

    fn nonce_at(&self, now: i64) -> String {
        let slot = now.div_euclid(NONCE_SLOT_SECONDS);
        format!("{slot:x}.{}", self.nonce_mac(slot))
    }

    fn nonce_mac(&self, slot: i64) -> String {
        let mac = self.master.pseudonym("dpop-nonce", &slot.to_be_bytes());
        B64.encode(&mac[..18])
    }

    fn nonce_is_current(&self, nonce: &str, now: i64) -> bool {
        let current = now.div_euclid(NONCE_SLOT_SECONDS);
        let Some((slot, mac)) = nonce.split_once('.') else {
            return false;
        };
        let Ok(slot) = i64::from_str_radix(slot, 16) else {
            return false;
        };
        (slot == current || slot == current - 1) && secrets_equal(mac, &self.nonce_mac(slot))
    }
}

/// `ath` (§4.2): base64url of the SHA-256 of the access token's ASCII bytes.
pub fn token_hash(token: &str) -> String {
    B64.encode(openssl::sha::sha256(token.as_bytes()))
}

/// §4.3 checks 2 to 6: a well-formed JWS, `typ`, an accepted asymmetric `alg`, a public
/// `jwk` and a signature by it. Returns the key's thumbprint and the claims.
fn verify_signature(proof: &str) -> Result<(String, Claims), DpopError> {
    if proof.len() > MAX_PROOF_BYTES {
        return Err(invalid("the proof is too large"));
    }
    let segments: Vec<&str> = proof.split('.').collect();
    let [header, _, _] = segments.as_slice() else {
        return Err(invalid("the proof is not a compact JWS"));
    };
    let key = proof_key(header)?;
    let (payload, _) = josekit::jws::deserialize_compact(proof, &*key.verifier)
        .map_err(|_| invalid("the proof's signature does not verify with its jwk"))?;
    let claims = serde_json::from_slice(&payload)
        .map_err(|e| invalid(format!("the proof's claims are malformed: {e}")))?;
    Ok((key.jkt, claims))
}

/// The key a proof header names, ready to verify.
#[derive(Clone)]
struct ProofKey {
    jkt: String,
    verifier: Arc<dyn JwsVerifier>,
}

/// §4.3 checks 3 to 5 on the protected header, and the verifier of its key. A client
/// sends the same header (`typ`, `alg`, `jwk`) with every proof, so the answer is
/// remembered by the header's text: the JSON, the thumbprint and OpenSSL's key
/// decoding are done once per key, the signature on every proof.
fn proof_key(header: &str) -> Result<ProofKey, DpopError> {
    static KEYS: LazyLock<Memo<String, ProofKey>> = LazyLock::new(|| Memo::new(4096));
    KEYS.get_or_try_insert(header, || {
        let header: Map<String, Value> = B64
            .decode(header)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| invalid("the proof's header is not base64url JSON"))?;
        if header.get("typ").and_then(Value::as_str) != Some(TYP) {
            return Err(invalid("the proof's typ is not dpop+jwt"));
        }
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !ALGS.contains(&alg) {
            return Err(invalid(format!(
                "the proof's alg {alg:?} is not accepted ({})",
                ALGS.join(", ")
            )));
        }
        let jwk = header
            .get("jwk")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid("the proof's header has no jwk"))?;
        if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| jwk.contains_key(**m)) {
            return Err(invalid(format!(
                "the proof's jwk holds the private member {member:?}"
            )));
        }
        let jkt = super::jwks::thumbprint(&Value::Object(jwk.clone()))
            .ok_or_else(|| invalid("the proof's jwk is not a public key"))?;
        let verifier = verifier_for(alg, jwk)?;
        Ok(ProofKey { jkt, verifier })
    })
}

/// The verifier of a proof key for `alg`.
fn verifier_for(alg: &str, jwk: &Map<String, Value>) -> Result<Arc<dyn JwsVerifier>, DpopError> {
    super::jwks::verifier_for(alg, jwk).map_err(|e| invalid(format!("the proof's {e}")))
}

/// §4.3 check 9: the same URI once query and fragment are dropped, after the
/// normalizations of RFC 3986 §6.2.2 and §6.2.3 (case of scheme and host, default
/// port, percent-encoding, dot segments), which `url` applies when parsing.
fn same_target_uri(htu: &str, expected: &str) -> bool {
    if htu == expected {
        return true;
    }
    let strip = |text: &str| {
        url::Url::parse(text).ok().map(|mut u| {
            u.set_query(None);
            u.set_fragment(None);
            u
        })
    };
    matches!((strip(htu), strip(expected)), (Some(a), Some(b)) if a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_uris_compare_after_normalization() {
        let url = "https://depot.example/depot/messages";
        assert!(same_target_uri(
            "https://DEPOT.example:443/depot/messages",
            url
        ));
        assert!(same_target_uri(
            "https://depot.example/depot/messages?x=1#f",
            url
        ));
        assert!(same_target_uri(
            "https://depot.example/depot/./messages",
            url
        ));
        assert!(!same_target_uri(
            "https://depot.example/depot/messages/",
            url
        ));
        assert!(!same_target_uri("http://depot.example/depot/messages", url));
        assert!(!same_target_uri(
            "https://depot.example:8443/depot/messages",
            url
        ));
        assert!(!same_target_uri("/depot/messages", url));
    }

    #[tokio::test]
    async fn a_nonce_is_good_in_its_slot_and_the_next_only() {
        let master = Arc::new(MasterKey::from_bytes([7; 32]).unwrap());
        let other = Arc::new(MasterKey::from_bytes([8; 32]).unwrap());
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        let verifier = |master| {
            DpopVerifier::new(
                store::Replays::new(db.clone()),
                Clock::system(),
                master,
                true,
                10,
            )
        };
        let (ours, theirs) = (verifier(master), verifier(other));
        let t = 1_800_000_000;
        let nonce = ours.nonce_at(t);
        assert!(ours.nonce_is_current(&nonce, t));
        assert!(ours.nonce_is_current(&nonce, t + NONCE_SLOT_SECONDS));
        assert!(!ours.nonce_is_current(&nonce, t + 2 * NONCE_SLOT_SECONDS));
        assert!(!ours.nonce_is_current(&nonce, t - NONCE_SLOT_SECONDS));
        // Another fleet's (another master key's) nonce, or a forged one, is refused.
        assert!(!ours.nonce_is_current(&theirs.nonce_at(t), t));
        let (slot, _) = nonce.split_once('.').unwrap();
        assert!(!ours.nonce_is_current(&format!("{slot}.AAAA"), t));
        assert!(!ours.nonce_is_current("garbage", t));
    }

    #[test]
    fn ath_is_the_base64url_sha256_of_the_token() {
        // RFC 9449 §7.1 example.
        assert_eq!(
            token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }
}

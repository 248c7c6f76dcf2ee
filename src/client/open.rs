//! Opening a fetched message, and the verdict on it.
//!
//! In order (DESIGN.md, "the two flows end to end"):
//! 1. decrypt with this device's key, or with the symmetric key the message names
//!    (fetched with the receiver's own token, so its policy decides; wrapped to this
//!    device's own `enc` key when it has one, so that the key never travels in clear);
//! 2. verify the RFC 3161 timestamp over the exact sealed bytes, chained to the TSA's
//!    root: its `genTime` is when the depot received the message;
//! 3. the plaintext is a compact JWS naming its key (`kid`) and an allowed algorithm
//!    (ES256, EdDSA, RS256, PS256);
//! 4. that kid is among the sender's key references the depot stored from the
//!    sender's token;
//! 5. the keystore had that key active at `genTime`, with the referenced thumbprint,
//!    and that is what its transparency log recorded, in a log that only grew since
//!    the head this client trusted last ([`logged`]);
//! 6. the signature verifies with that key, in the algorithm the key was registered
//!    for: the JWS header cannot choose another.
//!
//! Every check is reported, passed or failed, with what it proved or why it failed;
//! the payload is released only when all passed.

use chrono::SecondsFormat;
use josekit::jwk::Jwk;
use josekit::jws::{self, JwsVerifier};
use openssl::x509::X509;
use serde_json::Value;

mod decrypt;
pub mod logged;

use self::decrypt::decrypt;
use super::Alg;
pub use super::verdict::{Check, Verdict, checks};
use super::{ClientError, Device, Fetched, Session, b64_json};
use crate::tsa::verify::{Verified, new_request, verify_response};

/// The roots a timestamp must chain to, and the keystore log's head trusted last.
pub struct Trust {
    pub tsa_anchors: Vec<X509>,
    pub log: logged::LogTrust,
}

impl Trust {
    /// The self-signed certificates of the TSA chain the service serves. That trusts
    /// the service for its own timestamps; a client that must not is given the root
    /// out of band instead: [`Trust::from_pem`].
    pub async fn from_service(session: &Session) -> Result<Self, ClientError> {
        Self::from_pem(&session.tsa_chain().await?)
    }

    /// The self-signed certificates of a PEM file (a root given out of band, e.g.
    /// `depot client open --tsa-root FILE.pem`); other certificates in it are ignored,
    /// and a file without a self-signed one is refused.
    pub fn from_pem(pem: &[u8]) -> Result<Self, ClientError> {
        let chain = X509::stack_from_pem(pem).map_err(|e| ClientError::Crypto(e.to_string()))?;
        let anchors: Vec<X509> = chain
            .into_iter()
            .filter(|c| c.issued(c) == openssl::x509::X509VerifyResult::OK)
            .collect();
        if anchors.is_empty() {
            return Err(ClientError::Crypto(
                "the TSA chain has no self-signed root".into(),
            ));
        }
        Ok(Self {
            tsa_anchors: anchors,
            log: logged::LogTrust::default(),
        })
    }

    /// The same trust, which keeps the last tree head of the keystore's log it trusted
    /// in `file` (read from it first, when it exists).
    pub fn keeping_log_head_in(mut self, file: std::path::PathBuf) -> Result<Self, ClientError> {
        self.log = logged::LogTrust::kept_in(file)?;
        Ok(self)
    }
}

/// Opens `fetched` with this device's keys (or the symmetric key it names) and
/// checks everything; see the module documentation.
pub async fn open(session: &Session, device: &Device, fetched: &Fetched, trust: &Trust) -> Verdict {
    let mut verdict = Verdict::default();
    let sealed = fetched.sealed_bytes();
    let plaintext = decrypt(session, device, fetched, &sealed, &mut verdict).await;
    let stamped = timestamp(fetched, &sealed, trust, &mut verdict);
    verdict.gen_time = stamped.as_ref().map(|v| v.gen_time);
    let Some(plaintext) = plaintext else {
        return verdict;
    };
    let Some((kid, alg)) = signed_form(&plaintext, &mut verdict) else {
        return verdict;
    };
    let Some(jkt) = key_reference(fetched, &kid, &mut verdict) else {
        return verdict;
    };
    let Some(stamped) = stamped else {
        return verdict;
    };
    let Some(jwk) = key_at(session, &kid, &jkt, &stamped, &trust.log, &mut verdict).await else {
        return verdict;
    };
    if let Some(payload) = signature(&plaintext, &jwk, &alg, &mut verdict)
        && verdict.valid()
    {
        verdict.payload = Some(payload);
    }
    verdict
}

/// Step 2: the timestamp's genTime, when it verifies over these exact bytes.
fn timestamp(
    fetched: &Fetched,
    sealed: &[u8],
    trust: &Trust,
    verdict: &mut Verdict,
) -> Option<Verified> {
    use base64::Engine as _;
    let name = checks::TIMESTAMP;
    let Ok(der) = base64::engine::general_purpose::STANDARD.decode(&fetched.timestamp) else {
        verdict.fail(name, "the timestamp is not base64");
        return None;
    };
    let imprint = match new_request(sealed) {
        Ok(request) => request.message_imprint,
        Err(e) => {
            verdict.fail(name, e);
            return None;
        }
    };
    match verify_response(&der, &imprint, None, &trust.tsa_anchors) {
        Ok(verified) => {
            verdict.pass(
                name,
                format!(
                    "RFC 3161 token serial {} over SHA-256 of the sealed bytes, chained to the TSA root: received at {}",
                    verified.serial,
                    verified.gen_time.to_rfc3339_opts(SecondsFormat::Millis, true)
                ),
            );
            Some(verified)
        }
        Err(e) => {
            verdict.fail(name, e.to_string());
            None
        }
    }
}

/// Step 3: the JWS header's kid and alg.
fn signed_form(plaintext: &[u8], verdict: &mut Verdict) -> Option<(String, String)> {
    let name = checks::SIGNED_FORM;
    let header = std::str::from_utf8(plaintext)
        .ok()
        .filter(|t| t.split('.').count() == 3)
        .and_then(|t| t.split('.').next())
        .and_then(b64_json);
    let Some(header) = header else {
        verdict.fail(name, "the decrypted content is not a compact JWS");
        return None;
    };
    let alg = header["alg"].as_str().unwrap_or_default().to_owned();
    if Alg::from_jose(&alg).is_none() {
        verdict.fail(
            name,
            format!("signature algorithm {alg:?} is not accepted (ES256, EdDSA, RS256, PS256)"),
        );
        return None;
    }
    let Some(kid) = header["kid"].as_str() else {
        verdict.fail(name, "the JWS names no key (kid)");
        return None;
    };
    verdict.pass(name, format!("compact JWS, {alg}, key {kid}"));
    Some((kid.to_owned(), alg))
}

/// Step 4: the reference's thumbprint.
fn key_reference(fetched: &Fetched, kid: &str, verdict: &mut Verdict) -> Option<String> {
    let name = checks::KEY_REFERENCE;
    let reference = fetched.sender["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["kid"] == kid && r["use"] != "enc");
    match reference.and_then(|r| r["jkt"].as_str()) {
        Some(jkt) => {
            verdict.pass(
                name,
                format!(
                    "{kid} is among the signing keys of the sender's token ({})",
                    fetched.sender["identity"]
                ),
            );
            Some(jkt.to_owned())
        }
        None => {
            verdict.fail(
                name,
                format!(
                    "the message is signed with key {kid}, which is not among the sender's key references ({}): signed by someone else, or by a key the sender's app did not hold",
                    fetched.sender["identity"]
                ),
            );
            None
        }
    }
}

/// Step 5: the key as the keystore had it when the depot received the message: at the
/// latest moment the timestamp allows (`genTime` plus its accuracy; a whole second for
/// a TSA that states neither a fraction nor an accuracy). A key registered within that
/// time counts (the depot checked the sender's token then), and a key revoked or
/// expired before its end does not (the message may have been stamped after).
async fn key_at(
    session: &Session,
    kid: &str,
    jkt: &str,
    stamped: &Verified,
    log: &logged::LogTrust,
    verdict: &mut Verdict,
) -> Option<Value> {
    let name = checks::KEY_AT_TIMESTAMP;
    let latest = stamped.latest();
    let at = if latest == stamped.gen_time {
        latest.to_rfc3339_opts(SecondsFormat::Millis, true)
    } else {
        format!(
            "{} (genTime {} + accuracy {} ms)",
            latest.to_rfc3339_opts(SecondsFormat::Millis, true),
            stamped
                .gen_time
                .to_rfc3339_opts(SecondsFormat::Millis, true),
            stamped.uncertainty.num_milliseconds()
        )
    };
    match session.key_vouched_at(kid, latest).await {
        Err(e) => {
            verdict.fail(name, format!("the keystore cannot be asked: {e}"));
            None
        }
        Ok(None) => {
            verdict.fail(
                name,
                format!(
                    "key {kid} was not active at {at} (revoked or expired before the depot received the message)"
                ),
            );
            None
        }
        Ok(Some((jwk, head))) => {
            if crate::authz::jwks::thumbprint(&jwk).as_deref() != Some(jkt) {
                verdict.fail(
                    name,
                    format!("key {kid} in the keystore is not the key the sender's token referenced (thumbprint differs)"),
                );
                return None;
            }
            let later = match jwk["revoked_at"].as_str() {
                Some(revoked) => format!("; revoked later, at {revoked}, which does not matter"),
                None => String::new(),
            };
            verdict.pass(
                name,
                format!("key {kid} was active at {at}, thumbprint {jkt}{later}"),
            );
            match logged::check(session, log, &jwk, &head).await {
                Ok(proved) => verdict.pass(checks::KEY_LOGGED, proved),
                Err(why) => {
                    verdict.fail(checks::KEY_LOGGED, why);
                    return None;
                }
            }
            Some(jwk)
        }
    }
}

/// Step 6.
fn signature(plaintext: &[u8], jwk: &Value, alg: &str, verdict: &mut Verdict) -> Option<Vec<u8>> {
    let name = checks::SIGNATURE;
    let verifier = match verifier(jwk, alg) {
        Ok(v) => v,
        Err(e) => {
            verdict.fail(name, e);
            return None;
        }
    };
    match jws::deserialize_compact(plaintext, verifier.as_ref()) {
        Ok((payload, _)) => {
            verdict.pass(
                name,
                format!("{alg} signature verifies ({} bytes signed)", payload.len()),
            );
            Some(payload)
        }
        Err(e) => {
            verdict.fail(name, format!("the signature does not verify: {e}"));
            None
        }
    }
}

/// A verifier for the registered key, for the algorithm it was registered with only
/// (a JWS cannot choose another: no algorithm confusion). A `sig+enc` key's JWK has no
/// `alg` (API.md); its type says it then: ES256 for EC P-256, EdDSA for Ed25519, and
/// RS256 or PS256 for RSA, the two RSA signature schemes of the keystore.
fn verifier(jwk: &Value, alg: &str) -> Result<Box<dyn JwsVerifier>, String> {
    let map = jwk.as_object().ok_or("the key is not a JWK")?.clone();
    let mut key = Jwk::from_map(map).map_err(|e| e.to_string())?;
    let allowed: Vec<Alg> = match jwk["alg"].as_str() {
        Some(stated) => Alg::from_jose(stated).into_iter().collect(),
        None => match (key.key_type(), key.curve()) {
            ("EC", Some("P-256")) => vec![Alg::Es256],
            ("OKP", Some("Ed25519")) => vec![Alg::EdDsa],
            ("RSA", _) => vec![Alg::Rs256, Alg::Ps256],
            _ => Vec::new(),
        },
    };
    let registered = allowed
        .iter()
        .map(|a| a.jose())
        .collect::<Vec<_>>()
        .join(" or ");
    let Some(alg) = allowed.into_iter().find(|a| a.jose() == alg) else {
        return Err(match registered.as_str() {
            "" => format!("the key cannot verify {alg}"),
            registered => format!("the key is registered for {registered}, the JWS says {alg}"),
        });
    };
    key.set_key_use("sig");
    key.set_algorithm(alg.jose());
    let err = |e: josekit::JoseError| e.to_string();
    Ok(match (key.key_type(), key.curve(), alg) {
        ("EC", Some("P-256"), Alg::Es256) => {
            Box::new(jws::ES256.verifier_from_jwk(&key).map_err(err)?)
        }
        ("OKP", Some("Ed25519"), Alg::EdDsa) => {
            Box::new(jws::EdDSA.verifier_from_jwk(&key).map_err(err)?)
        }
        ("RSA", _, Alg::Rs256) => Box::new(jws::RS256.verifier_from_jwk(&key).map_err(err)?),
        ("RSA", _, Alg::Ps256) => Box::new(jws::PS256.verifier_from_jwk(&key).map_err(err)?),
        (kty, _, alg) => return Err(format!("a {kty} key cannot verify {}", alg.jose())),
    })
}

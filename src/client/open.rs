//! Opening a fetched message, and the verdict on it.
//!
//! In order (DESIGN.md, "the two flows end to end"):
//! 1. decrypt with this device's key, or with the symmetric key the message names
//!    (fetched with the receiver's own token, so its policy decides);
//! 2. verify the RFC 3161 timestamp over the exact sealed bytes, chained to the TSA's
//!    root: its `genTime` is when the depot received the message;
//! 3. the plaintext is a compact JWS naming its key (`kid`) and an allowed algorithm
//!    (ES256, EdDSA, RS256, PS256);
//! 4. that kid is among the sender's key references the depot stored from the
//!    sender's token;
//! 5. the keystore had that key active at `genTime`, with the referenced thumbprint;
//! 6. the signature verifies with that key, in the algorithm the key was registered
//!    for: the JWS header cannot choose another.
//!
//! Every check is reported, passed or failed, with what it proved or why it failed;
//! the payload is released only when all passed.

use chrono::{DateTime, SecondsFormat, Utc};
use josekit::jwe::{self, JweDecrypter};
use josekit::jwk::Jwk;
use josekit::jws::{self, JwsVerifier};
use openssl::x509::X509;
use serde_json::Value;

use super::Alg;
use super::seal::symkey_parts;
pub use super::verdict::{Check, Verdict, checks};
use super::{ClientError, Device, Fetched, Session, b64_json};
use crate::tsa::client::{new_request, verify_response};

/// The roots a timestamp must chain to.
pub struct Trust {
    pub tsa_anchors: Vec<X509>,
}

impl Trust {
    /// The self-signed certificates of the TSA chain the service serves. (A client
    /// that must not trust the service for this is given the root out of band:
    /// [`Trust::from_pem`].)
    pub async fn from_service(session: &Session) -> Result<Self, ClientError> {
        Self::from_pem(&session.tsa_chain().await?)
    }

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
        })
    }
}

/// Opens `fetched` with this device's keys (or the symmetric key it names) and
/// checks everything; see the module documentation.
pub async fn open(session: &Session, device: &Device, fetched: &Fetched, trust: &Trust) -> Verdict {
    let mut verdict = Verdict::default();
    let sealed = fetched.sealed_bytes();
    let plaintext = decrypt(session, device, fetched, &sealed, &mut verdict).await;
    let gen_time = timestamp(fetched, &sealed, trust, &mut verdict);
    verdict.gen_time = gen_time;
    let Some(plaintext) = plaintext else {
        return verdict;
    };
    let Some((kid, alg)) = signed_form(&plaintext, &mut verdict) else {
        return verdict;
    };
    let Some(jkt) = key_reference(fetched, &kid, &mut verdict) else {
        return verdict;
    };
    let Some(gen_time) = gen_time else {
        return verdict;
    };
    let Some(jwk) = key_at(session, &kid, &jkt, gen_time, &mut verdict).await else {
        return verdict;
    };
    if let Some(payload) = signature(&plaintext, &jwk, &alg, &mut verdict)
        && verdict.valid()
    {
        verdict.payload = Some(payload);
    }
    verdict
}

/// The kids of the JWE's recipient entries and whether it is a compact one.
fn entries(sealed: &[u8]) -> Result<Vec<String>, String> {
    let text = std::str::from_utf8(sealed).map_err(|_| "not UTF-8")?;
    let headers: Vec<Value> = if text.starts_with('{') {
        let json: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let protected = json["protected"]
            .as_str()
            .and_then(b64_json)
            .unwrap_or_default();
        let mut headers: Vec<Value> = json["recipients"]
            .as_array()
            .map(|r| r.iter().map(|r| r["header"].clone()).collect())
            .unwrap_or_default();
        if headers.is_empty() {
            headers.push(json["header"].clone());
        }
        headers
            .into_iter()
            .map(|h| match h["kid"] {
                Value::Null => protected.clone(),
                _ => h,
            })
            .collect()
    } else {
        let first = text.split('.').next().unwrap_or_default();
        vec![b64_json(first).ok_or("the compact JWE's header does not parse")?]
    };
    Ok(headers
        .iter()
        .filter_map(|h| h["kid"].as_str().map(str::to_owned))
        .collect())
}

/// Step 1.
async fn decrypt(
    session: &Session,
    device: &Device,
    fetched: &Fetched,
    sealed: &[u8],
    verdict: &mut Verdict,
) -> Option<Vec<u8>> {
    let name = checks::DECRYPT;
    let kids = match entries(sealed) {
        Ok(kids) => kids,
        Err(e) => {
            verdict.fail(name, format!("not a JWE: {e}"));
            return None;
        }
    };
    let mine = device
        .keys
        .iter()
        .filter(|k| k.decrypts())
        .find(|k| kids.contains(&k.kid));
    let (decrypter, kid, via): (Box<dyn JweDecrypter>, String, String) = match mine {
        Some(key) => {
            let decrypter = match device_decrypter(key) {
                Ok(d) => d,
                Err(e) => {
                    verdict.fail(name, format!("this device's key {}: {e}", key.kid));
                    return None;
                }
            };
            (
                decrypter,
                key.kid.clone(),
                format!("this device's key {}", key.kid),
            )
        }
        None => match symmetric(session, &kids).await {
            Ok(Some((decrypter, key_id))) => {
                let via = format!("symmetric key {key_id}");
                (decrypter, key_id, via)
            }
            Ok(None) => {
                verdict.fail(name, not_for_this_device(device, fetched, &kids));
                return None;
            }
            Err(e) => {
                verdict.fail(name, e);
                return None;
            }
        },
    };
    let text = String::from_utf8_lossy(sealed);
    let opened = if text.starts_with('{') {
        jwe::deserialize_json_with_selector(&text, |header| {
            Ok(header
                .key_id()
                .is_some_and(|named| named == kid)
                .then_some(decrypter.as_ref()))
        })
    } else {
        jwe::deserialize_compact(&text, decrypter.as_ref())
    };
    match opened {
        Ok((plaintext, _)) => {
            verdict.pass(name, format!("decrypted with {via} (A256GCM tag verified)"));
            Some(plaintext)
        }
        Err(e) => {
            verdict.fail(
                name,
                format!(
                    "the entry for {via} does not decrypt: the ciphertext, its protected header or the wrapped key was altered ({e})"
                ),
            );
            None
        }
    }
}

/// The decrypter of a device key, with the algorithm the keystore uses for its type:
/// ECDH-ES+A256KW for EC P-256, RSA-OAEP-256 for RSA.
fn device_decrypter(key: &super::DeviceKey) -> Result<Box<dyn JweDecrypter>, String> {
    let pem = key.private_pem.as_bytes();
    let private = key.private_key().map_err(|e| e.to_string())?;
    Ok(match private.id() {
        openssl::pkey::Id::EC => Box::new(
            jwe::ECDH_ES_A256KW
                .decrypter_from_pem(pem)
                .map_err(|e| e.to_string())?,
        ),
        openssl::pkey::Id::RSA => Box::new(
            jwe::RSA_OAEP_256
                .decrypter_from_pem(pem)
                .map_err(|e| e.to_string())?,
        ),
        _ => return Err("this kind of key cannot decrypt".into()),
    })
}

/// Why none of this device's keys can open the message.
fn not_for_this_device(device: &Device, fetched: &Fetched, kids: &[String]) -> String {
    let own: Vec<_> = device.keys.iter().filter(|k| k.decrypts()).collect();
    if !own.is_empty() && own.iter().all(|k| k.registered_at > fetched.received_at) {
        let newest = own
            .iter()
            .map(|k| k.registered_at)
            .min()
            .unwrap_or_default();
        return format!(
            "the message was encrypted before this device's key existed: it was received at {}, this device's keys were registered from {}; open it on a device that had a key then",
            fetched
                .received_at
                .to_rfc3339_opts(SecondsFormat::Secs, true),
            newest.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
    }
    format!(
        "the message is not encrypted to this device (its entries name {}; this device holds {})",
        kids.join(", "),
        own.iter()
            .map(|k| k.kid.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A symmetric key named by one of the entries, fetched with the receiver's token.
async fn symmetric(
    session: &Session,
    kids: &[String],
) -> Result<Option<(Box<dyn JweDecrypter>, String)>, String> {
    for kid in kids {
        // Symmetric key ids are UUIDs; registered keys' kids are base64url ids.
        if uuid::Uuid::parse_str(kid).is_err() {
            continue;
        }
        let jwk = match session.symkey(kid).await {
            Ok(jwk) => jwk,
            Err(e) if e.status() == Some(404) => continue,
            Err(e) => return Err(format!("symmetric key {kid}: {e}")),
        };
        let (_, raw) = symkey_parts(&jwk).map_err(|e| e.to_string())?;
        let decrypter = jwe::A256KW
            .decrypter_from_bytes(&raw)
            .map_err(|e| e.to_string())?;
        return Ok(Some((Box::new(decrypter), kid.clone())));
    }
    Ok(None)
}

/// Step 2: the timestamp's genTime, when it verifies over these exact bytes.
fn timestamp(
    fetched: &Fetched,
    sealed: &[u8],
    trust: &Trust,
    verdict: &mut Verdict,
) -> Option<DateTime<Utc>> {
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
                    verified.gen_time.to_rfc3339_opts(SecondsFormat::Secs, true)
                ),
            );
            Some(verified.gen_time)
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

/// Step 5: the key as the keystore had it at `gen_time`.
async fn key_at(
    session: &Session,
    kid: &str,
    jkt: &str,
    gen_time: DateTime<Utc>,
    verdict: &mut Verdict,
) -> Option<Value> {
    let name = checks::KEY_AT_TIMESTAMP;
    let at = gen_time.to_rfc3339_opts(SecondsFormat::Secs, true);
    match session.key_at(kid, gen_time).await {
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
        Ok(Some(jwk)) => {
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

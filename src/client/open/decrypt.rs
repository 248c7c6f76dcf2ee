//! Step 1 of opening: decrypting with this device's key, or with the symmetric key the
//! message names, fetched with the receiver's own token (so the key's policy decides)
//! and wrapped to this device's own `enc` key when it has one.

use chrono::SecondsFormat;
use josekit::jwe::{self, JweDecrypter};
use serde_json::Value;

use crate::client::seal::symkey_parts;
use crate::client::verdict::{Verdict, checks};
use crate::client::{ClientError, Device, DeviceKey, Fetched, Session, b64_json};

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
pub(super) async fn decrypt(
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
        None => match symmetric(session, device, &kids).await {
            Ok(Some(found)) => found,
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
                .to_rfc3339_opts(SecondsFormat::Millis, true),
            newest.to_rfc3339_opts(SecondsFormat::Millis, true)
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

/// A symmetric key named by one of the entries (its decrypter, its id, and how it
/// came), fetched with the receiver's token:
/// wrapped to one of this device's `enc` keys (newest first) when it has any, in clear
/// only when it has none. A wrapped request is never retried in clear: a key the
/// server will not wrap to (revoked, expired) is skipped for the next one.
async fn symmetric(
    session: &Session,
    device: &Device,
    kids: &[String],
) -> Result<Option<(Box<dyn JweDecrypter>, String, String)>, String> {
    let own: Vec<&DeviceKey> = device.keys.iter().rev().filter(|k| k.decrypts()).collect();
    for kid in kids {
        // Symmetric key ids are UUIDs; registered keys' kids are base64url ids.
        if uuid::Uuid::parse_str(kid).is_err() {
            continue;
        }
        let fetched = if own.is_empty() {
            session.symkey(kid).await.map(|jwk| (jwk, None))
        } else {
            wrapped_symkey(session, kid, &own).await
        };
        let (jwk, wrapped_to) = match fetched {
            Ok(found) => found,
            Err(e) if e.status() == Some(404) => continue,
            Err(e) => return Err(format!("symmetric key {kid}: {e}")),
        };
        let (_, raw) = symkey_parts(&jwk).map_err(|e| e.to_string())?;
        let decrypter = jwe::A256KW
            .decrypter_from_bytes(&raw)
            .map_err(|e| e.to_string())?;
        let via = match wrapped_to {
            Some(own_kid) => {
                format!("symmetric key {kid} (wrapped to this device's key {own_kid})")
            }
            None => format!("symmetric key {kid}"),
        };
        return Ok(Some((Box::new(decrypter), kid.clone(), via)));
    }
    Ok(None)
}

/// The symmetric key `key_id` wrapped to the first of `own` the server wraps to,
/// unwrapped here: its JWK and the kid it was wrapped to.
async fn wrapped_symkey(
    session: &Session,
    key_id: &str,
    own: &[&DeviceKey],
) -> Result<(Value, Option<String>), ClientError> {
    let mut last = None;
    for key in own {
        match session.symkey_wrapped(key_id, &key.kid).await {
            Ok(jwe) => {
                return unwrap_symkey(&jwe, key_id, key).map(|jwk| (jwk, Some(key.kid.clone())));
            }
            // 422: the server does not take this key as an active enc key of ours.
            Err(e) if e.status() == Some(422) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| ClientError::Sealing("no enc key on this device".into())))
}

/// Decrypts the compact JWE of a wrapped symmetric key with this device's key, and
/// checks that it holds the key asked for.
fn unwrap_symkey(jwe: &str, key_id: &str, key: &DeviceKey) -> Result<Value, ClientError> {
    let crypto = |e: josekit::JoseError| {
        ClientError::Crypto(format!("the symmetric key wrapped to {}: {e}", key.kid))
    };
    let decrypter = device_decrypter(key).map_err(|e| {
        ClientError::Crypto(format!("the symmetric key wrapped to {}: {e}", key.kid))
    })?;
    let (plaintext, header) = jwe::deserialize_compact(jwe, &*decrypter).map_err(crypto)?;
    if header.key_id().is_some_and(|named| named != key.kid) {
        return Err(ClientError::Crypto(format!(
            "the symmetric key was wrapped to {:?}, not to {}",
            header.key_id(),
            key.kid
        )));
    }
    let jwk: Value = serde_json::from_slice(&plaintext).map_err(|e| {
        ClientError::Protocol(format!("the wrapped symmetric key is not a JWK: {e}"))
    })?;
    if jwk["kid"] != key_id {
        return Err(ClientError::Protocol(format!(
            "asked for symmetric key {key_id}, the wrapped one is {}",
            jwk["kid"]
        )));
    }
    Ok(jwk)
}

/// The decrypter of a device key, with the algorithm the keystore uses for its type:
/// ECDH-ES+A256KW for EC P-256, RSA-OAEP-256 for RSA.
fn device_decrypter(key: &DeviceKey) -> Result<Box<dyn JweDecrypter>, String> {
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

//! The shape of a sealed message, checked without decrypting it (the depot never holds
//! a key that could): RFC 7516 compact or JSON serialization, with the depot's strict
//! profile on top (DESIGN.md "Rules that hold everywhere"):
//!
//! - known key-management `alg`s and content `enc`s only; no `none`, no `dir`;
//! - no `zip` (compression before encryption leaks length), no `jku` / `x5u` (a
//!   reader must never fetch keys from where a sender points), no `jwk` / `x5c` (nor
//!   take one from the message), no `crit` extensions;
//! - no member named twice, in the headers or the JSON serialization (I-JSON);
//! - `p2c` bounded (a PBES2 count is a CPU bill for the reader);
//! - every recipient names its key with a `kid`, which the depot then checks against
//!   the keystore and the symmetric keys;
//! - header parameter names disjoint across the protected, shared and per-recipient
//!   headers (RFC 7516 §7.2.1), and every binary member valid base64url.

use std::borrow::Cow;
use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Key-management algorithms a recipient may use: to registered EC and RSA `enc`
/// keys, and to symmetric keys (KGSS).
pub const ALGORITHMS: &[&str] = &[
    "ECDH-ES+A256KW",
    "ECDH-ES+A192KW",
    "ECDH-ES+A128KW",
    "RSA-OAEP-256",
    "A256KW",
    "A192KW",
    "A128KW",
    "A256GCMKW",
];

/// Content encryptions.
pub const ENCRYPTIONS: &[&str] = &[
    "A256GCM",
    "A192GCM",
    "A128GCM",
    "A256CBC-HS512",
    "A192CBC-HS384",
    "A128CBC-HS256",
];

/// The largest PBES2 iteration count a header may carry.
pub const MAX_P2C: u64 = 600_000;

/// At most this many recipients in one message.
pub const MAX_RECIPIENTS: usize = 1000;

const FORBIDDEN: &[(&str, &str)] = &[
    ("zip", "compressed content is refused"),
    ("jku", "keys are never fetched from a URL the sender names"),
    ("x5u", "keys are never fetched from a URL the sender names"),
    ("crit", "no header extension is understood here"),
    ("jwk", "a key is never taken from the message itself"),
    ("x5c", "a key is never taken from the message itself"),
];

/// One recipient's entry: whose key it is encrypted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub kid: String,
    pub alg: String,
}

/// What the depot learns from a sealed message without opening it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub enc: String,
    pub recipients: Vec<Recipient>,
}

/// Why a sealed message is refused; the text says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MalformedJwe(pub String);

fn bad(detail: impl Into<String>) -> MalformedJwe {
    MalformedJwe(detail.into())
}

fn base64url(value: &str, what: &str) -> Result<Vec<u8>, MalformedJwe> {
    B64.decode(value)
        .map_err(|_| bad(format!("{what} is not base64url without padding")))
}

/// Checks that a binary member is base64url without padding, exactly as decoding it
/// whole would, a block at a time: a ciphertext can be megabytes, and the depot never
/// needs its bytes.
fn checked_base64url(value: &str, what: &str) -> Result<usize, MalformedJwe> {
    // Whole quads: each block decodes on its own as it does within the whole text.
    const BLOCK: usize = 4 * 1024;
    let mut out = [0u8; BLOCK / 4 * 3];
    let mut decoded = 0;
    for block in value.as_bytes().chunks(BLOCK) {
        decoded += B64
            .decode_slice(block, &mut out)
            .map_err(|_| bad(format!("{what} is not base64url without padding")))?;
    }
    Ok(decoded)
}

fn header_object(encoded: &str, what: &str) -> Result<Map<String, Value>, MalformedJwe> {
    let bytes = base64url(encoded, what)?;
    crate::body::unique_members(&bytes).map_err(|e| bad(format!("{what}: {e}")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(bad(format!("{what} is not a JSON object"))),
    }
}

/// Parses a compact serialization (five base64url parts).
pub fn parse_compact(compact: &str) -> Result<Envelope, MalformedJwe> {
    let parts: Vec<&str> = compact.split('.').collect();
    let [protected, encrypted_key, iv, ciphertext, tag] = parts.as_slice() else {
        return Err(bad(format!(
            "a compact JWE has 5 parts separated by dots, this has {}",
            parts.len()
        )));
    };
    let header = header_object(protected, "the protected header")?;
    checked_base64url(encrypted_key, "the encrypted key")?;
    binary_members(iv, ciphertext, tag)?;
    let recipient = recipient(&header, "the header")?;
    Ok(Envelope {
        enc: encryption(&header)?,
        recipients: vec![recipient],
    })
}

/// A string member, borrowed from the text when it has no escape.
#[derive(serde::Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// Parses a JSON serialization: general (`recipients`) or flattened. Its members are
/// read where they lie in `text`: the ciphertext is checked, never copied.
pub fn parse_json(text: &str) -> Result<Envelope, MalformedJwe> {
    const MEMBERS: &[&str] = &[
        "protected",
        "unprotected",
        "recipients",
        "header",
        "encrypted_key",
        "iv",
        "ciphertext",
        "tag",
        "aad",
    ];
    let object: HashMap<String, &RawValue> =
        serde_json::from_str(text).map_err(|_| bad("a JWE JSON serialization is an object"))?;
    if let Some(unknown) = object.keys().find(|k| !MEMBERS.contains(&k.as_str())) {
        return Err(bad(format!("unknown JWE member {unknown:?}")));
    }
    let text = |name: &str| -> Result<Option<Cow<'_, str>>, MalformedJwe> {
        match object.get(name) {
            None => Ok(None),
            Some(raw) => serde_json::from_str::<Text<'_>>(raw.get())
                .map(|t| Some(t.0))
                .map_err(|_| bad(format!("{name} must be a string"))),
        }
    };
    // The other members are small: read as values.
    let value = |name: &str| -> Result<Option<Value>, MalformedJwe> {
        object
            .get(name)
            .map(|raw| serde_json::from_str(raw.get()))
            .transpose()
            .map_err(|_| bad(format!("{name} must be JSON")))
    };
    let protected = match text("protected")? {
        Some(p) => header_object(&p, "the protected header")?,
        None => Map::new(),
    };
    let unprotected = match value("unprotected")? {
        None => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(bad("unprotected must be an object")),
    };
    let shared = disjoint_union(&protected, &unprotected, "the protected and shared headers")?;
    let (Some(iv), Some(ciphertext), Some(tag)) = (text("iv")?, text("ciphertext")?, text("tag")?)
    else {
        return Err(bad("iv, ciphertext and tag are required"));
    };
    binary_members(&iv, &ciphertext, &tag)?;
    if let Some(aad) = text("aad")? {
        checked_base64url(&aad, "aad")?;
    }
    let entries: Vec<Value> = match (value("recipients")?, object.contains_key("header")) {
        (Some(Value::Array(list)), false) => list,
        (Some(_), false) => return Err(bad("recipients must be an array")),
        (Some(_), true) => {
            return Err(bad(
                "a JWE is either general (recipients) or flattened (header), not both",
            ));
        }
        // Flattened: the top level is the one recipient entry.
        (None, _) => {
            let mut entry = Map::new();
            for name in ["header", "encrypted_key"] {
                if let Some(member) = value(name)? {
                    entry.insert(name.to_owned(), member);
                }
            }
            vec![Value::Object(entry)]
        }
    };
    if entries.is_empty() {
        return Err(bad("recipients is empty"));
    }
    if entries.len() > MAX_RECIPIENTS {
        return Err(bad(format!("at most {MAX_RECIPIENTS} recipient entries")));
    }
    let mut recipients = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let what = format!("recipients[{i}]");
        let Value::Object(entry) = &entry else {
            return Err(bad(format!("{what} must be an object")));
        };
        let header = match entry.get("header") {
            None => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => return Err(bad(format!("{what}.header must be an object"))),
        };
        match entry.get("encrypted_key") {
            None => {}
            Some(Value::String(key)) => {
                checked_base64url(key, &format!("{what}.encrypted_key"))?;
            }
            Some(_) => return Err(bad(format!("{what}.encrypted_key must be a string"))),
        }
        let merged = disjoint_union(&shared, &header, &format!("{what}.header"))?;
        recipients.push(recipient(&merged, &what)?);
    }
    Ok(Envelope {
        enc: encryption(&shared)?,
        recipients,
    })
}

fn binary_members(iv: &str, ciphertext: &str, tag: &str) -> Result<(), MalformedJwe> {
    checked_base64url(iv, "iv")?;
    if checked_base64url(ciphertext, "ciphertext")? == 0 {
        return Err(bad("the ciphertext is empty"));
    }
    checked_base64url(tag, "tag")?;
    Ok(())
}

fn disjoint_union(
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    what: &str,
) -> Result<Map<String, Value>, MalformedJwe> {
    if let Some(name) = b.keys().find(|k| a.contains_key(*k)) {
        return Err(bad(format!(
            "{what}: header parameter {name:?} appears twice (RFC 7516 §7.2.1)"
        )));
    }
    let mut merged = a.clone();
    merged.extend(b.clone());
    Ok(merged)
}

fn encryption(header: &Map<String, Value>) -> Result<String, MalformedJwe> {
    match header.get("enc").and_then(Value::as_str) {
        Some(enc) if ENCRYPTIONS.contains(&enc) => Ok(enc.to_owned()),
        Some(enc) => Err(bad(format!(
            "enc {enc:?} is not accepted (one of {})",
            ENCRYPTIONS.join(", ")
        ))),
        None => Err(bad("no enc in the protected or shared header")),
    }
}

fn recipient(header: &Map<String, Value>, what: &str) -> Result<Recipient, MalformedJwe> {
    for (name, why) in FORBIDDEN {
        if header.contains_key(*name) {
            return Err(bad(format!("{what}: {name} is not allowed: {why}")));
        }
    }
    if let Some(p2c) = header.get("p2c") {
        match p2c.as_u64() {
            Some(n) if n <= MAX_P2C => {}
            _ => return Err(bad(format!("{what}: p2c must be at most {MAX_P2C}"))),
        }
    }
    let alg = match header.get("alg").and_then(Value::as_str) {
        Some(alg) if ALGORITHMS.contains(&alg) => alg.to_owned(),
        Some(alg) => {
            return Err(bad(format!(
                "{what}: alg {alg:?} is not accepted (one of {})",
                ALGORITHMS.join(", ")
            )));
        }
        None => return Err(bad(format!("{what}: no alg"))),
    };
    if alg.starts_with("ECDH-ES") && !header.get("epk").is_some_and(Value::is_object) {
        return Err(bad(format!("{what}: {alg} needs an epk")));
    }
    let kid = match header.get("kid").and_then(Value::as_str) {
        Some(kid) if !kid.is_empty() && kid.len() <= 512 => kid.to_owned(),
        _ => {
            return Err(bad(format!(
                "{what}: every recipient must name its key with a kid"
            )));
        }
    };
    Ok(Recipient { kid, alg })
}

#[cfg(test)]
#[path = "jwe_tests.rs"]
mod tests;

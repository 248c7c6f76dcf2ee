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
mod tests {
    use josekit::jwe::{self, JweHeader};
    use josekit::jwk::Jwk;
    use josekit::jwk::alg::ec::EcCurve;
    use serde_json::json;

    use super::*;

    fn compact(kid: Option<&str>, extra: &[(&str, Value)]) -> String {
        let key = Jwk::generate_ec_key(EcCurve::P256).unwrap();
        let mut header = JweHeader::new();
        header.set_content_encryption("A256GCM");
        if let Some(kid) = kid {
            header.set_key_id(kid);
        }
        for (name, value) in extra {
            header.set_claim(name, Some(value.clone())).unwrap();
        }
        let public = key.to_public_key().unwrap();
        let encrypter = jwe::ECDH_ES_A256KW.encrypter_from_jwk(&public).unwrap();
        jwe::serialize_compact(b"hello", &header, &encrypter).unwrap()
    }

    fn general(kids: &[&str]) -> Map<String, Value> {
        let keys: Vec<Jwk> = kids
            .iter()
            .map(|_| Jwk::generate_ec_key(EcCurve::P256).unwrap())
            .collect();
        let encrypters: Vec<_> = keys
            .iter()
            .map(|k| {
                jwe::ECDH_ES_A256KW
                    .encrypter_from_jwk(&k.to_public_key().unwrap())
                    .unwrap()
            })
            .collect();
        let mut shared = josekit::jwe::JweHeaderSet::new();
        shared.set_content_encryption("A256GCM", true);
        let headers: Vec<josekit::jwe::JweHeader> = kids
            .iter()
            .map(|kid| {
                let mut h = JweHeader::new();
                h.set_key_id(*kid);
                h
            })
            .collect();
        let pairs: Vec<_> = headers
            .iter()
            .zip(encrypters.iter())
            .map(|(h, e)| (Some(h), e as &dyn josekit::jwe::JweEncrypter))
            .collect();
        let text = jwe::serialize_general_json(b"hello", Some(&shared), &pairs, None).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn well_formed_messages_name_their_keys() {
        let envelope = parse_compact(&compact(Some("k1"), &[])).unwrap();
        assert_eq!(envelope.enc, "A256GCM");
        assert_eq!(envelope.recipients[0].kid, "k1");
        assert_eq!(envelope.recipients[0].alg, "ECDH-ES+A256KW");
        let envelope = parse_json(&json_text(general(&["a", "b", "c"]))).unwrap();
        let kids: Vec<&str> = envelope.recipients.iter().map(|r| r.kid.as_str()).collect();
        assert_eq!(kids, ["a", "b", "c"]);
    }

    #[test]
    fn refusals() {
        let refuse_compact = |text: &str, needle: &str| {
            let err = parse_compact(text).unwrap_err();
            assert!(err.0.contains(needle), "{needle:?} not in {err}");
        };
        refuse_compact(&compact(None, &[]), "kid");
        refuse_compact(&compact(Some("k"), &[("zip", json!("DEF"))]), "zip");
        refuse_compact(
            &compact(Some("k"), &[("jku", json!("https://evil"))]),
            "jku",
        );
        refuse_compact(
            &compact(Some("k"), &[("x5u", json!("https://evil"))]),
            "x5u",
        );
        refuse_compact(&compact(Some("k"), &[("crit", json!(["exp"]))]), "crit");
        refuse_compact(&compact(Some("k"), &[("jwk", json!({"kty": "EC"}))]), "jwk");
        refuse_compact(&compact(Some("k"), &[("x5c", json!(["MIIB"]))]), "x5c");
        refuse_compact(&compact(Some("k"), &[("p2c", json!(10_000_000))]), "p2c");
        refuse_compact("a.b.c", "5 parts");
        refuse_compact("!!.a.b.c.d", "base64url");
        let good = compact(Some("k"), &[]);
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        parts[0] = B64.encode(br#"{"alg":"dir","enc":"A256GCM","kid":"k"}"#);
        refuse_compact(&parts.join("."), "alg \"dir\"");
        parts[0] = B64.encode(br#"{"alg":"A256KW","enc":"A128CTR","kid":"k"}"#);
        refuse_compact(&parts.join("."), "enc");
        parts[0] = B64.encode(br#"{"alg":"none","enc":"A256GCM","kid":"k"}"#);
        refuse_compact(&parts.join("."), "alg \"none\"");
        parts[0] = B64.encode(br#"{"alg":"ECDH-ES+A256KW","enc":"A256GCM","kid":"k"}"#);
        refuse_compact(&parts.join("."), "epk");
        parts[0] = B64.encode(b"[1]");
        refuse_compact(&parts.join("."), "JSON object");
        // A first-wins reader would look for key "k", a last-wins one for "other".
        parts[0] = B64.encode(br#"{"alg":"A256KW","enc":"A256GCM","kid":"k","kid":"other"}"#);
        refuse_compact(&parts.join("."), "given twice");

        let refuse_json = |object: Map<String, Value>, needle: &str| {
            let err = parse_json(&json_text(object)).unwrap_err();
            assert!(err.0.contains(needle), "{needle:?} not in {err}");
        };
        let mut object = general(&["a", "b"]);
        object["recipients"][1]["header"]
            .as_object_mut()
            .unwrap()
            .remove("kid");
        refuse_json(object, "recipients[1]");
        let mut object = general(&["a"]);
        object["recipients"][0]["header"]["enc"] = json!("A256GCM");
        refuse_json(object, "appears twice");
        let mut object = general(&["a"]);
        object.insert("unprotected".into(), json!({"zip": "DEF"}));
        refuse_json(object, "zip");
        let mut object = general(&["a"]);
        object.insert("recipients".into(), json!([]));
        refuse_json(object, "empty");
        let mut object = general(&["a"]);
        object.insert("ciphertext".into(), json!("***"));
        refuse_json(object, "ciphertext");
        let mut object = general(&["a"]);
        object.insert("extra".into(), json!(1));
        refuse_json(object, "unknown JWE member");
    }

    #[test]
    fn flattened_is_one_recipient() {
        let object = general(&["solo"]);
        let mut flat = object.clone();
        let entry = flat.remove("recipients").unwrap()[0].clone();
        flat.insert("header".into(), entry["header"].clone());
        flat.insert("encrypted_key".into(), entry["encrypted_key"].clone());
        let envelope = parse_json(&json_text(flat)).unwrap();
        assert_eq!(envelope.recipients[0].kid, "solo");
    }

    fn json_text(object: Map<String, Value>) -> String {
        Value::Object(object).to_string()
    }

    #[test]
    fn binary_members_are_checked_block_by_block_as_decoding_them_whole() {
        let long = B64.encode(vec![7u8; 10_000]);
        let mut cases = vec![
            String::new(),
            "A".into(),
            "AB".into(),
            "AB=".into(),
            "AQ".into(),
            "AR".into(),
            "!!".into(),
            long.clone(),
            format!("{long}A"),
            format!("{long}=="),
        ];
        for at in [0, 4095, 4096, 4097, 8191, long.len() - 1] {
            let mut bad = long.clone().into_bytes();
            bad[at] = b'+';
            cases.push(String::from_utf8(bad).unwrap());
            cases.push(format!("{}={}", &long[..at], &long[at + 1..]));
        }
        for case in cases {
            let whole = B64.decode(&case).map(|d| d.len()).ok();
            let blocks = checked_base64url(&case, "x").ok();
            assert_eq!(blocks, whole, "{:?}", case.get(..20));
        }
    }

    #[test]
    fn a_json_jwe_with_escapes_or_wrong_members_is_read_or_refused() {
        let object = general(&["a"]);
        // The same ciphertext with its first character escaped: read as the same text.
        let plain = json_text(object.clone());
        let at = plain.find("\"ciphertext\":\"").unwrap() + "\"ciphertext\":\"".len();
        let escaped = format!(
            "{}\\u{:04x}{}",
            &plain[..at],
            plain.as_bytes()[at],
            &plain[at + 1..]
        );
        assert_eq!(parse_json(&escaped).unwrap(), parse_json(&plain).unwrap());
        for (name, member) in [
            ("iv", json!(1)),
            ("protected", json!([])),
            ("unprotected", json!("x")),
        ] {
            let mut wrong = object.clone();
            wrong.insert(name.into(), member);
            let err = parse_json(&json_text(wrong)).unwrap_err();
            assert!(err.0.contains(name), "{name}: {err}");
        }
        assert!(parse_json("[1]").unwrap_err().0.contains("object"));
    }
}

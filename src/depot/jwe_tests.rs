//! The sealed message's shape checks (`jwe.rs`), on messages sealed by josekit.

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

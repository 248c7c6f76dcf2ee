//! The body of `POST /depot/messages` becomes the `sealed` text without a copy.

use josekit::jwe::{self, JweHeader};
use josekit::jwk::Jwk;
use josekit::jwk::alg::ec::EcCurve;

use super::*;

fn compact() -> String {
    let key = Jwk::generate_ec_key(EcCurve::P256).unwrap();
    let mut header = JweHeader::new();
    header.set_content_encryption("A256GCM");
    header.set_key_id("k1");
    let encrypter = jwe::ECDH_ES_A256KW
        .encrypter_from_jwk(&key.to_public_key().unwrap())
        .unwrap();
    jwe::serialize_compact(&[7; 4096], &header, &encrypter).unwrap()
}

fn body(sealed_json: &str) -> Vec<u8> {
    format!(
        r#"{{"application": "ehbox", "recipients": [{{"type": "cbe", "value": "0312345641"}}],
            "sealed": {sealed_json}, "metadata": {{"subject-hint": "lab"}}}}"#
    )
    .into_bytes()
}

fn retention() -> Retention {
    Retention {
        default: Duration::days(1),
        max: Duration::days(2),
    }
}

fn parsed(body: Vec<u8>) -> Result<PostedMessage, BodyError> {
    parse(body, Utc::now(), retention())
}

#[test]
fn a_compact_string_becomes_the_text_in_the_bodys_own_buffer() {
    let sealed = compact();
    let body = body(&format!("\"{sealed}\""));
    let buffer = body.as_ptr();
    let posted = parsed(body).unwrap();
    assert_eq!(posted.sealed.text, sealed);
    assert!(!posted.sealed.is_json);
    assert_eq!(posted.sealed.envelope.recipients[0].kid, "k1");
    assert_eq!(posted.sealed.text.as_ptr(), buffer, "moved, not copied");
    assert_eq!(posted.metadata["subject-hint"], "lab");
}

#[test]
fn a_json_object_becomes_its_exact_text_in_the_bodys_own_buffer() {
    let compact = compact();
    let [protected, encrypted_key, iv, ciphertext, tag] =
        <[&str; 5]>::try_from(compact.split('.').collect::<Vec<_>>()).unwrap();
    // Spacing and order as a sender wrote them: the stored text keeps both.
    let sealed = format!(
        r#"{{ "protected":"{protected}",  "encrypted_key" : "{encrypted_key}",
             "iv":"{iv}","ciphertext":"{ciphertext}","tag":"{tag}" }}"#
    );
    let body = body(&sealed);
    let buffer = body.as_ptr();
    let posted = parsed(body).unwrap();
    assert_eq!(posted.sealed.text, sealed);
    assert!(posted.sealed.is_json);
    assert_eq!(posted.sealed.text.as_ptr(), buffer, "moved, not copied");
}

#[test]
fn a_compact_string_with_escapes_is_stored_unescaped() {
    let sealed = compact();
    let (header, rest) = sealed.split_once('.').unwrap();
    let escaped = format!("\"{header}\\u002e{rest}\"");
    let posted = parsed(body(&escaped)).unwrap();
    assert_eq!(posted.sealed.text, sealed);
}

#[test]
fn a_body_cut_short_says_to_check_its_content_length() {
    let mut body = body(&format!("\"{}\"", compact()));
    body.truncate(body.len() / 2);
    let Err(BodyError::Malformed(detail)) = parsed(body) else {
        panic!("a truncated body is malformed");
    };
    assert!(detail.contains("Content-Length"), "{detail}");
}

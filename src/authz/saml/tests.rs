//! Assertions for each kind of holder key, verified by libxmlsec1 against the
//! certificate; a changed assertion fails.

use chrono::{Duration, TimeZone, Utc};
use josekit::jwk::Jwk;
use openssl::pkey::PKey;
use openssl::x509::X509;
use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, CryptoProvider, ReduceMode, XmlSec,
};
use serde_json::{Value, json};

use super::{AssertionInput, SamlIssuer, SignedAssertion, key};

const ISSUER: &str = "https://depot.example";

fn issuer() -> (SamlIssuer, X509) {
    let now = Utc::now();
    let made = key::generate(ISSUER, now).unwrap();
    let certificate = X509::from_pem(made.public.as_bytes()).unwrap();
    let private = PKey::private_key_from_pkcs8(&made.private_der).unwrap();
    (
        SamlIssuer::new(ISSUER, &private, &certificate).unwrap(),
        certificate,
    )
}

fn public_jwk(jwk: &Jwk) -> Value {
    serde_json::from_str(&jwk.to_public_key().unwrap().to_string()).unwrap()
}

fn identity() -> Value {
    json!({"profile": "professional", "ssin": "85073003328", "quality": "doctor",
           "nihii": "10082455004", "mandator": {"type": "cbe", "value": "0123456789"}})
}

fn sign(issuer: &SamlIssuer, holder: &Value) -> SignedAssertion {
    let at = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
    let permissions = ["depot:read".to_owned(), "depot:send".to_owned()];
    issuer
        .assertion(&AssertionInput {
            name_id: "85073003328",
            identity: &identity(),
            permissions: &permissions,
            acr: Some("urn:be:fgov:ehealth:loa:substantial"),
            audience: "https://depot.example/soap",
            holder,
            issued_at: at,
            not_on_or_after: at + Duration::seconds(3600),
        })
        .unwrap()
}

fn verifies(xml: &str, certificate: &X509) -> bool {
    let der = CertificateDer::from(certificate.to_der().unwrap());
    let whole = XmlSec::verify_signed_xml(xml, &der, Some("ID")).is_ok();
    let reduced = XmlSec::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        &[der],
        ReduceMode::ValidateAndMarkNoAncestors,
        Some(&[AllowedSignatureAlgorithm::RsaSha256]),
    );
    assert_eq!(whole, reduced.is_ok(), "{reduced:?}");
    whole
}

#[test]
fn an_ec_holder_key_is_an_ec_key_value_and_the_assertion_verifies() {
    let (issuer, certificate) = issuer();
    let holder = public_jwk(&Jwk::generate_ec_key(josekit::jwk::alg::ec::EcCurve::P256).unwrap());
    let signed = sign(&issuer, &holder);
    let xml = &signed.xml;
    assert!(xml.starts_with("<saml:Assertion"), "{xml}");
    assert!(xml.contains(&format!(r#"ID="{}""#, signed.id)));
    assert!(xml.contains(r#"<dsig11:NamedCurve URI="urn:oid:1.2.840.10045.3.1.7"/>"#));
    assert!(xml.contains("<saml:NameID Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified\">85073003328</saml:NameID>"));
    assert!(xml.contains("<saml:Attribute Name=\"mandator\""));
    assert!(xml.contains(">cbe:0123456789<"));
    assert!(xml.contains(r#"NotOnOrAfter="2026-11-23T11:00:00Z""#));
    // The signature comes right after the Issuer, as the schema orders it.
    let issuer_end = xml.find("</saml:Issuer>").unwrap();
    assert_eq!(
        xml.find("<ds:Signature").unwrap(),
        issuer_end + "</saml:Issuer>".len()
    );
    assert!(verifies(xml, &certificate), "{xml}");
}

#[test]
fn an_rsa_holder_key_is_an_rsa_key_value_and_the_assertion_verifies() {
    let (issuer, certificate) = issuer();
    let holder = public_jwk(&Jwk::generate_rsa_key(2048).unwrap());
    let signed = sign(&issuer, &holder);
    assert!(signed.xml.contains("<ds:RSAKeyValue><ds:Modulus>"));
    assert!(signed.xml.contains("<ds:Exponent>AQAB</ds:Exponent>"));
    assert!(verifies(&signed.xml, &certificate));
}

#[test]
fn an_ed25519_holder_key_is_der_encoded_and_the_assertion_verifies() {
    let (issuer, certificate) = issuer();
    let holder =
        public_jwk(&Jwk::generate_ed_key(josekit::jwk::alg::ed::EdCurve::Ed25519).unwrap());
    let signed = sign(&issuer, &holder);
    assert!(signed.xml.contains("<dsig11:DEREncodedKeyValue"));
    assert!(verifies(&signed.xml, &certificate));
}

/// The JWK of an RSA certificate's key, with the certificate as `x5c`.
fn rsa_jwk_with_x5c(certificate: &X509) -> Value {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let rsa = certificate.public_key().unwrap().rsa().unwrap();
    json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode(rsa.n().to_vec()),
           "e": URL_SAFE_NO_PAD.encode(rsa.e().to_vec()),
           "x5c": [STANDARD.encode(certificate.to_der().unwrap())]})
}

#[test]
fn a_holder_key_with_x5c_brings_its_certificate() {
    let (issuer, certificate) = issuer();
    // Any certificate with its key will do: another SAML one stands for the holder's.
    let (_, holder_certificate) = self::issuer();
    let mut holder = rsa_jwk_with_x5c(&holder_certificate);
    let signed = sign(&issuer, &holder);
    let confirmation = &signed.xml[signed.xml.find("<saml:SubjectConfirmationData").unwrap()..];
    assert!(confirmation.contains("<ds:X509Data><ds:X509Certificate>"));
    assert!(verifies(&signed.xml, &certificate));
    // A certificate of another key is refused.
    let (_, other) = self::issuer();
    holder["x5c"] = rsa_jwk_with_x5c(&other)["x5c"].clone();
    let at = Utc::now();
    let refused = issuer.assertion(&AssertionInput {
        name_id: "85073003328",
        identity: &identity(),
        permissions: &[],
        acr: None,
        audience: "https://depot.example/soap",
        holder: &holder,
        issued_at: at,
        not_on_or_after: at + Duration::seconds(60),
    });
    assert!(
        matches!(refused, Err(super::SamlError::Holder(_))),
        "{refused:?}"
    );
}

#[test]
fn a_changed_assertion_fails() {
    let (issuer, certificate) = issuer();
    let holder = public_jwk(&Jwk::generate_ec_key(josekit::jwk::alg::ec::EcCurve::P256).unwrap());
    let signed = sign(&issuer, &holder);
    let tampered = signed
        .xml
        .replace(">85073003328</saml:NameID>", ">85073003329</saml:NameID>");
    assert_ne!(tampered, signed.xml);
    assert!(!verifies(&tampered, &certificate));
    let (_, other) = self::issuer();
    assert!(
        !verifies(&signed.xml, &other),
        "verified with another certificate"
    );
}

#[test]
fn markup_in_values_is_escaped() {
    let (issuer, certificate) = issuer();
    let holder = public_jwk(&Jwk::generate_ec_key(josekit::jwk::alg::ec::EcCurve::P256).unwrap());
    let at = Utc::now();
    let permissions = ["a</saml:AttributeValue><x>".to_owned()];
    let signed = issuer
        .assertion(&AssertionInput {
            name_id: "<evil & \"co\">",
            identity: &json!({"profile": "citizen"}),
            permissions: &permissions,
            acr: None,
            audience: "https://soap.example/?a=1&b=2",
            holder: &holder,
            issued_at: at,
            not_on_or_after: at + Duration::seconds(60),
        })
        .unwrap();
    assert!(!signed.xml.contains("<x>"));
    assert!(!signed.xml.contains("<evil"));
    assert!(
        signed
            .xml
            .contains("urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified")
    );
    assert!(verifies(&signed.xml, &certificate));
}

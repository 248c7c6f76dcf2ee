//! Assertions signed by the service's own issuer, verified and read as a SOAP service
//! would; a changed one, or one checked against another certificate, is refused.

use chrono::{Duration, Utc};
use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::Private;
use openssl::x509::{X509, X509NameBuilder};
use serde_json::{Value, json};

use super::*;
use crate::authz::saml::{AssertionInput, SamlIssuer};
use crate::client::{Alg, keypair};

const ISSUER: &str = "https://depot.example";
const SSIN: &str = "85073003328";

fn certificate(key: &PKey<Private>) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "depot SAML").unwrap();
    let name = name.build();
    let mut builder = X509::builder().unwrap();
    builder.set_version(2).unwrap();
    builder.set_subject_name(&name).unwrap();
    builder.set_issuer_name(&name).unwrap();
    builder.set_pubkey(key).unwrap();
    builder
        .set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    builder.sign(key, MessageDigest::sha256()).unwrap();
    builder.build()
}

/// The service's issuer of assertions, and its certificate (DER).
fn issuer() -> (SamlIssuer, Vec<u8>) {
    let (key, _) = keypair::generate(Alg::Rs256).unwrap();
    let certificate = certificate(&key);
    (
        SamlIssuer::new(ISSUER, &key, &certificate).unwrap(),
        certificate.to_der().unwrap(),
    )
}

fn public_jwk(key: &PKey<Private>) -> Value {
    let public = PKey::public_key_from_der(&key.public_key_to_der().unwrap()).unwrap();
    let described =
        crate::keys::jwk::from_openssl(&public, "device-key", crate::keys::KeyUse::Sig).unwrap();
    Value::Object(described.jwk)
}

fn assertion(issuer: &SamlIssuer, holder: &PKey<Private>) -> String {
    let now = Utc::now();
    let permissions = ["message:read".to_owned()];
    issuer
        .assertion(&AssertionInput {
            name_id: SSIN,
            identity: &json!({"profile": "citizen", "ssin": SSIN}),
            permissions: &permissions,
            acr: Some("http://eidas.europa.eu/LoA/low"),
            audience: "https://soap.example/ws",
            holder: &public_jwk(holder),
            issued_at: now,
            not_on_or_after: now + Duration::seconds(3600),
        })
        .unwrap()
        .xml
}

#[test]
fn an_assertion_verifies_and_names_its_holder_for_each_key_type() {
    let (issuer, certificate) = issuer();
    let metadata = parse_metadata(&issuer.metadata()).unwrap();
    assert_eq!(metadata.entity_id, ISSUER);
    assert_eq!(metadata.certificate, certificate);
    for alg in [Alg::Es256, Alg::Rs256, Alg::EdDsa] {
        let (device, _) = keypair::generate(alg).unwrap();
        let xml = assertion(&issuer, &device);
        let verified = verify(&xml, &metadata.certificate).unwrap();
        assert_eq!(verified.issuer, ISSUER);
        assert_eq!(verified.name_id, SSIN);
        assert_eq!(verified.audiences, ["https://soap.example/ws"]);
        assert!(verified.not_on_or_after.is_some());
        assert!(verified.id.starts_with('_'), "{}", verified.id);
        assert!(verified.held_by(&device), "{alg:?}: held by the device key");
        let (other, _) = keypair::generate(alg).unwrap();
        assert!(!verified.held_by(&other), "{alg:?}: not by another key");
    }
}

#[test]
fn a_changed_assertion_or_another_certificate_is_refused() {
    let (issuer, certificate) = issuer();
    let (device, _) = keypair::generate(Alg::Es256).unwrap();
    let xml = assertion(&issuer, &device);
    let forged = xml.replace(SSIN, "85073003427");
    assert_ne!(forged, xml);
    let refused = verify(&forged, &certificate).unwrap_err();
    assert!(refused.to_string().contains("does not verify"), "{refused}");
    let (_, someone_else) = self::issuer();
    assert!(verify(&xml, &someone_else).is_err());
    assert!(verify("<not-xml", &certificate).is_err());
}

#[test]
fn metadata_without_a_signing_certificate_is_refused() {
    let xml = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://depot.example"><md:IDPSSODescriptor/></md:EntityDescriptor>"#;
    assert!(parse_metadata(xml).is_err());
    assert!(parse_metadata("<other/>").is_err());
}

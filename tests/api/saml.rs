//! `GET /saml/metadata` and the SAML holder-of-key assertions of the token exchange:
//! the published certificate is the one every instance signs with, and assertions
//! verify with independent verifiers (xmlsec1, Python's signxml) — until changed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{Duration, Utc};
use depot::authz::saml::{AssertionInput, SamlIssuer};
use josekit::jwk::Jwk;
use josekit::jwk::alg::ec::EcCurve;
use openssl::x509::X509;
use serde_json::{Value, json};

use crate::helpers::xmlsec::{signxml_verifies, xml_tools_available, xmlsec1_verifies};
use crate::helpers::{TestApp, spawn_app, spawn_second_instance};

/// The metadata document an instance serves, and the certificate it publishes (PEM).
pub(crate) async fn metadata(app: &TestApp) -> (String, String) {
    let response = app
        .http
        .get(app.url("/saml/metadata"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/samlmetadata+xml"
    );
    let xml = response.text().await.unwrap();
    let b64 = xml
        .split_once("<ds:X509Certificate>")
        .and_then(|(_, rest)| rest.split_once("</ds:X509Certificate>"))
        .map(|(b64, _)| b64)
        .unwrap_or_else(|| panic!("no certificate in {xml}"));
    let certificate = X509::from_der(&STANDARD.decode(b64).unwrap()).unwrap();
    let pem = String::from_utf8(certificate.to_pem().unwrap()).unwrap();
    (xml, pem)
}

#[tokio::test]
async fn metadata_publishes_the_certificate_every_instance_signs_with() {
    let app = spawn_app().await;
    let (xml, pem) = metadata(&app).await;
    assert!(
        xml.contains(&format!(r#"entityID="{}""#, app.issuer)),
        "{xml}"
    );
    assert!(xml.contains(
        r#"<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">"#
    ));
    assert!(xml.contains(r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>"#));
    let certificate = X509::from_pem(pem.as_bytes()).unwrap();
    assert_eq!(certificate.public_key().unwrap().bits(), 2048);
    assert_eq!(pem, app.state.saml.certificate_pem());
    let openapi: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(openapi["paths"].get("/saml/metadata").is_some());

    let second = spawn_second_instance(&app).await;
    let (_, second_pem) = metadata(&second).await;
    assert_eq!(
        second_pem, pem,
        "the instances publish different certificates"
    );
}

fn assertion_input<'a>(
    identity: &'a Value,
    permissions: &'a [String],
    holder: &'a Value,
    audience: &'a str,
) -> AssertionInput<'a> {
    let now = Utc::now();
    AssertionInput {
        name_id: "85073003328",
        identity,
        permissions,
        acr: Some("urn:be:fgov:ehealth:loa:substantial"),
        audience,
        holder,
        issued_at: now,
        not_on_or_after: now + Duration::seconds(3600),
    }
}

#[tokio::test]
async fn assertions_verify_with_xmlsec1_and_signxml_until_changed() {
    if !xml_tools_available() {
        return;
    }
    let app = spawn_app().await;
    let (_, pem) = metadata(&app).await;
    // Loaded afresh on the app's database: the stored key, not a new one.
    let issuer = SamlIssuer::load(&app.state.db, &app.state.master, &app.issuer, Utc::now())
        .await
        .unwrap();
    assert_eq!(issuer.certificate_pem(), pem);

    let key = Jwk::generate_ec_key(EcCurve::P256).unwrap();
    let holder: Value = serde_json::from_str(&key.to_public_key().unwrap().to_string()).unwrap();
    let identity = json!({"profile": "professional", "ssin": "85073003328",
                          "quality": "doctor", "nihii": "10082455004"});
    let permissions = vec!["depot:read".to_owned(), "depot:send".to_owned()];
    let audience = format!("{}/soap", app.issuer);
    // Blocking work, as the token endpoint runs it.
    let signed = tokio::task::spawn_blocking(move || {
        issuer.assertion(&assertion_input(
            &identity,
            &permissions,
            &holder,
            &audience,
        ))
    })
    .await
    .unwrap()
    .unwrap();
    let xml = signed.xml;
    assert!(xmlsec1_verifies(&xml, &pem), "xmlsec1: {xml}");
    assert!(signxml_verifies(&xml, &pem), "signxml: {xml}");

    let changed_name = xml.replace(">85073003328</saml:NameID>", ">85073003329</saml:NameID>");
    let changed_attribute = xml.replace(">professional<", ">citizen<");
    for tampered in [changed_name, changed_attribute] {
        assert_ne!(tampered, xml);
        assert!(
            !xmlsec1_verifies(&tampered, &pem),
            "xmlsec1 took {tampered}"
        );
        assert!(
            !signxml_verifies(&tampered, &pem),
            "signxml took {tampered}"
        );
    }
}

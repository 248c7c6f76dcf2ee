//! Figures 9 and 10 of the eHealth seed: the person's token exchanged, with an actor
//! token, for a SAML holder-of-key assertion that SOAP services accept. It verifies
//! with `xmlsec1` and Python's `signxml` against the certificate of `/saml/metadata`,
//! its holder-of-key is the actor's key, and a changed copy verifies with neither.

use base64::engine::general_purpose::STANDARD;
use openssl::bn::BigNumContext;
use openssl::ec::PointConversionForm;

use super::*;
use crate::helpers::xmlsec::{signxml_verifies, xml_tools_available, xmlsec1_verifies};

/// The text of the first element whose local name is `name`.
fn text_of<'a>(xml: &'a str, name: &str) -> &'a str {
    let needle = format!(":{name}");
    let open = xml
        .match_indices(&needle)
        .map(|(at, _)| at)
        .find(|&at| {
            let after = xml[at + needle.len()..].chars().next();
            let tag = &xml[..at];
            matches!(after, Some('>' | ' '))
                && tag.rfind('<').is_some_and(|lt| &tag[lt + 1..lt + 2] != "/")
        })
        .unwrap_or_else(|| panic!("no {name} in {xml}"));
    let start = open + xml[open..].find('>').unwrap() + 1;
    let end = start + xml[start..].find("</").unwrap();
    &xml[start..end]
}

/// The assertion of a successful `saml2` exchange.
async fn assertion(s: &Setting, actor: &str, extra: &[(&str, &str)]) -> String {
    let mut params = vec![("requested_token_type", SAML2)];
    params.extend_from_slice(extra);
    let body = exchanged(
        &s.app,
        &s.client,
        &exchange_form(&s.token, Some(actor), &params),
        None,
    )
    .await;
    assert_eq!(body["issued_token_type"], SAML2);
    assert_eq!(body["token_type"], "N_A");
    assert!(body["expires_in"].as_i64().unwrap() <= 3600);
    String::from_utf8(B64.decode(body["access_token"].as_str().unwrap()).unwrap()).unwrap()
}

/// The uncompressed point of a P-256 key, as `dsig11:PublicKey` holds it.
fn ec_point(key: &PKey<Private>) -> String {
    let ec = key.ec_key().unwrap();
    let mut ctx = BigNumContext::new().unwrap();
    let bytes = ec
        .public_key()
        .to_bytes(ec.group(), PointConversionForm::UNCOMPRESSED, &mut ctx)
        .unwrap();
    STANDARD.encode(bytes)
}

/// Both verifiers accept `xml`, and neither a copy with another NameID.
fn verifies_until_changed(xml: &str, certificate: &str, ssin: &str) {
    assert!(xmlsec1_verifies(xml, certificate), "xmlsec1: {xml}");
    assert!(signxml_verifies(xml, certificate), "signxml: {xml}");
    let forged = xml.replace(ssin, "85073003328");
    assert_ne!(forged, xml);
    assert!(!xmlsec1_verifies(&forged, certificate));
    assert!(!signxml_verifies(&forged, certificate));
}

#[tokio::test]
async fn a_public_app_gets_an_assertion_held_by_the_device_key() {
    if !xml_tools_available() {
        return;
    }
    let s = setting("850104001", false).await;
    let device = register_device(&s.app, &s.token, KeyKind::Es256).await;
    let xml = assertion(&s, &device.actor_token(&s.app, &s.client.id), &[]).await;
    let (_, certificate) = crate::saml::metadata(&s.app).await;
    verifies_until_changed(&xml, &certificate, &s.ssin);

    assert_eq!(text_of(&xml, "NameID"), s.ssin);
    assert_eq!(text_of(&xml, "Issuer"), s.app.issuer);
    assert!(xml.contains("urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"));
    assert!(xml.contains("KeyInfoConfirmationDataType"));
    // The holder-of-key is the device key.
    assert_eq!(text_of(&xml, "PublicKey"), ec_point(&device.key));
    assert_eq!(
        text_of(&xml, "AuthnContextClassRef"),
        jwt_claims(&s.token)["acr"].as_str().unwrap()
    );
    assert_eq!(text_of(&xml, "Audience"), format!("{}/soap", s.app.issuer));
    assert!(
        xml.contains("message:read"),
        "permissions as attributes: {xml}"
    );
    assert!(
        xml.contains("citizen"),
        "the profile as an attribute: {xml}"
    );
}

#[tokio::test]
async fn a_confidential_app_gets_an_assertion_held_by_its_own_key() {
    if !xml_tools_available() {
        return;
    }
    let s = setting("850104002", true).await;
    let own = s.client.client.as_ref().unwrap();
    let actor = own.key.sign(&own.claims(&s.app.issuer, s.app.now()));
    let soap = "https://soap.example/ehealth";
    let xml = assertion(&s, &actor, &[("audience", soap)]).await;
    let (_, certificate) = crate::saml::metadata(&s.app).await;
    verifies_until_changed(&xml, &certificate, &s.ssin);
    assert_eq!(text_of(&xml, "Audience"), soap);
    let key = PKey::private_key_from_pem(&own.key.private_pem).unwrap();
    assert_eq!(text_of(&xml, "PublicKey"), ec_point(&key));
}

#[tokio::test]
async fn an_assertion_needs_a_valid_audience_and_a_live_actor_token() {
    let s = setting("850104003", false).await;
    let device = register_device(&s.app, &s.token, KeyKind::Es256).await;
    let actor = device.actor_token(&s.app, &s.client.id);
    let form = exchange_form(
        &s.token,
        Some(&actor),
        &[("requested_token_type", SAML2), ("audience", "not a uri")],
    );
    let response = exchange(&s.app, &s.client, &form, None).await;
    expect_oauth_error(response, 400, "invalid_target").await;
    // The refusal came before the actor token was used up.
    assert_eq!(
        exchange(
            &s.app,
            &s.client,
            &exchange_form(&s.token, Some(&actor), &[("requested_token_type", SAML2)]),
            None
        )
        .await
        .status(),
        200
    );
}

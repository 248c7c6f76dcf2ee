//! What an imported certificate may be used for (issue 22, review item 10): the leaf
//! of the chain must be an end entity's certificate (not a CA's), and its keyUsage and
//! extendedKeyUsage must allow the `use` asked for. A refusal is a 422 naming `x5c`,
//! and nothing is stored.

use chrono::Utc;
use openssl::x509::X509Builder;
use openssl::x509::extension::{BasicConstraints, ExtendedKeyUsage, KeyUsage};
use serde_json::{Value, json};

use super::x509::{Ca, DAY, app_trusting, b64, cert_body, issue_with, p256, root};
use super::*;
use crate::forms::ssin;

/// A leaf for `ssin` under `ca` with the extensions `extend` adds.
fn leaf(ca: &Ca, extend: impl FnOnce(&mut X509Builder)) -> Vec<String> {
    let now = Utc::now().timestamp();
    let cert = issue_with(
        &p256(),
        "An Peeters",
        Some(ca),
        now - DAY,
        now + 30 * DAY,
        extend,
    );
    vec![b64(&cert), b64(&ca.cert)]
}

fn key_usage(usage: &mut KeyUsage) -> impl FnOnce(&mut X509Builder) + '_ {
    move |builder| {
        builder
            .append_extension(BasicConstraints::new().critical().build().unwrap())
            .unwrap();
        builder
            .append_extension(usage.critical().build().unwrap())
            .unwrap();
    }
}

async fn import(
    app: &TestApp,
    identity: &Value,
    key_use: &str,
    x5c: Vec<String>,
) -> reqwest::Response {
    let mut body = cert_body(identity.clone(), x5c);
    body["use"] = json!(key_use);
    app.post_json("/admin/keys", &app.admin_token().await, &body)
        .await
}

async fn refused(app: &TestApp, identity: &Value, key_use: &str, x5c: Vec<String>, says: &str) {
    let response = import(app, identity, key_use, x5c).await;
    let body = problem(response, 422, says).await;
    assert_eq!(body["field"], "x5c", "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(says), "{detail}");
}

#[tokio::test]
async fn only_an_end_entity_fit_for_the_use_is_imported() {
    let dir = tempfile::tempdir().unwrap();
    let ca = root("Test eHealth Root");
    let app = app_trusting(&ca, &dir).await;
    let person = ssin("790512345");
    app.register_person(
        json!({"ssin": person, "name": "An Peeters", "password": PASSWORD,
        "profiles": [{"profile": "citizen"}]}),
    )
    .await;
    let identity = json!({"type": "ssin", "value": person});

    // A CA's certificate as the leaf (an intermediate of the root).
    let intermediate = leaf(&ca, super::attestation::mark_as_ca);
    refused(&app, &identity, "enc", intermediate, "is a CA certificate").await;
    // A signing-only key asked to encrypt, an encryption-only key asked to sign.
    let signing = leaf(&ca, key_usage(KeyUsage::new().digital_signature()));
    refused(
        &app,
        &identity,
        "enc",
        signing.clone(),
        "keyEncipherment nor keyAgreement",
    )
    .await;
    refused(
        &app,
        &identity,
        "sig+enc",
        signing.clone(),
        "keyEncipherment nor keyAgreement",
    )
    .await;
    let agreeing = leaf(&ca, key_usage(KeyUsage::new().key_agreement()));
    refused(
        &app,
        &identity,
        "sig",
        agreeing.clone(),
        "does not allow signatures",
    )
    .await;
    // A TLS server's certificate.
    let server = leaf(&ca, |builder| {
        key_usage(KeyUsage::new().digital_signature().key_agreement())(builder);
        builder
            .append_extension(ExtendedKeyUsage::new().server_auth().build().unwrap())
            .unwrap();
    });
    refused(&app, &identity, "sig", server, "id-kp-serverAuth").await;
    let reader = app
        .register_system_client("reader", &["keys:read"], json!({}))
        .await;
    let token = app.token_for(&reader, &[]).await;
    let by_ssin = [
        ("identity_type", "ssin"),
        ("identity_value", person.as_str()),
    ];
    assert!(
        found(&app, &token, &by_ssin).await.is_empty(),
        "nothing stored"
    );

    // Fit for the use: imported.
    for (key_use, x5c) in [("sig", signing), ("enc", agreeing)] {
        let response = import(&app, &identity, key_use, x5c).await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    }
    let client_and_mail = leaf(&ca, |builder| {
        key_usage(KeyUsage::new().digital_signature().key_encipherment())(builder);
        builder
            .append_extension(
                ExtendedKeyUsage::new()
                    .client_auth()
                    .email_protection()
                    .build()
                    .unwrap(),
            )
            .unwrap();
    });
    let response = import(&app, &identity, "sig+enc", client_and_mail).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    assert_eq!(found(&app, &token, &by_ssin).await.len(), 3);
}

//! One verifier for every resource module: the admin API stands for them here.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

use crate::helpers::*;

async fn admin_call(app: &TestApp, token: &str) -> reqwest::Response {
    app.get("/admin/clients/admin", token).await
}

fn challenge(response: &reqwest::Response) -> String {
    response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_valid_admin_token_is_accepted() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let response = admin_call(&app, &token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["client_id"], "admin");
    assert_eq!(body["scopes"], json!(["admin"]));
}

#[tokio::test]
async fn missing_or_malformed_authorization_is_401_with_a_challenge() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(app.url("/admin/clients/admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(challenge(&response), "Bearer realm=\"admin\"");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );

    let response = app
        .http
        .get(app.url("/admin/clients/admin"))
        .header("authorization", "Basic YWRtaW46eA==")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(challenge(&response).contains("error=\"invalid_token\""));

    let response = admin_call(&app, "not-a-jwt").await;
    assert_eq!(response.status(), 401);
    assert!(challenge(&response).contains("invalid_token"));
}

#[tokio::test]
async fn expired_token_is_refused() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    app.clock.advance(300 + 10 + 1);
    let response = admin_call(&app, &token).await;
    assert_eq!(response.status(), 401);
    assert!(challenge(&response).contains("error=\"invalid_token\""));
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn token_still_accepted_within_the_leeway() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    app.clock.advance(300 + 5);
    assert_eq!(admin_call(&app, &token).await.status(), 200);
}

#[tokio::test]
async fn wrong_audience_is_403() {
    let app = spawn_app().await;
    let client = app
        .register_system_client("gw", &["depot:send", "tsa"], json!({}))
        .await;
    let token = app.token_for(&client, &[]).await;
    let response = admin_call(&app, &token).await;
    assert_eq!(response.status(), 403);
    let header = challenge(&response);
    assert!(header.contains("error=\"insufficient_scope\""), "{header}");
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("/admin"));
}

#[tokio::test]
async fn tampered_payload_is_refused() {
    let app = spawn_app().await;
    let client = app.register_system_client("gw", &["tsa"], json!({})).await;
    let token = app.token_for(&client, &[]).await;
    let mut claims = jwt_claims(&token);
    claims["scope"] = json!("admin tsa");
    claims["aud"] = json!(format!("{}/admin", app.issuer));
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(claims.to_string()),
        parts[2]
    );
    let response = admin_call(&app, &forged).await;
    assert_eq!(response.status(), 401);
    assert!(challenge(&response).contains("invalid_token"));
}

#[tokio::test]
async fn token_of_another_issuer_is_refused() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    // A second instance on the same database and master key, configured with another
    // public URL: same signing keys, different issuer.
    let dir = tempfile::tempdir().unwrap();
    // Its own fresh database is not used: dropped at once (`_`).
    let (mut settings, _) = test_settings(dir.path()).await;
    settings.service.data_dir = app.data_dir.clone();
    settings.storage.database_url = Some(secrecy::SecretString::from(
        secrecy::ExposeSecret::expose_secret(&app.config.database_url).to_owned(),
    ));
    settings.service.public_url = Some("https://other-depot.example".into());
    let other = spawn_app_from(settings, dir).await;
    let response = admin_call(&other, &token).await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("issued by someone else"),
        "{body}"
    );
}

#[tokio::test]
async fn revoked_token_is_refused() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    assert_eq!(admin_call(&app, &token).await.status(), 200);
    let assertion = app
        .admin
        .key
        .sign(&app.admin.claims(&app.token_endpoint(), app.now()));
    let response = app
        .post_form(
            "/oauth2/revoke",
            &[
                ("token", &token),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &assertion),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    let response = admin_call(&app, &token).await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("revoked"));
}

#[tokio::test]
async fn rotation_keeps_old_tokens_until_they_expire_and_revocation_drops_them_at_once() {
    let app = spawn_app().await;
    let first = app.admin_token().await;
    let first_kid = jwt_header(&first)["kid"].clone();

    depot::operator::rotate_signing_key(&app.config, false)
        .await
        .unwrap();
    let second = app.admin_token().await;
    let second_kid = jwt_header(&second)["kid"].clone();
    assert_ne!(first_kid, second_kid, "the new key signs");
    assert_eq!(
        admin_call(&app, &first).await.status(),
        200,
        "the rotated key still verifies"
    );
    let kids = app.published_kids().await;
    assert!(kids.contains(&first_kid) && kids.contains(&second_kid));

    // Past the lifetime of every token it signed, the retired key leaves the JWKS.
    app.clock.advance(300 + 10 + 1);
    let kids = app.published_kids().await;
    assert_eq!(kids, vec![second_kid.clone()]);

    // A compromised key: rotate and revoke; its tokens are refused at once.
    let third = app.admin_token().await;
    assert_eq!(jwt_header(&third)["kid"], second_kid);
    // Used once, its verified signature is remembered: that must not outlive the key.
    assert_eq!(admin_call(&app, &third).await.status(), 200);
    depot::operator::rotate_signing_key(&app.config, true)
        .await
        .unwrap();
    let response = admin_call(&app, &third).await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("withdrawn"),
        "{body}"
    );
    let fourth = app.admin_token().await;
    assert_eq!(admin_call(&app, &fourth).await.status(), 200);
}

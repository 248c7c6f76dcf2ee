//! Introspection (RFC 7662) and revocation (RFC 7009).

use serde_json::{Value, json};

use crate::helpers::*;

async fn introspect(app: &TestApp, caller: &TestClient, token: &str) -> reqwest::Response {
    // The assertion's audience is the issuer (or the token endpoint), whichever
    // endpoint it is sent to.
    let assertion = caller.key.sign(&caller.claims(&app.issuer, app.now()));
    app.post_form(
        "/oauth2/introspect",
        &[
            ("token", token),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
        ],
    )
    .await
}

async fn revoke(app: &TestApp, caller: &TestClient, token: &str) -> reqwest::Response {
    let assertion = caller
        .key
        .sign(&caller.claims(&app.token_endpoint(), app.now()));
    app.post_form(
        "/oauth2/revoke",
        &[
            ("token", token),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
        ],
    )
    .await
}

#[tokio::test]
async fn active_then_revoked_then_inactive() {
    let app = spawn_app().await;
    let gw = app.register_system_client("gw", &["tsa"], json!({})).await;
    let token = app.token_for(&gw, &[]).await;

    let response = introspect(&app, &gw, &token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], "gw");
    assert_eq!(body["scope"], "tsa");
    assert_eq!(body["token_type"], "Bearer");

    assert_eq!(revoke(&app, &gw, &token).await.status(), 200);
    let body: Value = introspect(&app, &gw, &token).await.json().await.unwrap();
    assert_eq!(body, json!({"active": false}));
    // Revoking again is no error (RFC 7009 §2.2).
    assert_eq!(revoke(&app, &gw, &token).await.status(), 200);
}

#[tokio::test]
async fn garbage_and_expired_tokens_are_inactive() {
    let app = spawn_app().await;
    let gw = app.register_system_client("gw", &["tsa"], json!({})).await;
    let body: Value = introspect(&app, &gw, "garbage").await.json().await.unwrap();
    assert_eq!(body, json!({"active": false}));

    let token = app.token_for(&gw, &[]).await;
    app.clock.advance(400);
    let body: Value = introspect(&app, &gw, &token).await.json().await.unwrap();
    assert_eq!(body, json!({"active": false}));
}

#[tokio::test]
async fn public_clients_may_not_introspect() {
    let app = spawn_app().await;
    let gw = app.register_system_client("gw", &["tsa"], json!({})).await;
    let token = app.token_for(&gw, &[]).await;
    let admin = app.admin_token().await;
    let response = app
        .post_json(
            "/admin/clients",
            &admin,
            &json!({"client_id": "spa", "type": "public", "name": "SPA",
            "redirect_uris": ["https://spa.example/cb"], "scopes": ["depot:read"]}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let response = app
        .post_form(
            "/oauth2/introspect",
            &[("token", &token), ("client_id", "spa")],
        )
        .await;
    expect_oauth_error(response, 400, "unauthorized_client").await;

    // Without any client authentication at all.
    let response = app
        .post_form("/oauth2/introspect", &[("token", &token)])
        .await;
    expect_oauth_error(response, 401, "invalid_client").await;
}

#[tokio::test]
async fn a_client_cannot_revoke_another_clients_token() {
    let app = spawn_app().await;
    let gw = app.register_system_client("gw", &["tsa"], json!({})).await;
    let other = app
        .register_system_client("other", &["tsa"], json!({}))
        .await;
    let token = app.token_for(&gw, &[]).await;
    let response = revoke(&app, &other, &token).await;
    expect_oauth_error(response, 400, "unauthorized_client").await;
    // The token is still active.
    let body: Value = introspect(&app, &gw, &token).await.json().await.unwrap();
    assert_eq!(body["active"], true);
}

#[tokio::test]
async fn introspection_requires_the_token_parameter() {
    let app = spawn_app().await;
    let gw = app.register_system_client("gw", &["tsa"], json!({})).await;
    let assertion = gw.key.sign(&gw.claims(&app.issuer, app.now()));
    let response = app
        .post_form(
            "/oauth2/introspect",
            &[
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &assertion),
            ],
        )
        .await;
    let description = expect_oauth_error(response, 400, "invalid_request").await;
    assert!(description.contains("token"));
}

/// The assertion's audience is one string, the issuer or the token endpoint, at every
/// endpoint (issue 22, review item 11): the introspection endpoint's own URL, or an
/// array holding the issuer, is refused, so an assertion made for someone else's
/// endpoint cannot be replayed here.
#[tokio::test]
async fn an_assertion_for_another_audience_or_several_is_refused() {
    let app = spawn_app().await;
    let gw = app.register_system_client("gw", &["tsa"], json!({})).await;
    let token = app.token_for(&gw, &[]).await;
    let introspect_url = format!("{}/oauth2/introspect", app.issuer);
    for aud in [
        json!(introspect_url),
        json!([app.issuer, "https://other.example"]),
        json!([app.token_endpoint()]),
    ] {
        let mut claims = gw.claims(&app.issuer, app.now());
        claims["aud"] = aud.clone();
        let response = app
            .post_form(
                "/oauth2/introspect",
                &[
                    ("token", token.as_str()),
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", &gw.key.sign(&claims)),
                ],
            )
            .await;
        let description = expect_oauth_error(response, 401, "invalid_client").await;
        assert!(description.contains("one string"), "{aud}: {description}");
    }
    let body: Value = introspect(&app, &gw, &token).await.json().await.unwrap();
    assert_eq!(body["active"], true);
}

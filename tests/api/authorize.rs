//! `/oauth2/authorize`: where errors go, redirect URI matching, `prompt`, `max_age`,
//! the required level of assurance (step-up), the policy's minimum and consent refusal.

use serde_json::json;

use crate::forms::*;
use crate::helpers::*;

#[tokio::test]
async fn errors_before_the_redirect_uri_is_trusted_are_pages_never_redirects() {
    let app = spawn_app().await;
    let client = app.reading_app().await;
    let pkce = Pkce::new();
    let browser = app.browser();
    for bad in [
        format!("{}/extra", client.redirect_uri),
        format!("{}?x=1", client.redirect_uri),
        format!("{}x", client.redirect_uri),
        "https://evil.example/callback".to_owned(),
    ] {
        let mut query = auth_query(&client, SCOPE, &pkce);
        query.retain(|(k, _)| *k != "redirect_uri");
        query.push(("redirect_uri", &bad));
        let page = browser.authorize(&query).await;
        assert_eq!(page.status, 400, "{bad}");
        assert!(page.location.is_none());
        assert!(
            page.body.contains("redirect_uri is not registered"),
            "{}",
            page.body
        );
    }
    let mut unknown = auth_query(&client, SCOPE, &pkce);
    unknown.retain(|(k, _)| *k != "client_id");
    unknown.push(("client_id", "nobody"));
    let page = browser.authorize(&unknown).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("unknown client_id"));

    // After the redirect URI is trusted, errors go back to the client.
    for (response_type, error) in [
        ("token", "unsupported_response_type"),
        ("id_token", "unsupported_response_type"),
        ("code token", "unsupported_response_type"),
    ] {
        let mut query = auth_query(&client, SCOPE, &pkce);
        query.retain(|(k, _)| *k != "response_type");
        query.push(("response_type", response_type));
        let back = browser.authorize(&query).await;
        assert_eq!(back.redirect_params()["error"], error, "{response_type}");
    }
    let mut query = auth_query(&client, "openid depot:read admin", &pkce);
    query.push(("prompt", "none"));
    assert_eq!(
        browser.authorize(&query).await.redirect_params()["error"],
        "invalid_scope"
    );
}

#[tokio::test]
async fn loopback_redirects_of_native_apps_may_change_port() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let native = app
        .register_app(
            "cli",
            false,
            &["depot:read"],
            json!({"redirect_uris": ["http://127.0.0.1/callback"]}),
        )
        .await;
    let with_port = App {
        id: native.id.clone(),
        redirect_uri: "http://127.0.0.1:49152/callback".into(),
        client: None,
    };
    let pkce = Pkce::new();
    let (code, _) = code_for(&app, &with_port, &person, &pkce).await;
    token_json(app.redeem(&with_port, &code, &pkce.verifier).await).await;
}

#[tokio::test]
async fn prompt_none_without_a_session_is_login_required() {
    let app = spawn_app().await;
    app.citizen("850730033", false).await;
    let client = app.reading_app().await;
    let pkce = Pkce::new();
    let mut query = auth_query(&client, SCOPE, &pkce);
    query.push(("prompt", "none"));
    let back = app.browser().authorize(&query).await;
    assert_eq!(back.status, 303);
    assert_eq!(back.redirect_params()["error"], "login_required");
    assert_eq!(back.redirect_params()["state"], "state-123");
}

#[tokio::test]
async fn prompt_none_with_session_and_consent_answers_at_once_and_consent_required_otherwise() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let client = app.reading_app().await;
    let other = app
        .register_app("other", false, &["depot:read"], json!({}))
        .await;
    let pkce = Pkce::new();
    let (_, browser) = code_for(&app, &client, &person, &pkce).await;
    let mut query = auth_query(&client, SCOPE, &pkce);
    query.push(("prompt", "none"));
    assert!(
        browser
            .authorize(&query)
            .await
            .redirect_params()
            .contains_key("code")
    );
    let mut query = auth_query(&other, SCOPE, &pkce);
    query.push(("prompt", "none"));
    assert_eq!(
        browser.authorize(&query).await.redirect_params()["error"],
        "consent_required"
    );
}

#[tokio::test]
async fn prompt_login_and_max_age_ask_for_credentials_again() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let client = app.reading_app().await;
    let pkce = Pkce::new();
    let (_, browser) = code_for(&app, &client, &person, &pkce).await;
    let mut query = auth_query(&client, SCOPE, &pkce);
    query.push(("prompt", "login"));
    let page = browser.authorize(&query).await;
    assert!(
        page.form_with("username").is_some(),
        "prompt=login shows the login form"
    );
    let back = browser.login(&page, &person, PASSWORD, "").await;
    assert!(back.redirect_params().contains_key("code"));

    app.clock.advance(120);
    let mut query = auth_query(&client, SCOPE, &pkce);
    query.push(("max_age", "60"));
    assert!(
        browser
            .authorize(&query)
            .await
            .form_with("username")
            .is_some(),
        "max_age exceeded"
    );
    let mut query = auth_query(&client, SCOPE, &pkce);
    query.push(("max_age", "600"));
    assert!(
        browser
            .authorize(&query)
            .await
            .redirect_params()
            .contains_key("code")
    );
}

#[tokio::test]
async fn a_session_below_min_acr_is_asked_to_step_up() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", true).await;
    let low = app
        .register_app("low", false, &["depot:read"], json!({}))
        .await;
    let high = app
        .register_app(
            "high",
            false,
            &["depot:read"],
            json!({"min_acr": "http://eidas.europa.eu/LoA/substantial"}),
        )
        .await;
    let pkce = Pkce::new();
    let (_, browser) = code_for(&app, &low, &person, &pkce).await;

    let page = browser.authorize(&auth_query(&high, SCOPE, &pkce)).await;
    assert_eq!(page.status, 200);
    assert!(page.form_with("totp").is_some());
    assert!(
        page.body.contains("higher level of assurance"),
        "{}",
        page.body
    );
    // Password alone again is not enough: the step-up is asked again.
    let again = browser.login(&page, &person, PASSWORD, "").await;
    assert!(again.body.contains("higher level of assurance"));
    let consent = browser
        .login(&again, &person, PASSWORD, &totp(TOTP_SECRET, app.now()))
        .await;
    let back = browser.decide(&consent, "allow").await;
    let tokens = token_json(
        app.redeem(&high, &back.redirect_params()["code"], &pkce.verifier)
            .await,
    )
    .await;
    assert_eq!(
        jwt_claims(tokens["access_token"].as_str().unwrap())["acr"],
        "http://eidas.europa.eu/LoA/substantial"
    );
}

#[tokio::test]
async fn a_person_without_a_second_factor_is_refused_where_substantial_is_required() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let high = app
        .register_app(
            "high",
            false,
            &["depot:read"],
            json!({"min_acr": "http://eidas.europa.eu/LoA/substantial"}),
        )
        .await;
    let (browser, page, _) = app.login_page(&high).await;
    let back = browser.login(&page, &person, PASSWORD, "").await;
    assert_eq!(back.redirect_params()["error"], "access_denied");
}

#[tokio::test]
async fn the_policy_file_sets_permissions_and_a_resource_minimum_level() {
    let policy = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        policy.path(),
        r#"
        [resources.depot]
        min_acr = "http://eidas.europa.eu/LoA/substantial"
        [[rules]]
        resource = "depot"
        profile = "citizen"
        permissions = ["box:own"]
        [[rules]]
        resource = "admin"
        profile = "system"
        permissions = ["admin"]
        "#,
    )
    .unwrap();
    let path = policy.path().to_owned();
    let app = spawn_app_with(move |s| s.authz.policy_file = Some(path)).await;
    let person = app.citizen("850730033", true).await;
    let client = app.reading_app().await;
    let (browser, page, pkce) = app.login_page(&client).await;
    let step_up = browser.login(&page, &person, PASSWORD, "").await;
    assert!(step_up.body.contains("higher level of assurance"));
    let consent = browser
        .login(&step_up, &person, PASSWORD, &totp(TOTP_SECRET, app.now()))
        .await;
    let back = browser.decide(&consent, "allow").await;
    let tokens = token_json(
        app.redeem(&client, &back.redirect_params()["code"], &pkce.verifier)
            .await,
    )
    .await;
    assert_eq!(
        jwt_claims(tokens["access_token"].as_str().unwrap())["permissions"],
        json!(["box:own"])
    );
}

#[tokio::test]
async fn consent_denied_is_access_denied() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let client = app.reading_app().await;
    let (browser, page, pkce) = app.login_page(&client).await;
    let consent = browser.login(&page, &person, PASSWORD, "").await;
    let back = browser.decide(&consent, "deny").await;
    assert_eq!(back.redirect_params()["error"], "access_denied");
    assert_eq!(back.redirect_params()["state"], "state-123");
    // Nothing was stored: the next authorization asks again.
    let again = browser.authorize(&auth_query(&client, SCOPE, &pkce)).await;
    assert!(again.form_with("decision").is_some());
}

/// A flood of parameters costs nothing (issue 22, review item 1): past 64 parameters a
/// request is refused unread, a form body past the body limit is 413 on the
/// authorization endpoint too, and the token endpoint refuses a flood of names before
/// it authenticates anyone.
#[tokio::test]
async fn floods_of_parameters_are_refused_unread() {
    let app = spawn_app().await;
    let client = app.reading_app().await;
    let pkce = Pkce::new();
    let mut query = auth_query(&client, SCOPE, &pkce);
    let names: Vec<String> = (0..64).map(|i| format!("x{i}")).collect();
    for name in &names {
        query.push((name.as_str(), "1"));
    }
    let page = app.browser().authorize(&query).await;
    assert_eq!(page.status, 400);
    assert!(page.location.is_none(), "a page, not a redirect");
    assert!(
        page.body.contains("more than 64 parameters"),
        "{}",
        page.body
    );

    // 100 KiB of short names, posted: over the 64 KiB body limit.
    let flood: Vec<String> = (0..16_000).map(|i| format!("n{i}")).collect();
    let flood = format!("client_id={}&{}", client.id, flood.join("&"));
    assert!(flood.len() > 64 * 1024);
    let response = app
        .http
        .post(app.url("/oauth2/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(flood.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert!(response.headers().get("location").is_none());

    // Under the limit but past 64 parameters, at the authorization and token endpoints.
    let under: String = flood.chars().take(60 * 1024).collect();
    let under = &under[..under.rfind('&').unwrap()];
    let response = app
        .http
        .post(app.url("/oauth2/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(under.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("more than 64 parameters")
    );
    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=client_credentials&{under}"))
        .send()
        .await
        .unwrap();
    let description = expect_oauth_error(response, 400, "invalid_request").await;
    assert!(
        description.contains("more than 64 parameters"),
        "{description}"
    );
}

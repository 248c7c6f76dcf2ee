//! The authorization code flow driven through the HTML forms, as a browser would, and
//! every refusal the issue lists.

use serde_json::{Value, json};

use crate::forms::*;
use crate::helpers::*;

const SCOPE: &str = "openid depot:read";

/// Runs a whole authorization for a person with one profile who consents; returns the
/// code and the browser (with its session).
async fn code_for(app: &TestApp, client: &App, ssin: &str, pkce: &Pkce) -> (String, Browser) {
    let browser = app.browser();
    let login = browser.authorize(&auth_query(client, SCOPE, pkce)).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let mut back = browser.login(&login, ssin, PASSWORD, "").await;
    if back.form_with("decision").is_some() {
        back = browser.decide(&back, "allow").await;
    }
    let params = back.redirect_params();
    (params["code"].clone(), browser)
}

async fn token_json(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn a_public_client_gets_tokens_through_login_profile_and_consent() {
    let app = spawn_app().await;
    app.register_organization(CBE, "Hospital").await;
    let doctor = nihii(123456, "004");
    let person = ssin("850730033");
    app.register_person(json!({
        "ssin": person, "name": "Dr. An Peeters", "password": PASSWORD,
        "profiles": [{"profile": "citizen"},
                     {"profile": "professional", "quality": "doctor", "nihii": doctor},
                     {"profile": "organization", "cbe": CBE}],
    }))
    .await;
    let client = app
        .register_app("gp-app", false, &["depot:read", "depot:send"], json!({}))
        .await;
    let pkce = Pkce::new();
    let browser = app.browser();

    let login = browser.authorize(&auth_query(&client, SCOPE, &pkce)).await;
    assert_eq!(login.status, 200);
    assert!(
        login.body.contains("App gp-app"),
        "the login page names the app"
    );
    assert!(login.hidden("", "csrf").is_some(), "a hidden CSRF field");

    let profiles = browser.login(&login, &person, PASSWORD, "").await;
    assert_eq!(
        profiles.profile_values(),
        vec![
            "citizen".to_owned(),
            format!("professional:{doctor}"),
            format!("organization:{CBE}")
        ]
    );
    let consent = browser
        .choose_profile(&profiles, &format!("professional:{doctor}"))
        .await;
    assert!(consent.form_with("decision").is_some(), "{}", consent.body);
    let back = browser.decide(&consent, "allow").await;
    assert_eq!(back.status, 303);
    assert!(
        back.location
            .as_deref()
            .unwrap()
            .starts_with(&client.redirect_uri)
    );
    let params = back.redirect_params();
    assert_eq!(params["state"], "state-123");
    assert_eq!(params["iss"], app.issuer);

    let tokens = token_json(app.redeem(&client, &params["code"], &pkce.verifier).await).await;
    assert!(
        tokens.get("refresh_token").is_none(),
        "no refresh token for a public client"
    );
    let access = jwt_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["sub"], person);
    assert_eq!(access["client_id"], "gp-app");
    assert_eq!(access["acr"], "http://eidas.europa.eu/LoA/low");
    assert_eq!(
        access["identity"],
        json!({"profile": "professional", "ssin": person, "quality": "doctor", "nihii": doctor})
    );
    assert_eq!(access["aud"], format!("{}/depot", app.issuer));
    assert_eq!(
        access["permissions"],
        json!(["message:read", "message:send"])
    );

    let id_token = tokens["id_token"].as_str().unwrap();
    let id = jwt_claims(id_token);
    assert_eq!(jwt_header(id_token)["alg"], "ES256");
    assert_eq!(id["aud"], "gp-app");
    assert_eq!(id["nonce"], "nonce-456");
    assert_eq!(id["acr"], "http://eidas.europa.eu/LoA/low");
    assert_eq!(id["amr"], json!(["pwd"]));
    assert!(id["auth_time"].as_i64().unwrap() <= app.now());
    let expected_at_hash = {
        use base64::Engine;
        let digest = openssl::sha::sha256(tokens["access_token"].as_str().unwrap().as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
    };
    assert_eq!(id["at_hash"], expected_at_hash);

    let info: Value = app
        .get("/oauth2/userinfo", tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], person);
    assert_eq!(info["name"], "Dr. An Peeters");
    assert_eq!(info["identity"]["profile"], "professional");

    // The next authorization with the same session asks nothing: profile again, no consent.
    let pkce = Pkce::new();
    let profiles = browser.authorize(&auth_query(&client, SCOPE, &pkce)).await;
    let back = browser.choose_profile(&profiles, "citizen").await;
    let code = back.redirect_params()["code"].clone();
    let tokens = token_json(app.redeem(&client, &code, &pkce.verifier).await).await;
    let access = jwt_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(
        access["identity"],
        json!({"profile": "citizen", "ssin": person})
    );
}

#[tokio::test]
async fn a_confidential_client_with_totp_gets_substantial_tokens_and_rotating_refresh_tokens() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", true).await;
    let client = app
        .register_app(
            "hospital-app",
            true,
            &["depot:read"],
            json!({"min_acr": "http://eidas.europa.eu/LoA/substantial"}),
        )
        .await;
    let pkce = Pkce::new();
    let browser = app.browser();
    let login = browser
        .authorize(&auth_query(&client, "openid depot:read", &pkce))
        .await;
    let code = totp(TOTP_SECRET, app.now());
    let consent = browser.login(&login, &person, PASSWORD, &code).await;
    let back = browser.decide(&consent, "allow").await;
    let tokens = token_json(
        app.redeem(&client, &back.redirect_params()["code"], &pkce.verifier)
            .await,
    )
    .await;
    let access = jwt_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["acr"], "http://eidas.europa.eu/LoA/substantial");
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["amr"],
        json!(["pwd", "otp", "mfa"])
    );

    // Rotation: each refresh token works once and is replaced.
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let second = token_json(app.refresh(&client, &first).await).await;
    let second_refresh = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first);
    let second_access = second["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        jwt_claims(&second_access)["acr"],
        "http://eidas.europa.eu/LoA/substantial"
    );
    assert_eq!(
        app.get("/oauth2/userinfo", &second_access).await.status(),
        200
    );

    // Reusing the first one revokes the family: the newest refresh token and the access
    // token issued with it stop working.
    let description =
        expect_oauth_error(app.refresh(&client, &first).await, 400, "invalid_grant").await;
    assert!(description.contains("already used"), "{description}");
    expect_oauth_error(
        app.refresh(&client, &second_refresh).await,
        400,
        "invalid_grant",
    )
    .await;
    assert_eq!(
        app.get("/oauth2/userinfo", &second_access).await.status(),
        401
    );
}

#[tokio::test]
async fn pkce_is_required_s256_only_and_checked() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let client = app
        .register_app("app", false, &["depot:read"], json!({}))
        .await;
    let pkce = Pkce::new();
    let browser = app.browser();

    let without: Vec<_> = auth_query(&client, SCOPE, &pkce)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .collect();
    let back = browser.authorize(&without).await;
    assert_eq!(back.redirect_params()["error"], "invalid_request");
    assert!(back.redirect_params()["error_description"].contains("PKCE"));
    assert_eq!(back.redirect_params()["state"], "state-123");

    let mut plain = auth_query(&client, SCOPE, &pkce);
    plain.retain(|(k, _)| *k != "code_challenge_method");
    plain.push(("code_challenge_method", "plain"));
    let back = browser.authorize(&plain).await;
    assert_eq!(back.redirect_params()["error"], "invalid_request");
    assert!(back.redirect_params()["error_description"].contains("S256"));

    let (code, _) = code_for(&app, &client, &person, &pkce).await;
    let wrong = Pkce::new();
    let description = expect_oauth_error(
        app.redeem(&client, &code, &wrong.verifier).await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(description.contains("PKCE"), "{description}");
    // A failed attempt does not burn the code for its rightful holder.
    token_json(app.redeem(&client, &code, &pkce.verifier).await).await;
}

#[tokio::test]
async fn a_reused_code_is_refused_and_revokes_what_it_issued() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let client = app
        .register_app("app", true, &["depot:read"], json!({}))
        .await;
    let pkce = Pkce::new();
    let (code, _) = code_for(&app, &client, &person, &pkce).await;
    let tokens = token_json(app.redeem(&client, &code, &pkce.verifier).await).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(app.get("/oauth2/userinfo", access).await.status(), 200);

    let description = expect_oauth_error(
        app.redeem(&client, &code, &pkce.verifier).await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(description.contains("already used"), "{description}");
    assert_eq!(app.get("/oauth2/userinfo", access).await.status(), 401);
    expect_oauth_error(
        app.refresh(&client, tokens["refresh_token"].as_str().unwrap())
            .await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn a_code_is_bound_to_its_client_redirect_uri_and_lifetime() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let client = app
        .register_app("app", false, &["depot:read"], json!({}))
        .await;
    let other = app
        .register_app("other", false, &["depot:read"], json!({}))
        .await;
    let pkce = Pkce::new();

    let (code, _) = code_for(&app, &client, &person, &pkce).await;
    let stolen = App {
        id: other.id.clone(),
        redirect_uri: client.redirect_uri.clone(),
        client: None,
    };
    let description = expect_oauth_error(
        app.redeem(&stolen, &code, &pkce.verifier).await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(description.contains("another client"), "{description}");
    let moved = App {
        id: client.id.clone(),
        redirect_uri: format!("{}/x", client.redirect_uri),
        client: None,
    };
    expect_oauth_error(
        app.redeem(&moved, &code, &pkce.verifier).await,
        400,
        "invalid_grant",
    )
    .await;
    // Still good for its rightful client after those attempts.
    token_json(app.redeem(&client, &code, &pkce.verifier).await).await;

    let pkce = Pkce::new();
    let (code, _) = code_for(&app, &client, &person, &pkce).await;
    app.clock.advance(61);
    let description = expect_oauth_error(
        app.redeem(&client, &code, &pkce.verifier).await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(description.contains("expired"), "{description}");
}

#[tokio::test]
async fn errors_before_the_redirect_uri_is_trusted_are_pages_never_redirects() {
    let app = spawn_app().await;
    let client = app
        .register_app("app", false, &["depot:read"], json!({}))
        .await;
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
    let client = app
        .register_app("app", false, &["depot:read"], json!({}))
        .await;
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
    let client = app
        .register_app("app", false, &["depot:read"], json!({}))
        .await;
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
    let client = app
        .register_app("app", false, &["depot:read"], json!({}))
        .await;
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
    let pkce = Pkce::new();
    let browser = app.browser();
    let page = browser.authorize(&auth_query(&high, SCOPE, &pkce)).await;
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
        "#,
    )
    .unwrap();
    let path = policy.path().to_owned();
    let app = spawn_app_with(move |s| s.policy_file = Some(path)).await;
    let person = app.citizen("850730033", true).await;
    let client = app
        .register_app("app", false, &["depot:read"], json!({}))
        .await;
    let pkce = Pkce::new();
    let browser = app.browser();
    let page = browser.authorize(&auth_query(&client, SCOPE, &pkce)).await;
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
    let client = app
        .register_app("app", false, &["depot:read"], json!({}))
        .await;
    let pkce = Pkce::new();
    let browser = app.browser();
    let page = browser.authorize(&auth_query(&client, SCOPE, &pkce)).await;
    let consent = browser.login(&page, &person, PASSWORD, "").await;
    let back = browser.decide(&consent, "deny").await;
    assert_eq!(back.redirect_params()["error"], "access_denied");
    assert_eq!(back.redirect_params()["state"], "state-123");
    // Nothing was stored: the next authorization asks again.
    let again = browser.authorize(&auth_query(&client, SCOPE, &pkce)).await;
    assert!(again.form_with("decision").is_some());
}

#[tokio::test]
async fn forms_without_the_csrf_token_or_from_another_browser_are_refused() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let client = app
        .register_app("app", false, &["depot:read"], json!({}))
        .await;
    let pkce = Pkce::new();
    let browser = app.browser();
    let page = browser.authorize(&auth_query(&client, SCOPE, &pkce)).await;
    let action = page.form_with("username").unwrap();
    let csrf = page.hidden(&action, "csrf").unwrap();

    let missing = browser
        .post(&action, &[("username", &person), ("password", PASSWORD)])
        .await;
    assert_eq!(missing.status, 403);
    let wrong = browser
        .post(
            &action,
            &[
                ("csrf", "forged"),
                ("username", &person),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(wrong.status, 403);
    let other_browser = app.browser();
    let stolen = other_browser
        .post(
            &action,
            &[
                ("csrf", &csrf),
                ("username", &person),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(stolen.status, 403);
    // None of those logged anyone in.
    let consent = browser.login(&page, &person, PASSWORD, "").await;
    assert!(consent.form_with("decision").is_some());
    let consent_action = consent.form_with("decision").unwrap();
    let refused = browser
        .post(&consent_action, &[("decision", "allow")])
        .await;
    assert_eq!(refused.status, 403);
}

#[tokio::test]
async fn bad_passwords_and_totp_codes_are_refused_and_a_code_is_never_accepted_twice() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", true).await;
    let client = app
        .register_app("app", false, &["depot:read"], json!({}))
        .await;
    let pkce = Pkce::new();
    let browser = app.browser();
    let page = browser.authorize(&auth_query(&client, SCOPE, &pkce)).await;

    let wrong_password = browser.login(&page, &person, "not the password", "").await;
    assert_eq!(wrong_password.status, 401);
    assert!(wrong_password.body.contains("not correct"));
    let wrong_code = format!(
        "{:06}",
        (totp(TOTP_SECRET, app.now()).parse::<u32>().unwrap() + 1) % 1_000_000
    );
    let bad_totp = browser.login(&page, &person, PASSWORD, &wrong_code).await;
    assert_eq!(bad_totp.status, 401);
    let invalid_ssin = browser.login(&page, "85073003329", PASSWORD, "").await;
    assert_eq!(invalid_ssin.status, 401);

    let code = totp(TOTP_SECRET, app.now());
    let consent = browser.login(&page, &person, PASSWORD, &code).await;
    assert!(consent.form_with("decision").is_some());
    // The same code a second time, in another browser: refused.
    let other = app.browser();
    let page = other.authorize(&auth_query(&client, SCOPE, &pkce)).await;
    let replay = other.login(&page, &person, PASSWORD, &code).await;
    assert_eq!(replay.status, 401);
}

#[tokio::test]
async fn failed_logins_are_throttled_per_account() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let client = app
        .register_app("app", false, &["depot:read"], json!({}))
        .await;
    let pkce = Pkce::new();
    let browser = app.browser();
    let page = browser.authorize(&auth_query(&client, SCOPE, &pkce)).await;
    for _ in 0..5 {
        assert_eq!(
            browser
                .login(&page, &person, "wrong password", "")
                .await
                .status,
            401
        );
    }
    let blocked = browser.login(&page, &person, PASSWORD, "").await;
    assert_eq!(blocked.status, 429, "even the right password waits");
    assert!(blocked.body.contains("Too many failed attempts"));
    app.clock.advance(15 * 60 + 1);
    let page = browser.authorize(&auth_query(&client, SCOPE, &pkce)).await;
    let consent = browser.login(&page, &person, PASSWORD, "").await;
    assert!(
        consent.form_with("decision").is_some(),
        "unblocked after the lockout"
    );
}

#[tokio::test]
async fn failed_logins_are_throttled_per_address() {
    let app = spawn_app_with(|s| s.login_max_failures_per_address = 3).await;
    let person = app.citizen("850730033", false).await;
    let client = app
        .register_app("app", false, &["depot:read"], json!({}))
        .await;
    let pkce = Pkce::new();
    let browser = app.browser();
    let page = browser.authorize(&auth_query(&client, SCOPE, &pkce)).await;
    // Three different accounts from one address.
    for first9 in ["850730034", "850730035", "850730036"] {
        assert_eq!(
            browser
                .login(&page, &ssin(first9), PASSWORD, "")
                .await
                .status,
            401
        );
    }
    assert_eq!(
        browser.login(&page, &person, PASSWORD, "").await.status,
        429
    );
}

#[tokio::test]
async fn pages_speak_the_language_the_browser_asks_for() {
    let app = spawn_app().await;
    let client = app
        .register_app("app", false, &["depot:read"], json!({}))
        .await;
    let pkce = Pkce::new();
    for (accept, lang, word) in [
        ("nl-BE,nl;q=0.9", "nl", "Wachtwoord"),
        ("fr-BE,fr;q=0.9", "fr", "Mot de passe"),
        ("de", "en", "Password"),
    ] {
        let url = reqwest::Url::parse_with_params(
            &app.url("/oauth2/authorize"),
            &auth_query(&client, SCOPE, &pkce),
        )
        .unwrap();
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let page = http
            .get(url)
            .header("accept-language", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let body = page.text().await.unwrap();
        assert!(body.contains(&format!("<html lang=\"{lang}\"")), "{accept}");
        assert!(body.contains(word), "{accept}");
        assert!(
            body.contains("<label for=\"password\">"),
            "labels name their fields"
        );
    }
}

#[tokio::test]
async fn the_account_lists_consents_and_revoking_one_revokes_refresh_tokens() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let client = app
        .register_app("app", true, &["depot:read"], json!({}))
        .await;
    let pkce = Pkce::new();
    let (code, browser) = code_for(&app, &client, &person, &pkce).await;
    let tokens = token_json(app.redeem(&client, &code, &pkce.verifier).await).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();

    let account = browser.get("/account").await;
    assert_eq!(account.status, 200);
    assert!(account.body.contains("App app"));
    let action = "/account/consents/app/revoke";
    let csrf = account.hidden(action, "csrf").expect("a revoke form");
    assert_eq!(
        browser.post(action, &[]).await.status,
        403,
        "no CSRF token, no revocation"
    );
    let done = browser.post(action, &[("csrf", &csrf)]).await;
    assert_eq!(done.status, 303);
    assert!(!browser.get("/account").await.body.contains("App app"));
    expect_oauth_error(app.refresh(&client, refresh).await, 400, "invalid_grant").await;
    assert_eq!(
        app.get("/oauth2/userinfo", tokens["access_token"].as_str().unwrap())
            .await
            .status(),
        401
    );
    // Consent is asked again.
    let page = browser.authorize(&auth_query(&client, SCOPE, &pkce)).await;
    assert!(page.form_with("decision").is_some());

    // Logging out ends the session.
    let account = browser.get("/account").await;
    let csrf = account.hidden("/account/logout", "csrf").unwrap();
    assert_eq!(
        browser
            .post("/account/logout", &[("csrf", &csrf)])
            .await
            .status,
        200
    );
    let login = browser.follow(browser.get("/account").await).await;
    assert!(login.form_with("username").is_some());
}

#[tokio::test]
async fn the_account_login_works_without_an_application() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let browser = app.browser();
    let page = browser.follow(browser.get("/login").await).await;
    let account = browser.login(&page, &person, PASSWORD, "").await;
    assert_eq!(account.status, 200);
    assert!(account.body.contains(&person));
}

#[tokio::test]
async fn refresh_tokens_are_for_confidential_clients_only_and_scopes_only_narrow() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let client = app
        .register_app("app", true, &["depot:read", "depot:send"], json!({}))
        .await;
    let pkce = Pkce::new();
    let (code, _) = code_for(&app, &client, &person, &pkce).await;
    let tokens = token_json(app.redeem(&client, &code, &pkce.verifier).await).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let public = App {
        id: "pub".into(),
        redirect_uri: String::new(),
        client: None,
    };
    app.register_app("pub", false, &["depot:read"], json!({}))
        .await;
    expect_oauth_error(
        app.refresh(&public, refresh).await,
        400,
        "unauthorized_client",
    )
    .await;

    let mut form = vec![
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", refresh.to_owned()),
        ("scope", "depot:read keys:read".to_owned()),
    ];
    form.extend(app.client_auth(&client));
    let wider = app
        .http
        .post(app.url("/oauth2/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    expect_oauth_error(wider, 400, "invalid_scope").await;
    let mut form = vec![
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", refresh.to_owned()),
        ("scope", "depot:read".to_owned()),
    ];
    form.extend(app.client_auth(&client));
    let narrower = token_json(
        app.http
            .post(app.url("/oauth2/token"))
            .form(&form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(narrower["scope"], "depot:read");
}

#[tokio::test]
async fn a_client_revokes_its_refresh_token_and_with_it_the_family() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let client = app
        .register_app("app", true, &["depot:read"], json!({}))
        .await;
    let other = app
        .register_app("other", true, &["depot:read"], json!({}))
        .await;
    let pkce = Pkce::new();
    let (code, _) = code_for(&app, &client, &person, &pkce).await;
    let tokens = token_json(app.redeem(&client, &code, &pkce.verifier).await).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let revoke = |who: &App| {
        let mut form = vec![
            ("token", refresh.to_owned()),
            ("token_type_hint", "refresh_token".to_owned()),
        ];
        form.extend(app.client_auth(who));
        app.http.post(app.url("/oauth2/revoke")).form(&form).send()
    };
    expect_oauth_error(revoke(&other).await.unwrap(), 400, "unauthorized_client").await;
    assert_eq!(revoke(&client).await.unwrap().status(), 200);
    expect_oauth_error(app.refresh(&client, refresh).await, 400, "invalid_grant").await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(app.get("/oauth2/userinfo", access).await.status(), 401);
}

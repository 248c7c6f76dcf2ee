//! The whole authorization code flow driven through the HTML forms, as a browser would,
//! and the identity provider's own refusals: CSRF, bad credentials, TOTP replay; the
//! pages' language and the account service. Throttling is in `throttle`.

use serde_json::{Value, json};

use crate::forms::*;
use crate::helpers::dpop::DpopKey;
use crate::helpers::*;

mod throttle;

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
    let (browser, login, pkce) = app.login_page(&client).await;
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

    let key = DpopKey::generate();
    let tokens = token_json(
        app.dpop_redeem(&client, &params["code"], &pkce.verifier, &key)
            .await,
    )
    .await;
    assert!(
        tokens["refresh_token"].is_string(),
        "a public client with a DPoP key gets a rotating refresh token"
    );
    assert_eq!(tokens["token_type"], "DPoP");
    let access = jwt_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["cnf"], json!({"jkt": key.jkt()}));
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
        .dpop_get(
            "/oauth2/userinfo",
            tokens["access_token"].as_str().unwrap(),
            &key,
        )
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
async fn forms_without_the_csrf_token_or_from_another_browser_are_refused() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let client = app.reading_app().await;
    let (browser, page, _) = app.login_page(&client).await;
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
    let client = app.reading_app().await;
    let (browser, page, pkce) = app.login_page(&client).await;

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
async fn pages_speak_the_language_the_browser_asks_for() {
    let app = spawn_app().await;
    let client = app.reading_app().await;
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

//! Logins through the upstream provider that succeed: the depot's tokens and ID token
//! carry the person of the authentic source that the SSIN claim names, the profile
//! chosen, and the eIDAS level the `acr` table maps the upstream's `acr` to.

use serde_json::json;

use super::*;

#[tokio::test]
async fn a_login_through_the_upstream_provider_yields_tokens_with_the_mapped_identity_and_acr() {
    let person = ssin("850730033");
    let accounts = json!({"an": account(LOA_SUBSTANTIAL, json!({"national_number": person}))});
    let Some((app, provider)) = federated_app(|_| {}, json!({}), accounts).await else {
        return;
    };
    let (person, doctor_nihii) = doctor(&app, "850730033").await;
    let client = app.reading_app().await;
    let (browser, login, pkce) = app.login_page(&client).await;
    assert_eq!(login.status, 200);

    let upstream = sign_in_upstream(&browser, &login).await;
    assert!(
        upstream.starts_with(&format!("{}/auth?", provider.issuer)),
        "{upstream}"
    );
    let asked: std::collections::HashMap<String, String> = url::Url::parse(&upstream)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(asked["response_type"], "code");
    assert_eq!(asked["client_id"], "depot");
    assert_eq!(asked["code_challenge_method"], "S256");
    assert_eq!(
        asked["redirect_uri"],
        format!("{}/login/federation/callback", app.issuer)
    );
    assert!(asked["scope"].split(' ').any(|s| s == "openid"));
    assert!(asked["state"].len() >= 32 && asked["nonce"].len() >= 32);
    assert_eq!(asked["acr_values"], format!("{LOA_LOW} {LOA_SUBSTANTIAL}"));

    let callback = at_upstream(&browser, &provider, &app, &upstream, Some("an")).await;
    let back = browser.get(&callback).await;
    assert_eq!(back.status, 303, "{}", back.body);
    let profiles = browser.follow(back).await;
    assert_eq!(
        profiles.profile_values(),
        vec!["citizen".to_owned(), format!("professional:{doctor_nihii}")],
        "{}",
        profiles.body
    );
    let consent = browser
        .choose_profile(&profiles, &format!("professional:{doctor_nihii}"))
        .await;
    let done = browser.decide(&consent, "allow").await;
    let params = done.redirect_params();
    assert_eq!(params["state"], "state-123");

    let tokens = token_json(app.redeem(&client, &params["code"], &pkce.verifier).await).await;
    let access = jwt_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["sub"], person);
    assert_eq!(access["acr"], "http://eidas.europa.eu/LoA/substantial");
    assert_eq!(
        access["identity"],
        json!({"profile": "professional", "ssin": person, "quality": "doctor", "nihii": doctor_nihii})
    );
    let id_token = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["sub"], person);
    assert_eq!(id_token["acr"], "http://eidas.europa.eu/LoA/substantial");
    assert_eq!(id_token["nonce"], "nonce-456");
    assert_eq!(login_rows(&app).await, (1, 1, 0));

    // The callback is good once: replayed, it finds no pending login, and changes nothing.
    let again = browser.get(&callback).await;
    assert_refused(&again, 400, "F-STATE");
    assert_eq!(login_rows(&app).await, (1, 1, 0));
}

#[tokio::test]
async fn the_profiles_claim_narrows_the_profiles_offered() {
    let person = ssin("850730033");
    let accounts = json!({
        "as-professional": account(LOA_LOW, json!({"national_number": person, "roles": ["professional"]})),
        "as-organization": account(LOA_LOW, json!({"national_number": person, "roles": "organization"})),
    });
    let profiles_claim = |s: &mut depot::config::Settings| {
        s.federation.federation_profiles_claim = Some("roles".into());
    };
    let Some((app, provider)) = federated_app(profiles_claim, json!({}), accounts).await else {
        return;
    };
    let (person, doctor_nihii) = doctor(&app, "850730033").await;
    let client = app.reading_app().await;

    // Only the professional profile: no choice to make, straight to consent.
    let (browser, login, pkce) = app.login_page(&client).await;
    let upstream = sign_in_upstream(&browser, &login).await;
    let callback = at_upstream(
        &browser,
        &provider,
        &app,
        &upstream,
        Some("as-professional"),
    )
    .await;
    let consent = browser.follow(browser.get(&callback).await).await;
    assert!(consent.form_with("decision").is_some(), "{}", consent.body);
    let done = browser.decide(&consent, "allow").await;
    let code = done.redirect_params()["code"].clone();
    let tokens = token_json(app.redeem(&client, &code, &pkce.verifier).await).await;
    let access = jwt_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(
        access["identity"],
        json!({"profile": "professional", "ssin": person, "quality": "doctor", "nihii": doctor_nihii})
    );
    assert_eq!(access["acr"], "http://eidas.europa.eu/LoA/low");

    // A profile the person does not hold: refused, nothing stored.
    let before = login_rows(&app).await;
    let (browser, login, _) = app.login_page(&client).await;
    let upstream = sign_in_upstream(&browser, &login).await;
    let callback = at_upstream(
        &browser,
        &provider,
        &app,
        &upstream,
        Some("as-organization"),
    )
    .await;
    assert_refused(&browser.get(&callback).await, 403, "F-PROFILE");
    assert_eq!(login_rows(&app).await, before);
}

#[tokio::test]
async fn claims_only_at_userinfo_and_client_secret_post_work() {
    let person = ssin("850730033");
    let accounts = json!({"an": account(LOA_SUBSTANTIAL, json!({"national_number": person}))});
    let post = |s: &mut depot::config::Settings| {
        s.federation.federation_client_auth = ClientAuth::ClientSecretPost;
    };
    // The provider keeps the scope's claims out of the ID token (OIDC Core §5.4).
    let extra = json!({"claims_in_id_token": false, "auth_method": "client_secret_post"});
    let Some((app, provider)) = federated_app(post, extra, accounts).await else {
        return;
    };
    app.citizen("850730033", false).await;
    let client = app.reading_app().await;
    let (browser, login, pkce) = app.login_page(&client).await;
    let upstream = sign_in_upstream(&browser, &login).await;
    let callback = at_upstream(&browser, &provider, &app, &upstream, Some("an")).await;
    let consent = browser.follow(browser.get(&callback).await).await;
    let done = browser.decide(&consent, "allow").await;
    let code = done.redirect_params()["code"].clone();
    let tokens = token_json(app.redeem(&client, &code, &pkce.verifier).await).await;
    let access = jwt_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["sub"], person);
    assert_eq!(
        access["identity"],
        json!({"profile": "citizen", "ssin": person})
    );
    assert_eq!(access["acr"], "http://eidas.europa.eu/LoA/substantial");
}

#[tokio::test]
async fn a_level_below_the_clients_minimum_goes_back_to_the_client_as_access_denied() {
    let person = ssin("850730033");
    let accounts = json!({"an": account(LOA_LOW, json!({"national_number": person}))});
    let Some((app, provider)) = federated_app(|_| {}, json!({}), accounts).await else {
        return;
    };
    app.citizen("850730033", false).await;
    let client = app
        .register_app(
            "strict",
            false,
            &["depot:read"],
            json!({"min_acr": "http://eidas.europa.eu/LoA/substantial"}),
        )
        .await;
    let (browser, login, _) = app.login_page(&client).await;
    let upstream = sign_in_upstream(&browser, &login).await;
    assert!(
        upstream.contains(&format!(
            "acr_values={}",
            LOA_SUBSTANTIAL.replace(':', "%3A")
        )),
        "{upstream}"
    );
    let callback = at_upstream(&browser, &provider, &app, &upstream, Some("an")).await;
    let back = browser.get(&callback).await;
    let params = back.redirect_params();
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "state-123");
    assert_eq!(login_rows(&app).await, (0, 0, 0));
}

#[tokio::test]
async fn the_account_pages_take_an_upstream_login_too() {
    let person = ssin("850730033");
    let accounts = json!({"an": account(LOA_LOW, json!({"national_number": person}))});
    let Some((app, provider)) = federated_app(|_| {}, json!({}), accounts).await else {
        return;
    };
    // A person without a password: the upstream is their only way in.
    app.register_person(json!({"ssin": person, "name": "Els Janssens",
        "profiles": [{"profile": "citizen"}]}))
        .await;
    let browser = app.browser();
    let login = browser.follow(browser.get("/account").await).await;
    assert_eq!(login.status, 200);
    let upstream = sign_in_upstream(&browser, &login).await;
    let callback = at_upstream(&browser, &provider, &app, &upstream, Some("an")).await;
    let account_page = browser.follow(browser.get(&callback).await).await;
    assert_eq!(account_page.status, 200, "{}", account_page.body);
    assert!(
        account_page.body.contains("Els Janssens"),
        "{}",
        account_page.body
    );
}

#[tokio::test]
async fn private_key_jwt_signed_with_the_depots_own_key_authenticates_it_upstream() {
    let person = ssin("850730033");
    let accounts = json!({"an": account(LOA_SUBSTANTIAL, json!({"national_number": person}))});
    let signed = |s: &mut depot::config::Settings| {
        s.federation.federation_client_auth = ClientAuth::PrivateKeyJwt;
        s.federation.federation_client_secret = None;
    };
    let Some(mut provider) = Provider::start() else {
        return;
    };
    let app = spawn_app_with(|s| {
        federate(s, &provider);
        signed(s);
    })
    .await;
    // The upstream knows the depot by the JWK Set it publishes, and by nothing shared.
    let extra = json!({"auth_method": "private_key_jwt", "client_jwks": app.jwks().await});
    provider.configure(&app, extra, accounts);
    app.citizen("850730033", false).await;
    let client = app.reading_app().await;
    let (browser, login, pkce) = app.login_page(&client).await;
    let upstream = sign_in_upstream(&browser, &login).await;
    let callback = at_upstream(&browser, &provider, &app, &upstream, Some("an")).await;
    let consent = browser.follow(browser.get(&callback).await).await;
    let done = browser.decide(&consent, "allow").await;
    let code = done.redirect_params()["code"].clone();
    let tokens = token_json(app.redeem(&client, &code, &pkce.verifier).await).await;
    let access = jwt_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["sub"], person);
    assert_eq!(access["acr"], "http://eidas.europa.eu/LoA/substantial");
}

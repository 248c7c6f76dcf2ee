//! Every bad callback ends on an error page and leaves the depot as it was (no session,
//! no federated session; the pending login is used up by any callback of its browser):
//! a forged, missing or replayed `state`, another browser, an upstream denial, no code,
//! an ID token with another nonce, expired or issued in the future, an `acr` the table
//! does not map, a missing or malformed SSIN claim, and an SSIN the authentic source
//! does not know; a code the upstream will not redeem for the depot; an upstream that
//! cannot be reached, or whose discovery document names another issuer. (An ID token of
//! another issuer, audience or `azp`, with a bad signature, or with `alg` none or HS256,
//! cannot be had from a real provider: the unit tests of `authz::federation::id_token`
//! sign such tokens themselves.)

use chrono::{Duration, Utc};
use serde_json::json;

use super::*;

/// A fresh browser's way to the depot's callback: login page, upstream, signed in as
/// `login`; answers the browser and the callback URL (not yet visited).
async fn to_callback(
    app: &TestApp,
    provider: &Provider,
    client: &App,
    login: Option<&str>,
    change: impl FnOnce(String) -> String,
) -> (Browser, String) {
    let (browser, page, _pkce) = app.login_page(client).await;
    let upstream = change(sign_in_upstream(&browser, &page).await);
    let callback = at_upstream(&browser, provider, app, &upstream, login).await;
    (browser, callback)
}

fn with_param(url: &str, name: &str, value: Option<&str>) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != name)
        .collect();
    {
        let mut query = parsed.query_pairs_mut();
        query.clear();
        for (k, v) in &pairs {
            query.append_pair(k, v);
        }
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    parsed.to_string()
}

#[tokio::test]
async fn a_forged_missing_or_replayed_state_and_another_browser_are_refused() {
    let person = ssin("850730033");
    let accounts = json!({"an": account(LOA_LOW, json!({"national_number": person}))});
    let Some((app, provider)) = federated_app(|_| {}, json!({}), accounts).await else {
        return;
    };
    app.citizen("850730033", false).await;
    let client = app.reading_app().await;
    let (browser, callback) = to_callback(&app, &provider, &client, Some("an"), |u| u).await;
    assert_eq!(login_rows(&app).await, (0, 0, 1));

    let stranger = app.browser();
    assert_refused(&stranger.get(&callback).await, 403, "F-BROWSER");
    let forged = with_param(
        &callback,
        "state",
        Some("forged-state-forged-state-forged-state"),
    );
    assert_refused(&browser.get(&forged).await, 400, "F-STATE");
    let without = with_param(&callback, "state", None);
    assert_refused(&browser.get(&without).await, 400, "F-STATE");
    assert_eq!(login_rows(&app).await, (0, 0, 1), "nothing changed");

    // The browser that started it still finishes it, once.
    let back = browser.get(&callback).await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(login_rows(&app).await, (1, 1, 0));
    assert_refused(&browser.get(&callback).await, 400, "F-STATE");
    assert_eq!(login_rows(&app).await, (1, 1, 0));
}

#[tokio::test]
async fn an_upstream_denial_or_a_callback_without_code_is_refused() {
    let person = ssin("850730033");
    let accounts = json!({"an": account(LOA_LOW, json!({"national_number": person}))});
    let Some((app, provider)) = federated_app(|_| {}, json!({}), accounts).await else {
        return;
    };
    app.citizen("850730033", false).await;
    let client = app.reading_app().await;

    let (browser, callback) = to_callback(&app, &provider, &client, None, |u| u).await;
    assert!(callback.contains("error=access_denied"), "{callback}");
    assert_refused(&browser.get(&callback).await, 403, "F-UPSTREAM-ERROR");
    assert_eq!(login_rows(&app).await, (0, 0, 0));

    let (browser, callback) = to_callback(&app, &provider, &client, Some("an"), |u| u).await;
    let without = with_param(&callback, "code", None);
    assert_refused(&browser.get(&without).await, 400, "F-CODE");
    // That callback used the state up: the real one now finds nothing.
    assert_refused(&browser.get(&callback).await, 400, "F-STATE");
    assert_eq!(login_rows(&app).await, (0, 0, 0));
}

#[tokio::test]
async fn an_id_token_with_another_nonce_expired_or_from_the_future_is_refused() {
    let person = ssin("850730033");
    let accounts = json!({"an": account(LOA_LOW, json!({"national_number": person}))});
    // ID tokens that live one minute (the depot allows one minute of clock skew).
    let provider_extra = json!({"id_token_ttl": 60});
    let Some((app, provider)) = federated_app(|_| {}, provider_extra, accounts).await else {
        return;
    };
    app.citizen("850730033", false).await;
    let client = app.reading_app().await;

    // The nonce the upstream signs is not the one bound to the pending login.
    let (browser, callback) = to_callback(&app, &provider, &client, Some("an"), |url| {
        with_param(&url, "nonce", Some("a-nonce-the-depot-never-sent"))
    })
    .await;
    assert_refused(&browser.get(&callback).await, 403, "F-ID-TOKEN");
    assert_eq!(login_rows(&app).await, (0, 0, 0));

    // The depot's clock nine minutes on: the ID token (exp = iat + 60 s) has expired,
    // the pending login (ten minutes) has not.
    let (browser, callback) = to_callback(&app, &provider, &client, Some("an"), |u| u).await;
    app.clock.hold_at(Utc::now() + Duration::minutes(9));
    assert_refused(&browser.get(&callback).await, 403, "F-ID-TOKEN");

    // Five minutes back: the ID token was issued in the depot's future.
    app.clock.hold_at(Utc::now());
    let (browser, callback) = to_callback(&app, &provider, &client, Some("an"), |u| u).await;
    app.clock.hold_at(Utc::now() - Duration::minutes(5));
    assert_refused(&browser.get(&callback).await, 403, "F-ID-TOKEN");
    app.clock.hold_at(Utc::now());
    app.clock.run();
    assert_eq!(login_rows(&app).await, (0, 0, 0));
}

#[tokio::test]
async fn an_unmapped_acr_a_bad_ssin_claim_and_an_unknown_person_are_refused() {
    let person = ssin("850730033");
    let bad_checksum = format!(
        "{}{}",
        &person[..9],
        (person[9..].parse::<u8>().unwrap() + 1) % 100
    );
    let accounts = json!({
        "loa9": account("urn:test:loa:9", json!({"national_number": person})),
        "malformed": account(LOA_SUBSTANTIAL, json!({"national_number": bad_checksum})),
        "number": account(LOA_SUBSTANTIAL, json!({"national_number": person.parse::<u64>().unwrap()})),
        "missing": account(LOA_SUBSTANTIAL, json!({"roles": "citizen"})),
        "stranger": account(LOA_SUBSTANTIAL, json!({"national_number": ssin("900101001")})),
    });
    let Some((app, provider)) = federated_app(|_| {}, json!({}), accounts).await else {
        return;
    };
    app.citizen("850730033", false).await;
    let client = app.reading_app().await;
    for (login, status, code) in [
        ("loa9", 403, "F-ACR"),
        ("malformed", 403, "F-SSIN"),
        ("number", 403, "F-SSIN"),
        ("missing", 403, "F-SSIN"),
        ("stranger", 403, "F-UNKNOWN-PERSON"),
    ] {
        let (browser, callback) = to_callback(&app, &provider, &client, Some(login), |u| u).await;
        let page = browser.get(&callback).await;
        assert_refused(&page, status, code);
        assert_eq!(login_rows(&app).await, (0, 0, 0), "{login}");
    }
    // The unknown person was not created either.
    let token = app.admin_token().await;
    let response = app
        .get(&format!("/admin/persons/{}", ssin("900101001")), &token)
        .await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn a_code_the_upstream_will_not_redeem_for_the_depot_is_refused() {
    let person = ssin("850730033");
    let accounts = json!({"an": account(LOA_LOW, json!({"national_number": person}))});
    // The depot holds another secret than the one the upstream registered.
    let wrong_secret = |s: &mut depot::config::Settings| {
        s.federation.federation_client_secret = Some(secrecy::SecretString::from("not-the-secret"));
    };
    let Some((app, provider)) = federated_app(wrong_secret, json!({}), accounts).await else {
        return;
    };
    app.citizen("850730033", false).await;
    let client = app.reading_app().await;
    let (browser, callback) = to_callback(&app, &provider, &client, Some("an"), |u| u).await;
    assert_refused(&browser.get(&callback).await, 403, "F-UPSTREAM-ERROR");
    assert_eq!(login_rows(&app).await, (0, 0, 0));
}

#[tokio::test]
async fn an_upstream_that_cannot_be_reached_is_a_502_page() {
    // Nothing listens there: no Node.js needed, this test never skips.
    let app = spawn_app_with(|s| {
        let f = &mut s.federation;
        f.federation_issuer = Some("http://127.0.0.1:9".into());
        f.federation_client_id = Some("depot".into());
        f.federation_client_secret = Some(secrecy::SecretString::from(SECRET));
        f.federation_name = Some("Test IdP".into());
        f.federation_ssin_claim = Some("national_number".into());
        f.federation_acr_map = Some(AcrTable::Text(format!("{LOA_LOW}=low")));
    })
    .await;
    let client = app.reading_app().await;
    let (browser, page, _) = app.login_page(&client).await;
    assert!(page.body.contains("Sign in with Test IdP"), "{}", page.body);
    let action = format!("{}/federation", page.form_with("username").unwrap());
    let csrf = page.hidden("", "csrf").unwrap();
    let sent = browser.post(&action, &[("csrf", &csrf)]).await;
    assert_refused(&sent, 502, "F-UNAVAILABLE");
    // Without the interaction's CSRF token the form is refused before anything else.
    let forged = browser.post(&action, &[("csrf", "forged")]).await;
    assert_eq!(forged.status, 403);
    assert_eq!(login_rows(&app).await, (0, 0, 0));
}

#[tokio::test]
async fn a_discovery_document_for_another_issuer_is_refused() {
    let Some(mut provider) = Provider::start() else {
        return;
    };
    // The provider calls itself http://127.0.0.1:<port>; the depot is told localhost.
    let configured = provider.issuer.replacen("127.0.0.1", "localhost", 1);
    let app = spawn_app_with(|s| {
        federate(s, &provider);
        s.federation.federation_issuer = Some(configured);
    })
    .await;
    provider.configure(&app, json!({}), json!({}));
    let client = app.reading_app().await;
    let (browser, page, _) = app.login_page(&client).await;
    let action = format!("{}/federation", page.form_with("username").unwrap());
    let csrf = page.hidden("", "csrf").unwrap();
    let sent = browser.post(&action, &[("csrf", &csrf)]).await;
    assert_refused(&sent, 502, "F-UNAVAILABLE");
    assert_eq!(login_rows(&app).await, (0, 0, 0));
}

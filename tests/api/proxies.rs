//! Behind a reverse proxy (`DEPOT_TRUSTED_PROXIES`): the forwarding headers
//! (`X-Forwarded-For` / `-Proto`, RFC 7239 `Forwarded`) are believed only from the
//! trusted proxies, for the login throttle and the `Secure` cookie. The test client
//! connects from 127.0.0.1, which plays the proxy when it is trusted, and a client
//! sending the headers itself when it is not. (The parsing, chains of several proxies
//! and malformed headers are unit-tested in `src/ops/forwarded/tests.rs`.)

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::json;

use crate::forms::*;
use crate::helpers::*;

/// A browser whose every request carries `headers`, as if a proxy had added them.
fn browser_with(app: &TestApp, headers: &[(&'static str, &str)]) -> Browser {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    Browser {
        base: app.address.clone(),
        http: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(map)
            .build()
            .unwrap(),
    }
}

/// Three failed logins (three accounts) from the client the proxy names `address`.
async fn fail_three_times(app: &TestApp, client: &App, address: &str) {
    let pkce = Pkce::new();
    let browser = browser_with(app, &[("x-forwarded-for", address)]);
    let page = browser.authorize(&auth_query(client, SCOPE, &pkce)).await;
    for first9 in ["850730034", "850730035", "850730036"] {
        let failed = browser.login(&page, &ssin(first9), "wrong", "").await;
        assert_eq!(failed.status, 401, "{address}");
    }
}

/// The page a login with the right password leads to, from a browser whose requests
/// carry `headers` (as a proxy would have added them).
async fn login_behind(
    app: &TestApp,
    client: &App,
    person: &str,
    headers: &[(&'static str, &str)],
) -> Page {
    let pkce = Pkce::new();
    let browser = browser_with(app, headers);
    let page = browser.authorize(&auth_query(client, SCOPE, &pkce)).await;
    browser.login(&page, person, PASSWORD, "").await
}

/// The status of a login with the right password from the client named `address`.
async fn login_status(app: &TestApp, client: &App, person: &str, address: &str) -> u16 {
    login_behind(app, client, person, &[("x-forwarded-for", address)])
        .await
        .status
        .as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_throttle_counts_each_client_address() {
    let app = spawn_app_with(|s| {
        s.authz.login_max_failures_per_address = 3;
        s.service.trusted_proxies = Some("10.0.0.0/8, 127.0.0.1".into());
    })
    .await;
    let person = app.citizen("850730033", false).await;
    let client = app.reading_app().await;
    fail_three_times(&app, &client, "203.0.113.7").await;
    // The client that failed is blocked, even with the right password…
    assert_eq!(
        login_status(&app, &client, &person, "203.0.113.7").await,
        429
    );
    // …and a client writing its own header in front of the proxy's gains nothing.
    assert_eq!(
        login_status(&app, &client, &person, "198.51.100.1, 203.0.113.7").await,
        429
    );
    // Everyone else behind the same proxy logs in: the proxy's address is not blocked.
    let consent = login_behind(
        &app,
        &client,
        &person,
        &[("x-forwarded-for", "203.0.113.8")],
    )
    .await;
    assert!(
        consent.form_with("decision").is_some(),
        "another client behind the proxy is not blocked: {}",
        consent.status
    );
    // RFC 7239 `Forwarded` names the client as well.
    let forwarded = [("forwarded", "for=203.0.113.7;proto=https")];
    assert_eq!(
        login_behind(&app, &client, &person, &forwarded)
            .await
            .status,
        429
    );
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_change_nothing() {
    // Trusted proxies configured, but the test client (127.0.0.1) is not one of them.
    let app = spawn_app_with(|s| {
        s.authz.login_max_failures_per_address = 3;
        s.service.trusted_proxies = Some("10.0.0.0/8".into());
    })
    .await;
    let person = app.citizen("850730033", false).await;
    let client = app.reading_app().await;
    fail_three_times(&app, &client, "203.0.113.7").await;
    // Claiming another address does not escape the block: the peer is what counts.
    assert_eq!(
        login_status(&app, &client, &person, "203.0.113.9").await,
        429
    );
}

/// The `depot_browser` cookie (with its attributes) that the answer to an
/// authorization request sets.
async fn cookie_attributes(app: &TestApp, headers: &[(&'static str, &str)]) -> String {
    let client = app
        .register_app(
            &format!("app-{}", headers.len()),
            false,
            &["depot:read"],
            json!({}),
        )
        .await;
    let pkce = Pkce::new();
    let url = reqwest::Url::parse_with_params(
        &app.url("/oauth2/authorize"),
        &auth_query(&client, SCOPE, &pkce),
    )
    .unwrap();
    let browser = browser_with(app, headers);
    let response = browser.http.get(url).send().await.unwrap();
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("depot_browser="))
        .expect("the browser cookie")
}

#[tokio::test]
async fn the_secure_cookie_follows_the_scheme_a_trusted_proxy_states() {
    let trusted = spawn_app_with(|s| s.service.trusted_proxies = Some("127.0.0.0/8".into())).await;
    let plain = cookie_attributes(&trusted, &[]).await;
    assert!(!plain.contains("Secure"), "{plain}");
    let behind_tls = cookie_attributes(&trusted, &[("x-forwarded-proto", "https")]).await;
    assert!(behind_tls.contains("Secure"), "{behind_tls}");
    let forwarded = cookie_attributes(
        &trusted,
        &[
            ("forwarded", "for=192.0.2.1;proto=https"),
            ("x-forwarded-proto", "http"),
        ],
    )
    .await;
    assert!(forwarded.contains("Secure"), "Forwarded wins: {forwarded}");

    let untrusted = spawn_app().await;
    let claimed = cookie_attributes(&untrusted, &[("x-forwarded-proto", "https")]).await;
    assert!(
        !claimed.contains("Secure"),
        "an untrusted peer's header is ignored: {claimed}"
    );
}

#[tokio::test]
async fn a_bad_trusted_proxies_setting_stops_the_start_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = depot::config::Settings::default();
    settings.service.data_dir = dir.path().to_owned();
    settings.service.trusted_proxies = Some("10.0.0.0/8, proxy.internal".into());
    let error = depot::config::Config::from_settings(settings)
        .expect_err("refused")
        .to_string();
    assert!(error.contains("DEPOT_TRUSTED_PROXIES"), "{error}");
    assert!(error.contains("proxy.internal"), "{error}");
}

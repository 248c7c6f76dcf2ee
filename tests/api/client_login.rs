//! The client library's logins against the real service: a native app's authorization
//! code flow through its loopback redirect with the scripted browser at the login
//! pages (its tokens DPoP-bound to the app's key), the refresh of a confidential app's
//! tokens, the refusals (wrong password, forged callback, denied consent), and a
//! system client's `private_key_jwt`.

use std::time::{Duration, Instant};

use depot::client::login::{
    ClientAssertionKey, ClientAuth, Consent, LoginError, LoopbackRedirect, ScriptedBrowser, Tokens,
    client_credentials, client_credentials_with, login_with_browser, refresh,
};
use depot::client::{Alg, DpopKey};
use serde_json::{Value, json};

use crate::forms::*;
use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(30);

/// Registers an app whose redirect URI is the loopback one (any port, RFC 8252 §7.3);
/// confidential when it has a key.
async fn loopback_app(app: &TestApp, id: &str, key: Option<&ClientKey>) {
    let mut body = json!({
        "client_id": id, "type": if key.is_some() { "confidential" } else { "public" },
        "name": format!("App {id}"), "redirect_uris": ["http://127.0.0.1/callback"],
        "scopes": ["depot:read", "depot:send"],
    });
    if let Some(key) = key {
        body["jwks"] = key.jwks();
    }
    app.admin_create("/admin/clients", &body).await;
}

/// A whole login of `username` through the scripted browser.
async fn scripted_login(
    app: &TestApp,
    client: &ClientAuth,
    browser: &ScriptedBrowser,
    username: &str,
    password: &str,
    totp: Option<&str>,
    profile: Option<&str>,
) -> Result<Tokens, LoginError> {
    let http = reqwest::Client::new();
    login_with_browser(
        &http,
        &app.issuer,
        client,
        SCOPE,
        |url| async move { browser.login(&url, username, password, totp, profile).await },
        WAIT,
    )
    .await
}

fn scopes(claims: &Value) -> Vec<&str> {
    claims["scope"]
        .as_str()
        .unwrap_or_default()
        .split(' ')
        .collect()
}

#[tokio::test]
async fn a_native_app_gets_a_persons_tokens_through_its_loopback_redirect() {
    let app = spawn_app().await;
    let person = ssin("850730033");
    let doctor = nihii(123456, "004");
    app.register_person(json!({
        "ssin": person, "name": "Dr. An Peeters", "password": PASSWORD,
        "totp_secret": TOTP_SECRET,
        "profiles": [{"profile": "citizen"},
                     {"profile": "professional", "quality": "doctor", "nihii": doctor}],
    }))
    .await;
    loopback_app(&app, "depot-cli", None).await;
    let browser = ScriptedBrowser::new().unwrap();
    let code = totp(TOTP_SECRET, app.now());
    let profile = format!("professional:{doctor}");
    // The app's key, which its tokens are bound to (DPoP).
    let key = DpopKey::generate(Alg::Es256).unwrap();
    let client = ClientAuth::public("depot-cli").with_dpop(key.clone());

    let tokens = scripted_login(
        &app,
        &client,
        &browser,
        &person,
        PASSWORD,
        Some(&code),
        Some(&profile),
    )
    .await
    .unwrap();

    let claims = jwt_claims(&tokens.access_token);
    assert_eq!(claims["iss"], app.issuer);
    assert_eq!(claims["client_id"], "depot-cli");
    assert_eq!(claims["identity"]["profile"], "professional");
    assert_eq!(claims["identity"]["ssin"], person);
    assert_eq!(claims["identity"]["nihii"], doctor);
    assert_eq!(claims["identity"]["quality"], "doctor");
    assert_eq!(claims["acr"], "http://eidas.europa.eu/LoA/substantial");
    assert!(scopes(&claims).contains(&"depot:read"), "{claims}");
    assert!(
        tokens.scope.as_deref().unwrap().contains("depot:read"),
        "{tokens:?}"
    );
    assert!(tokens.expires_in > 0);
    let id_token = jwt_claims(tokens.id_token.as_deref().unwrap());
    assert_eq!(id_token["sub"], person);
    assert_eq!(id_token["aud"], "depot-cli");
    assert_eq!(tokens.token_type, "DPoP");
    assert!(tokens.is_dpop());
    assert_eq!(claims["cnf"]["jkt"], key.jkt(), "{claims}");
    let refresh_token = tokens
        .refresh_token
        .clone()
        .expect("a public client with a DPoP key gets a rotating refresh token");
    assert_eq!(
        userinfo(&app, &tokens.access_token, Some(&key)).await,
        200,
        "the token is accepted by the service with a proof by the key"
    );
    assert_eq!(
        userinfo(&app, &tokens.access_token, None).await,
        401,
        "and refused as a bearer token"
    );

    // The app renews with its client_id and a proof by the same key; the refresh
    // token is rotated, the new access token bound to the same key. Without a proof,
    // or with another key, the refresh token is good for nothing.
    let http = reqwest::Client::new();
    let unbound = refresh(
        &http,
        &app.issuer,
        &ClientAuth::public("depot-cli"),
        &refresh_token,
    )
    .await
    .unwrap_err();
    assert_eq!(
        unbound.oauth_error(),
        Some("invalid_dpop_proof"),
        "{unbound}"
    );
    let thief = ClientAuth::public("depot-cli").with_dpop(DpopKey::generate(Alg::Es256).unwrap());
    let stolen = refresh(&http, &app.issuer, &thief, &refresh_token)
        .await
        .unwrap_err();
    assert_eq!(stolen.oauth_error(), Some("invalid_grant"), "{stolen}");
    let renewed = refresh(&http, &app.issuer, &client, &refresh_token)
        .await
        .unwrap();
    let renewed_claims = jwt_claims(&renewed.access_token);
    assert_eq!(renewed_claims["identity"], claims["identity"]);
    assert_eq!(renewed_claims["cnf"]["jkt"], key.jkt());
    assert_ne!(
        renewed.refresh_token.as_deref(),
        Some(refresh_token.as_str())
    );
}

/// `GET /oauth2/userinfo` with `token`: with a DPoP proof by `key`, or as a bearer
/// token; the status.
async fn userinfo(app: &TestApp, token: &str, key: Option<&DpopKey>) -> u16 {
    let url = app.url("/oauth2/userinfo");
    // The service names itself by its issuer: the proof's htu.
    let htu = format!("{}/oauth2/userinfo", app.issuer);
    let request = match key {
        Some(key) => app
            .http
            .get(&url)
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", key.proof("GET", &htu, Some(token)).unwrap()),
        None => app.http.get(&url).bearer_auth(token),
    };
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_confidential_app_logs_in_with_its_key_and_refreshes_the_tokens() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let key = ClientKey::generate("desk-key-1");
    loopback_app(&app, "desk-app", Some(&key)).await;
    let client = ClientAuth::from(
        ClientAssertionKey::from_pem("desk-app", &key.kid, &key.private_pem).unwrap(),
    );
    let browser = ScriptedBrowser::new().unwrap();

    // One profile: no profile page; the consent is given.
    let tokens = scripted_login(&app, &client, &browser, &person, PASSWORD, None, None)
        .await
        .unwrap();
    let claims = jwt_claims(&tokens.access_token);
    assert_eq!(
        claims["identity"],
        json!({"profile": "citizen", "ssin": person})
    );
    assert_eq!(claims["acr"], "http://eidas.europa.eu/LoA/low");
    let first = tokens.refresh_token.clone().expect("a refresh token");

    let http = reqwest::Client::new();
    let renewed = refresh(&http, &app.issuer, &client, &first).await.unwrap();
    let renewed_claims = jwt_claims(&renewed.access_token);
    assert_eq!(renewed_claims["identity"], claims["identity"]);
    assert!(scopes(&renewed_claims).contains(&"depot:read"));
    assert_ne!(renewed.refresh_token.as_deref(), Some(first.as_str()));

    // The spent refresh token is refused with the server's own words.
    let reused = refresh(&http, &app.issuer, &client, &first)
        .await
        .unwrap_err();
    assert_eq!(reused.oauth_error(), Some("invalid_grant"), "{reused}");
    assert!(reused.to_string().contains("already used"), "{reused}");
}

#[tokio::test]
async fn a_wrong_password_ends_the_login_with_the_pages_message() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    loopback_app(&app, "depot-cli", None).await;
    let browser = ScriptedBrowser::new().unwrap();

    let started = Instant::now();
    let refused = scripted_login(
        &app,
        &ClientAuth::public("depot-cli"),
        &browser,
        &person,
        "not the password",
        None,
        None,
    )
    .await
    .unwrap_err();
    match &refused {
        LoginError::Page { status, message } => {
            assert_eq!(*status, 401);
            assert_eq!(
                message,
                "The number, the password or the code is not correct."
            );
        }
        other => panic!("expected the login page's message, got {other:?}"),
    }
    assert!(
        started.elapsed() < WAIT / 2,
        "the login ends at once, without waiting for the redirect"
    );
}

#[tokio::test]
async fn a_callback_with_another_state_is_refused() {
    let redirect = LoopbackRedirect::bind().unwrap();
    let uri = redirect.redirect_uri();
    assert!(uri.starts_with("http://127.0.0.1:"), "{uri}");
    assert!(uri.ends_with("/callback"), "{uri}");
    let waiting =
        tokio::spawn(async move { redirect.wait("the-state", Duration::from_secs(10)).await });

    let browser = reqwest::Client::new();
    let favicon = uri.replace("/callback", "/favicon.ico");
    let other = browser.get(&favicon).send().await.unwrap();
    assert_eq!(other.status(), 404, "other paths change nothing");

    let forged = browser
        .get(format!("{uri}?code=stolen&state=another-state"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    let page = forged.text().await.unwrap();
    assert!(page.contains("Login failed"), "{page}");

    let refused = waiting.await.unwrap().unwrap_err();
    assert!(matches!(refused, LoginError::StateMismatch), "{refused:?}");
}

#[tokio::test]
async fn a_callback_that_never_comes_is_a_timeout() {
    let redirect = LoopbackRedirect::bind().unwrap();
    let refused = redirect
        .wait("the-state", Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(refused, LoginError::Timeout(_)), "{refused:?}");
    assert_eq!(
        refused.to_string(),
        "no answer from the browser within 300ms"
    );
}

#[tokio::test]
async fn an_abandoned_wait_stops_listening() {
    let redirect = LoopbackRedirect::bind().unwrap();
    let uri = redirect.redirect_uri();
    let waiting = tokio::spawn(async move { redirect.wait("the-state", WAIT).await });
    let http = reqwest::Client::new();
    let favicon = uri.replace("/callback", "/favicon.ico");
    assert_eq!(http.get(&favicon).send().await.unwrap().status(), 404);

    waiting.abort();
    assert!(waiting.await.unwrap_err().is_cancelled());
    let deadline = Instant::now() + Duration::from_secs(5);
    while http.get(&favicon).send().await.is_ok() {
        assert!(Instant::now() < deadline, "the listener is still up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_denied_consent_comes_back_as_access_denied() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    loopback_app(&app, "depot-cli", None).await;
    let browser = ScriptedBrowser::new().unwrap().with_consent(Consent::Deny);

    let refused = scripted_login(
        &app,
        &ClientAuth::public("depot-cli"),
        &browser,
        &person,
        PASSWORD,
        None,
        None,
    )
    .await
    .unwrap_err();
    match &refused {
        LoginError::Authorization { error, description } => {
            assert_eq!(error, "access_denied");
            assert_eq!(description.as_deref(), Some("the person refused consent"));
        }
        other => panic!("expected access_denied, got {other:?}"),
    }
    assert_eq!(refused.oauth_error(), Some("access_denied"));
}

#[tokio::test]
async fn a_system_client_gets_a_token_with_its_key_and_none_with_another() {
    let app = spawn_app().await;
    let client = app
        .register_system_client("lab-gateway", &["depot:send", "tsa"], json!({}))
        .await;
    let http = reqwest::Client::new();

    let tokens = client_credentials(
        &http,
        &app.issuer,
        &client.id,
        &client.key.kid,
        &client.key.private_pem,
        "depot:send",
    )
    .await
    .unwrap();
    let claims = jwt_claims(&tokens.access_token);
    assert_eq!(claims["client_id"], "lab-gateway");
    assert_eq!(claims["identity"]["profile"], "system");
    assert_eq!(scopes(&claims), vec!["depot:send"]);
    assert!(tokens.refresh_token.is_none());
    assert_eq!(tokens.token_type, "Bearer", "no proof, no binding");

    // With a DPoP key, the token is bound to it.
    let key = DpopKey::generate(Alg::EdDsa).unwrap();
    let bound = ClientAuth::from(
        ClientAssertionKey::from_pem(&client.id, &client.key.kid, &client.key.private_pem).unwrap(),
    )
    .with_dpop(key.clone());
    let tokens = client_credentials_with(&http, &app.issuer, &bound, "depot:send")
        .await
        .unwrap();
    assert_eq!(tokens.token_type, "DPoP");
    assert_eq!(jwt_claims(&tokens.access_token)["cnf"]["jkt"], key.jkt());

    // Another key under the registered kid: the assertion's signature does not verify.
    let impostor = ClientKey::generate(&client.key.kid);
    let refused = client_credentials(
        &http,
        &app.issuer,
        &client.id,
        &impostor.kid,
        &impostor.private_pem,
        "depot:send",
    )
    .await
    .unwrap_err();
    assert_eq!(refused.oauth_error(), Some("invalid_client"), "{refused}");
    assert!(
        matches!(refused, LoginError::TokenEndpoint { status: 401, .. }),
        "{refused:?}"
    );
}

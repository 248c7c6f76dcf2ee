//! The keystore (`src/keys/`), from the outside. Keys come through the WebAuthn
//! registration ceremony, driven by authenticators written by others
//! (webauthn-authenticator-rs's `SoftPasskey` and `SoftToken`) and by the openssl + CBOR
//! authenticator of `authenticator` for what those cannot make, with attestation
//! certificates from `attestation`; or from an administrator, as a system client's JWK
//! or an imported certificate.
//!
//! This module holds the set-up and the calls the tests share (several serve the depot,
//! symkeys and client tests too). The tests are in `ceremony` (registering a key),
//! `lifecycle` (a key's life after it: the limit, revocation, history, inactivity, the
//! account page), `algorithms` (every algorithm and attestation), `admin` (system
//! clients' keys), `certificates` (certificate imports), `search` (the JWKS
//! search's parameters) and `log` (the transparency log, against pymerkle and the RFC).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs_core::proto::CreationChallengeResponse;

use crate::forms::{App, PASSWORD, Pkce, auth_query, token_json};
use crate::helpers::*;

mod admin;
pub mod algorithms;
pub mod attestation;
pub mod authenticator;
mod ceremony;
mod certificate_purpose;
mod certificates;
mod lifecycle;
mod log;
mod search;
mod x509;

use self::authenticator::Options;

// ---- the ceremony ---------------------------------------------------------------

pub(crate) const ORIGIN: &str = "https://depot.example";
const SCOPE: &str = "openid keys:register keys:read";

pub(crate) async fn keystore_app_with(tweak: impl FnOnce(&mut depot::config::Settings)) -> TestApp {
    spawn_app_with(|s| {
        s.keys.webauthn_rp_id = Some("depot.example".into());
        s.keys.webauthn_origins = Some(ORIGIN.into());
        tweak(s);
    })
    .await
}

async fn keystore_app() -> TestApp {
    keystore_app_with(|_| {}).await
}

/// A person's access token for `client` with the keystore scopes (code flow + PKCE).
pub(crate) async fn person_token(app: &TestApp, client: &App, ssin: &str) -> String {
    let pkce = Pkce::new();
    let browser = app.browser();
    let login = browser.authorize(&auth_query(client, SCOPE, &pkce)).await;
    let mut back = if login.form_with("password").is_some() {
        browser.login(&login, ssin, PASSWORD, "").await
    } else {
        login
    };
    if back.form_with("decision").is_some() {
        back = browser.decide(&back, "allow").await;
    }
    let code = back.redirect_params()["code"].clone();
    let body = token_json(app.redeem(client, &code, &pkce.verifier).await).await;
    body["access_token"].as_str().unwrap().to_owned()
}

/// A citizen and an app they use, with a token.
pub(crate) async fn citizen_with_app(
    app: &TestApp,
    first9: &str,
    client_id: &str,
) -> (String, App, String) {
    let ssin = app.citizen(first9, false).await;
    let client = app
        .register_app(
            client_id,
            false,
            &["openid", "keys:register", "keys:read"],
            json!({}),
        )
        .await;
    let token = person_token(app, &client, &ssin).await;
    (ssin, client, token)
}

pub(crate) async fn start(app: &TestApp, token: &str, key_use: &str, name: &str) -> (u16, Value) {
    let response = app
        .post_json(
            "/keys/registrations",
            token,
            &json!({"use": key_use, "name": name}),
        )
        .await;
    (response.status().as_u16(), response.json().await.unwrap())
}

pub(crate) async fn finish(
    app: &TestApp,
    token: &str,
    id: &str,
    credential: &Value,
) -> (u16, Value) {
    let response = app
        .post_json(
            &format!("/keys/registrations/{id}"),
            token,
            &json!({"credential": credential}),
        )
        .await;
    (response.status().as_u16(), response.json().await.unwrap())
}

fn creation(started: &Value) -> CreationChallengeResponse {
    serde_json::from_value(json!({"publicKey": started["publicKey"]})).unwrap()
}

/// A whole ceremony with a software passkey (packed self-attestation, ES256).
async fn register_passkey(app: &TestApp, token: &str, key_use: &str, name: &str) -> Value {
    let (status, started) = start(app, token, key_use, name).await;
    assert_eq!(status, 201, "{started}");
    let mut passkey = SoftPasskey::new(true);
    let credential = passkey
        .do_registration(url::Url::parse(ORIGIN).unwrap(), creation(&started))
        .unwrap();
    let credential = serde_json::to_value(credential).unwrap();
    let (status, body) = finish(
        app,
        token,
        started["registrationId"].as_str().unwrap(),
        &credential,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body
}

/// A whole ceremony with the openssl authenticator.
async fn register_with(
    app: &TestApp,
    token: &str,
    key_use: &str,
    options: &Options,
) -> (u16, Value) {
    let (status, started) = start(app, token, key_use, "device").await;
    assert_eq!(status, 201, "{started}");
    let made = authenticator::register(&started["publicKey"], ORIGIN, options);
    finish(
        app,
        token,
        started["registrationId"].as_str().unwrap(),
        &made.credential,
    )
    .await
}

pub(crate) async fn own_keys(app: &TestApp, token: &str) -> Vec<Value> {
    let response = app.get("/keys", token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["keys"].as_array().unwrap().clone()
}

/// The kids of `keys`, in the order given.
fn kids_in_order(keys: &[Value]) -> Vec<&str> {
    keys.iter().map(|k| k["kid"].as_str().unwrap()).collect()
}

// ---- the administrator's keys and the JWKS search ---------------------------------

/// `GET /keys/jwks` with the parameters URL-encoded.
pub(crate) async fn search(
    app: &TestApp,
    token: &str,
    params: &[(&str, &str)],
) -> reqwest::Response {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    app.get(&format!("/keys/jwks?{query}"), token).await
}

/// The keys a search finds (panics unless 200), each without its `log` member: the
/// inclusion proof changes whenever the log grows (`log` checks those).
pub(crate) async fn found(app: &TestApp, token: &str, params: &[(&str, &str)]) -> Vec<Value> {
    let response = search(app, token, params).await;
    let status = response.status();
    let mut body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "search {params:?}: {body}");
    let mut keys = body["keys"].take().as_array().unwrap().clone();
    for key in &mut keys {
        let proof = key.as_object_mut().unwrap().remove("log");
        assert!(proof.is_some(), "every key found is in the log: {key}");
    }
    keys
}

pub(crate) fn kids(keys: &[Value]) -> Vec<String> {
    let mut kids: Vec<String> = keys
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    kids.sort();
    kids
}

pub(crate) fn key<'a>(keys: &'a [Value], kid: &str) -> &'a Value {
    keys.iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("no key {kid} in {keys:?}"))
}

/// Asserts an RFC 9457 answer with this status and returns it.
pub(crate) async fn problem(response: reqwest::Response, status: u16, what: &str) -> Value {
    let got = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{what}: {text}");
    assert!(
        content_type.starts_with("application/problem+json"),
        "{what}: content-type {content_type}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["status"], status, "{what}: {body}");
    body
}

/// Asserts a 422 naming `field` and returns the problem.
pub(crate) async fn invalid_field(response: reqwest::Response, field: &str, what: &str) -> Value {
    let body = problem(response, 422, what).await;
    assert_eq!(body["field"], field, "{what}: {body}");
    body
}

/// RFC 7638 thumbprint of an EC public JWK, computed here independently.
pub(crate) fn ec_jkt(jwk: &Value) -> String {
    let canonical = format!(
        r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["crv"].as_str().unwrap(),
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap()
    );
    B64.encode(openssl::sha::sha256(canonical.as_bytes()))
}

pub(crate) fn time(view: &Value, member: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(view[member].as_str().unwrap_or_else(|| {
        panic!("{member} missing in {view}");
    }))
    .unwrap()
    .with_timezone(&Utc)
}

pub(crate) fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A client key's public JWK with the given `kid` and neither `use` nor `alg`.
pub(crate) fn bare_jwk(key: &ClientKey) -> Value {
    let mut jwk = key.public_jwk.clone();
    let object = jwk.as_object_mut().unwrap();
    object.remove("use");
    object.remove("alg");
    jwk
}

/// An identifier with its last digit changed, so that its check digits fail (for an
/// SSIN, under both the 1900s and the 2000s rule: they differ by 68, not by 1 or 9).
pub(crate) fn spoiled(identifier: &str) -> String {
    let mut text = identifier.to_owned();
    let last = text.pop().unwrap().to_digit(10).unwrap();
    text.push(char::from_digit((last + 1) % 10, 10).unwrap());
    text
}

/// Registers a system client as `register_system_client` does, with a key that names
/// neither `use` nor `alg` (a key for both uses, RFC 7517 §4.2).
pub(crate) async fn bare_system_client(
    app: &TestApp,
    id: &str,
    scopes: &[&str],
    extra: Value,
) -> TestClient {
    let mut key = ClientKey::generate(&format!("{id}-key-1"));
    key.public_jwk = bare_jwk(&key);
    let mut body = json!({
        "client_id": id, "type": "system", "name": format!("System {id}"),
        "scopes": scopes, "jwks": key.jwks(),
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    app.admin_create("/admin/clients", &body).await;
    TestClient { id: id.into(), key }
}

/// The `keys` claim of a fresh token of `client`, sorted by kid.
pub(crate) async fn token_keys(app: &TestApp, client: &TestClient) -> Vec<Value> {
    let token = app.token_for(client, &[]).await;
    let mut keys = jwt_claims(&token)["keys"].as_array().unwrap().clone();
    keys.sort_by(|a, b| a["kid"].as_str().cmp(&b["kid"].as_str()));
    keys
}

/// A token request signed by `client` (with its current key).
pub(crate) async fn token_attempt(app: &TestApp, client: &TestClient) -> reqwest::Response {
    let assertion = client
        .key
        .sign(&client.claims(&app.token_endpoint(), app.now()));
    app.token_request(&assertion, &[]).await
}

pub(crate) async fn delete(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.http
        .delete(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

//! Symmetric keys for an unknown addressee (API.md "Symmetric keys"): who may read a key
//! under its access policy (selectors, deny over allow, the creator, mandatees), deletion,
//! expiry and the purge, a key wrapped to the reader's own registered encryption key
//! (decrypted by Python's jwcrypto, a JOSE implementation we did not write), refusals of
//! bad input that store nothing, the token checks, the administrator's audit trail and
//! the key at rest. Persons read through public and confidential apps with the code flow
//! + PKCE and the profile page; creators are system clients or professionals.
//!
//! This module holds what the tests share; the tests themselves are in `policy`, `wrap`,
//! `requests` and `audit`.

use std::io::Write;
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use openssl::pkey::{PKey, Private};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::forms::*;
use crate::helpers::*;
use crate::keys::authenticator::{self, Options};
use crate::keys::problem;

mod audit;
mod policy;
mod requests;
mod wrap;

// ---- helpers --------------------------------------------------------------------

const ORIGIN: &str = "https://depot.example";
/// What a reader asks for.
pub(super) const READ: &str = "openid symkeys:read";
/// What a creator asks for.
pub(super) const CREATE: &str = "openid symkeys:create symkeys:read";
/// What a reader with its own encryption keys asks for.
pub(super) const KEYS_AND_READ: &str = "openid keys:register symkeys:read";
/// The scopes every app of these tests is registered with.
pub(super) const APP_SCOPES: &[&str] =
    &["openid", "symkeys:create", "symkeys:read", "keys:register"];
/// The default `symkey_max_ttl_seconds` (366 days).
pub(super) const DEFAULT_MAX_TTL: u64 = 31_622_400;

pub(super) async fn symkeys_app_with(tweak: impl FnOnce(&mut depot::config::Settings)) -> TestApp {
    spawn_app_with(|s| {
        s.keys.webauthn_rp_id = Some("depot.example".into());
        s.keys.webauthn_origins = Some(ORIGIN.into());
        tweak(s);
    })
    .await
}

pub(super) async fn symkeys_app() -> TestApp {
    symkeys_app_with(|_| {}).await
}

/// A selector (or identifier) object.
pub(super) fn sel(kind: &str, value: &str) -> Value {
    json!({"type": kind, "value": value})
}

/// A CBE number with valid check digits from its first eight digits.
pub(super) fn cbe(first8: &str) -> String {
    let base: u64 = first8.parse().unwrap();
    format!("{first8}{:02}", 97 - base % 97)
}

/// Registers a person with a password and these profiles; returns the SSIN.
pub(super) async fn person(app: &TestApp, first9: &str, name: &str, profiles: Value) -> String {
    let ssin = ssin(first9);
    app.register_person(json!({
        "ssin": ssin, "name": name, "password": PASSWORD, "profiles": profiles,
    }))
    .await;
    ssin
}

/// A person's access token through `client` (code flow + PKCE), choosing `profile` on
/// the profile page when the person has several, consenting when asked.
pub(super) async fn person_token(
    app: &TestApp,
    client: &App,
    ssin: &str,
    profile: Option<&str>,
    scope: &str,
) -> String {
    let pkce = Pkce::new();
    let browser = app.browser();
    let login = browser.authorize(&auth_query(client, scope, &pkce)).await;
    assert_eq!(
        login.status, 200,
        "the login page for {ssin}: {}",
        login.body
    );
    let mut page = browser.login(&login, ssin, PASSWORD, "").await;
    let offered = page.profile_values();
    if !offered.is_empty() {
        let choice = profile.unwrap_or_else(|| {
            panic!("{ssin} has several profiles ({offered:?}): the test must choose")
        });
        assert!(
            offered.iter().any(|v| v == choice),
            "{ssin}: profile {choice} not offered among {offered:?}"
        );
        page = browser.choose_profile(&page, choice).await;
    }
    if page.form_with("decision").is_some() {
        page = browser.decide(&page, "allow").await;
    }
    let params = page.redirect_params();
    let code = params
        .get("code")
        .unwrap_or_else(|| panic!("{ssin}: no code in the redirect ({params:?})"));
    let tokens = token_json(app.redeem(client, code, &pkce.verifier).await).await;
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    let identity = &jwt_claims(&token)["identity"];
    assert_eq!(identity["ssin"], ssin, "the token is {ssin}'s: {identity}");
    if let Some(profile) = profile {
        let kind = profile.split(':').next().unwrap();
        assert_eq!(identity["profile"], kind, "the chosen profile: {identity}");
    }
    token
}

/// Registers the organization `cbe` and a system client of it with both symkeys
/// scopes; returns the client and a token (identity `{"profile":"system","cbe":…}`).
pub(super) async fn system_creator(app: &TestApp, id: &str, cbe: &str) -> (TestClient, String) {
    app.register_organization(cbe, &format!("Organization {cbe}"))
        .await;
    let client = app
        .register_system_client(
            id,
            &["symkeys:create", "symkeys:read"],
            json!({"organization": cbe}),
        )
        .await;
    let token = app.token_for(&client, &[]).await;
    assert_eq!(
        jwt_claims(&token)["identity"],
        json!({"profile": "system", "cbe": cbe}),
        "a system client of an organization carries its CBE"
    );
    (client, token)
}

/// `POST /symkeys`; asserts the 201 answer (Location, JWK, expiry) and returns its body.
pub(super) async fn create(app: &TestApp, token: &str, body: &Value) -> Value {
    let before = app.state.clock.now();
    let response = app.post_json("/symkeys", token, body).await;
    let (created, location) =
        crate::helpers::created_json(response, &format!("POST /symkeys {body}")).await;
    let key_id = created["keyId"]
        .as_str()
        .unwrap_or_else(|| panic!("a keyId: {created}"));
    assert!(
        uuid::Uuid::parse_str(key_id).is_ok(),
        "the key id is a UUID: {key_id}"
    );
    assert_eq!(
        location.as_deref(),
        Some(format!("/symkeys/{key_id}").as_str()),
        "Location of the new key"
    );
    let jwk = &created["jwk"];
    assert_eq!(jwk["kty"], "oct", "{jwk}");
    assert_eq!(jwk["kid"], key_id, "the JWK's kid is the key id: {jwk}");
    assert_eq!(jwk["alg"], "A256KW", "{jwk}");
    assert_eq!(raw_key(jwk).len(), 32, "a 256-bit key: {jwk}");
    if let Some(ttl) = body["ttlSeconds"].as_i64() {
        let expires = expires_at(&created);
        let delta = (expires - before).num_seconds();
        assert!(
            (ttl - 5..=ttl + 5).contains(&delta),
            "expiresAt {expires} is about {ttl} s after {before}"
        );
    }
    created
}

/// A creation body.
pub(super) fn key_request(
    allow: Value,
    deny: Option<Value>,
    mandatees: Option<bool>,
    ttl: u64,
) -> Value {
    let mut policy = json!({"allow": allow});
    if let Some(deny) = deny {
        policy["deny"] = deny;
    }
    if let Some(flag) = mandatees {
        policy["mandateesAsMandator"] = json!(flag);
    }
    json!({"policy": policy, "ttlSeconds": ttl})
}

pub(super) fn key_id(created: &Value) -> &str {
    created["keyId"].as_str().unwrap()
}

pub(super) fn expires_at(body: &Value) -> DateTime<Utc> {
    body["expiresAt"]
        .as_str()
        .unwrap_or_else(|| panic!("an expiresAt string: {body}"))
        .parse()
        .unwrap_or_else(|e| panic!("expiresAt is RFC 3339 ({e}): {body}"))
}

/// The raw bytes of an `oct` JWK (its `k`, base64url without padding).
pub(super) fn raw_key(jwk: &Value) -> Vec<u8> {
    let k = jwk["k"]
        .as_str()
        .unwrap_or_else(|| panic!("a k member: {jwk}"));
    B64.decode(k)
        .unwrap_or_else(|e| panic!("k is base64url without padding ({e}): {jwk}"))
}

/// `GET /symkeys/{key_id}` (with `?wrap=` when given).
pub(super) async fn fetch(
    app: &TestApp,
    token: &str,
    key_id: &str,
    wrap: Option<&str>,
) -> reqwest::Response {
    let path = match wrap {
        None => format!("/symkeys/{key_id}"),
        Some(kid) => format!("/symkeys/{key_id}?{}", query(&[("wrap", kid)])),
    };
    app.get(&path, token).await
}

/// Asserts that `who` reads the key (200) and returns the answer.
pub(super) async fn reads(app: &TestApp, token: &str, created: &Value, who: &str) -> Value {
    let response = fetch(app, token, key_id(created), None).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{who} reads the key: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["keyId"], created["keyId"], "{who}: {body}");
    assert_eq!(body["jwk"], created["jwk"], "{who} gets the same JWK");
    assert_eq!(
        expires_at(&body),
        expires_at(created),
        "{who}: the same expiry"
    );
    body
}

/// Asserts that `who` is refused with `status` (a problem+json answer).
pub(super) async fn refused(
    app: &TestApp,
    token: &str,
    key_id: &str,
    status: u16,
    who: &str,
) -> Value {
    let response = fetch(app, token, key_id, None).await;
    let body = problem(response, status, who).await;
    assert!(
        body.get("jwk").is_none() && !body.to_string().contains("\"k\""),
        "{who}: a refusal carries no key material: {body}"
    );
    body
}

pub(super) async fn delete(app: &TestApp, token: &str, key_id: &str) -> reqwest::Response {
    app.http
        .delete(app.url(&format!("/symkeys/{key_id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

pub(super) fn query(params: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// `GET /admin/symkeys/audit` with an administrator's token (panics unless 200).
pub(super) async fn audit(app: &TestApp, params: &[(&str, &str)]) -> Value {
    let token = app.admin_token().await;
    let response = app
        .get(&format!("/admin/symkeys/audit?{}", query(params)), &token)
        .await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "audit {params:?}: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert!(
        body["events"].is_array(),
        "audit {params:?}: an events array: {body}"
    );
    assert!(
        body.get("nextCursor").is_some(),
        "audit {params:?}: a nextCursor member (string or null): {body}"
    );
    body
}

/// The events of an audit query.
pub(super) async fn events(app: &TestApp, params: &[(&str, &str)]) -> Vec<Value> {
    audit(app, params).await["events"]
        .as_array()
        .unwrap()
        .clone()
}

/// The `event` names of a list of events.
pub(super) fn names(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap_or("<missing>"))
        .collect()
}

/// How many keys the table holds.
pub(super) async fn stored_keys(app: &TestApp) -> u64 {
    entity::symmetric_key::Entity::find()
        .count(&app.state.db)
        .await
        .unwrap()
}

/// A WebAuthn ceremony with the openssl authenticator; returns the kid and the
/// credential (whose private key decrypts what is wrapped to it).
pub(super) async fn register_key(
    app: &TestApp,
    token: &str,
    key_use: &str,
    options: &Options,
) -> (String, authenticator::Made) {
    let response = app
        .post_json(
            "/keys/registrations",
            token,
            &json!({"use": key_use, "name": format!("{key_use} device")}),
        )
        .await;
    let status = response.status();
    let started: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "start a {key_use} registration: {started}");
    let made = authenticator::register(&started["publicKey"], ORIGIN, options);
    let id = started["registrationId"].as_str().unwrap();
    let response = app
        .post_json(
            &format!("/keys/registrations/{id}"),
            token,
            &json!({"credential": made.credential}),
        )
        .await;
    let status = response.status();
    let key: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "finish a {key_use} registration: {key}");
    (key["kid"].as_str().unwrap().to_owned(), made)
}

/// Whether `python3` can import jwcrypto. Without it the decryption test skips, unless
/// `CI=true`, where it fails.
pub(super) fn jwcrypto_available() -> bool {
    let available = Command::new("python3")
        .args(["-c", "import jwcrypto"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "python3 jwcrypto not installed, and CI=true: pip install jwcrypto"
        );
        eprintln!("skipped: python3 jwcrypto not installed (pip install jwcrypto)");
    }
    available
}

/// Decrypts a compact JWE with jwcrypto; the private key (PEM) and the JWE go in on stdin.
const JWCRYPTO_DECRYPT: &str = r#"
import json, sys
from jwcrypto import jwe, jwk
given = json.load(sys.stdin)
key = jwk.JWK.from_pem(given["pem"].encode())
token = jwe.JWE()
token.deserialize(given["jwe"], key=key)
sys.stdout.write(token.payload.decode())
"#;

pub(super) fn jwcrypto_decrypt(key: &PKey<Private>, compact: &str) -> String {
    let pem = String::from_utf8(key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    jwcrypto(JWCRYPTO_DECRYPT, &json!({"pem": pem, "jwe": compact}))
}

/// Runs a jwcrypto script with `input` as JSON on stdin; answers its stdout.
pub(crate) fn jwcrypto(script: &str, input: &serde_json::Value) -> String {
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "jwcrypto failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

//! The depot (API.md "Depot"): sealed messages accepted with an RFC 3161 proof of
//! reception, kept in their recipients' and sender's boxes, listed with a stable
//! cursor, fetched with receipts, removed and purged, and announced on RabbitMQ.
//!
//! Everything is real: JWEs made and opened with josekit (a JOSE library the depot does
//! not use to check them), encryption keys registered through the WebAuthn ceremony
//! with the openssl authenticator (or by the administrator for system clients), the
//! timestamps verified with `openssl ts -verify`, and notifications read from the
//! RabbitMQ of `AMQP_URL` by the `queues` consumer. Without `AMQP_URL` the broker
//! parts print `skipped: AMQP_URL not set`.
//!
//! This module holds the set-up, the parties and the HTTP calls the tests share; `jose`
//! seals and opens, `amqp` receives notifications. The tests are in `flow`, `outage`,
//! `refusals`, `capacity`, `idempotency`, `large`, `listing`, `boxes`, `retention` and
//! `totals`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::keys::bare_jwk;
use crate::symkeys::{cbe, symkeys_app_with};
use crate::tsa::pki::openssl;

mod absences;
pub(crate) mod amqp;
mod boxes;
mod capacity;
mod database_outage;
mod flooding;
mod flow;
mod groups;
mod idempotency;
pub(crate) mod jose;
mod large;
mod listing;
mod outage;
mod refusals;
mod retention;
mod totals;

use self::amqp::*;
use self::jose::*;

/// What the persons' app is registered with, and what persons ask for.
pub(super) const APP_SCOPES: &[&str] = &["openid", "depot:send", "depot:read", "keys:register"];
pub(super) const PERSON_SCOPE: &str = "openid depot:send depot:read keys:register";
/// What the system clients of these tests are registered with.
pub(super) const SYSTEM_SCOPES: &[&str] = &[
    "depot:send",
    "depot:read",
    "keys:register",
    "symkeys:create",
    "symkeys:read",
];

/// The depot with the WebAuthn relying party the openssl authenticator signs for.
pub(super) async fn depot_app_with(tweak: impl FnOnce(&mut depot::config::Settings)) -> TestApp {
    symkeys_app_with(tweak).await
}

pub(super) async fn depot_app() -> TestApp {
    depot_app_with(|_| {}).await
}

/// An application label of its own, so that tests running at once on one broker do not
/// see each other's notifications.
pub(super) fn unique_application(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &id[..12])
}

// ---- parties ----------------------------------------------------------------------

/// Someone who sends or receives: a token, the identifier messages are addressed to,
/// and the private halves of its registered `enc` keys.
pub(super) struct Party {
    pub token: String,
    pub id: Value,
    pub keys: Vec<EncKey>,
    /// Set for a system client (to get fresh tokens).
    pub client: Option<TestClient>,
}

impl Party {
    pub fn key(&self) -> &EncKey {
        &self.keys[0]
    }

    /// A fresh token (system clients), e.g. after the clock was moved.
    pub async fn refresh(&mut self, app: &TestApp) {
        let client = self.client.as_ref().expect("a system client");
        self.token = app.token_for(client, &[]).await;
    }
}

pub(super) fn identifier(kind: &str, value: &str) -> Value {
    json!({"type": kind, "value": value})
}

/// The organization `cbe(first8)` and a system client of it with the depot's scopes and
/// one `enc` key the administrator registered; its inbox is the CBE's box.
pub(super) async fn system_party(app: &TestApp, client_id: &str, first8: &str) -> Party {
    let cbe = cbe(first8);
    app.register_organization(&cbe, &format!("Organization {client_id}"))
        .await;
    let client = app
        .register_system_client(client_id, SYSTEM_SCOPES, json!({"organization": cbe}))
        .await;
    let key = ClientKey::generate(&format!("{client_id}-enc-1"));
    app.admin_create(
        "/admin/keys",
        &json!({"client_id": client_id, "use": "enc", "name": "Gateway encryption",
                "jwk": bare_jwk(&key)}),
    )
    .await;
    let token = app.token_for(&client, &[]).await;
    Party {
        token,
        id: identifier("cbe", &cbe),
        keys: vec![EncKey::of_client_key(&key)],
        client: Some(client),
    }
}

// ---- HTTP ---------------------------------------------------------------------------

/// JSON text of a string (a compact JWE as the `sealed` member).
/// A doctor (a professional profile with NIHII number `nihii`) registered with SSIN
/// `first9` + check digits, and her token through `client` as that professional.
pub(super) async fn doctor(
    app: &TestApp,
    client: &crate::forms::App,
    first9: &str,
    name: &str,
    nihii: &str,
) -> (String, String) {
    let ssin = crate::symkeys::person(
        app,
        first9,
        name,
        json!([{"profile": "professional", "quality": "doctor", "nihii": nihii}]),
    )
    .await;
    let profile = format!("professional:{nihii}");
    let token =
        crate::symkeys::person_token(app, client, &ssin, Some(&profile), PERSON_SCOPE).await;
    (ssin, token)
}

pub(super) fn quoted(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

/// A `POST /depot/messages` body with `sealed` (JSON text) embedded exactly as given.
pub(super) fn message(application: &str, recipients: &[&Value], sealed: &str) -> String {
    message_with(application, recipients, sealed, &[])
}

pub(super) fn message_with(
    application: &str,
    recipients: &[&Value],
    sealed: &str,
    extra: &[(&str, Value)],
) -> String {
    let mut text = format!(
        r#"{{"application": {}, "recipients": {}, "sealed": {sealed}"#,
        json!(application),
        json!(recipients)
    );
    for (name, value) in extra {
        text.push_str(&format!(", {}: {value}", json!(name)));
    }
    text.push('}');
    text
}

pub(super) async fn post_message(
    app: &TestApp,
    token: &str,
    body: &str,
    idempotency_key: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .http
        .post(app.url("/depot/messages"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(key) = idempotency_key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.unwrap()
}

/// Asserts a 201 with `Location: /depot/messages/{id}`; returns the answer.
pub(super) async fn accepted(response: reqwest::Response, what: &str) -> Value {
    let (answer, location) = crate::helpers::created_json(response, what).await;
    let id = answer["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: an id: {answer}"));
    assert_eq!(
        location.as_deref(),
        Some(format!("/depot/messages/{id}").as_str()),
        "{what}: Location"
    );
    answer
}

/// Sends `body` and asserts it is accepted; returns the answer.
pub(super) async fn send(app: &TestApp, token: &str, body: &str) -> Value {
    accepted(post_message(app, token, body, None).await, "sending").await
}

/// Sends a small compact JWE to `key` for `recipients`; returns the message id.
pub(super) async fn send_small(
    app: &TestApp,
    sender: &Party,
    application: &str,
    recipients: &[&Value],
    text: &str,
) -> String {
    let sealed = seal_compact(text.as_bytes(), sender.key());
    let answer = send(
        app,
        &sender.token,
        &message(application, recipients, &quoted(&sealed)),
    )
    .await;
    answer["id"].as_str().unwrap().to_owned()
}

/// `GET /depot/messages?{query}`, asserting 200 and the shape of the answer.
pub(super) async fn list(app: &TestApp, token: &str, query: &str) -> Value {
    let response = app.get(&format!("/depot/messages?{query}"), token).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "listing {query:?}: {text}");
    let listing: Value = serde_json::from_str(&text).unwrap();
    assert!(listing["messages"].is_array(), "{listing}");
    assert!(
        listing["nextCursor"].is_string(),
        "nextCursor is a string: {listing}"
    );
    listing
}

pub(super) fn listed_ids(listing: &Value) -> Vec<String> {
    listing["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

pub(super) fn next_cursor(listing: &Value) -> String {
    listing["nextCursor"].as_str().unwrap().to_owned()
}

/// The listed item of message `id` (panics when it is not listed).
pub(super) fn item<'a>(listing: &'a Value, id: &str) -> &'a Value {
    listing["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not listed: {listing}"))
}

pub(super) async fn fetch(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.get(&format!("/depot/messages/{id}"), token).await
}

/// Fetches `id`, asserting 200; returns the body's text (to look at `sealed` exactly).
pub(super) async fn fetched_text(app: &TestApp, token: &str, id: &str, who: &str) -> String {
    let response = fetch(app, token, id).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{who} fetches {id}: {text}");
    text
}

pub(super) async fn fetched(app: &TestApp, token: &str, id: &str, who: &str) -> Value {
    serde_json::from_str(&fetched_text(app, token, id, who).await).unwrap()
}

pub(super) async fn mark_read(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/depot/messages/{id}/read")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

pub(super) async fn remove(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.http
        .delete(app.url(&format!("/depot/messages/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// `GET /depot/box`, asserting 200.
pub(super) async fn box_summary(app: &TestApp, token: &str) -> Value {
    let response = app.get("/depot/box", token).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "box summary: {text}");
    serde_json::from_str(&text).unwrap()
}

/// `GET /health/ready` (200 while the database answers).
pub(super) async fn ready(app: &TestApp) -> Value {
    let response = app.http.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Rows in the `message` and `outbox` tables.
pub(super) async fn stored(app: &TestApp) -> (u64, u64) {
    let messages = entity::message::Entity::find()
        .count(&app.state.db)
        .await
        .unwrap();
    let outbox = entity::outbox::Entity::find()
        .count(&app.state.db)
        .await
        .unwrap();
    (messages, outbox)
}

/// Members of a JSON object, sorted.
pub(super) fn members(value: &Value) -> Vec<&str> {
    let mut names: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    names
}

pub(super) fn instant(value: &Value) -> chrono::DateTime<chrono::Utc> {
    value
        .as_str()
        .unwrap_or_else(|| panic!("an RFC 3339 string: {value}"))
        .parse()
        .unwrap_or_else(|e| panic!("{value} is not RFC 3339: {e}"))
}

/// Verifies the `timestamp` of a message (standard base64 TimeStampResp DER) over
/// `data` with `openssl ts -verify`, trusting the root of `GET /tsa/certs`; returns
/// openssl's text rendering of the reply.
pub(super) async fn verify_timestamp(app: &TestApp, data: &[u8], timestamp: &Value) -> String {
    let der = STANDARD
        .decode(timestamp.as_str().expect("a base64 timestamp"))
        .expect("the timestamp is standard base64");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let chain = app.tsa_chain().await;
    let root = chain.rfind("-----BEGIN CERTIFICATE-----").unwrap();
    std::fs::write(dir.join("chain.pem"), &chain).unwrap();
    std::fs::write(dir.join("root.pem"), &chain[root..]).unwrap();
    std::fs::write(dir.join("sealed.bin"), data).unwrap();
    std::fs::write(dir.join("reply.tsr"), der).unwrap();
    let verified = openssl(
        dir,
        &[
            "ts",
            "-verify",
            "-data",
            "sealed.bin",
            "-in",
            "reply.tsr",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "chain.pem",
        ],
    );
    assert!(verified.contains("Verification: OK"), "{verified}");
    let text = openssl(dir, &["ts", "-reply", "-in", "reply.tsr", "-text"]);
    assert!(text.contains("Status: Granted."), "{text}");
    text
}

//! Organizations acting for organizations (API.md "Organizations acting for
//! organizations"): the administrator records, lists and ends delegations
//! (`admin`); a supplier's system client obtains, with `client_credentials` and
//! `consumer=`, a token acting for the consumer, and nothing else does (`token`);
//! such a token reads and sends for the consumer's CBE box, its sender claims carry
//! `act`, and it is refused once its delegation ends, at once where it was ended and
//! within seconds at another instance (`acting`).
//!
//! This module holds the organizations, clients and calls the tests share.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::symkeys::cbe;

mod acting;
mod admin;
mod token;

/// The first eight digits of the organizations of these tests.
const CONSUMER8: &str = "04100001";
const SUPPLIER8: &str = "04200002";
const OTHER8: &str = "04300003";

/// What the supplier's system client is registered with.
const CLIENT_SCOPES: &[&str] = &["depot:send", "depot:read", "keys:read"];

/// A CBE identifier object.
fn org(cbe: &str) -> Value {
    json!({"type": "cbe", "value": cbe})
}

/// The consumer, supplier and a third organization, registered; their CBE numbers.
async fn organizations(app: &TestApp) -> (String, String, String) {
    let numbers = (cbe(CONSUMER8), cbe(SUPPLIER8), cbe(OTHER8));
    app.register_organization(&numbers.0, "Consumer hospital")
        .await;
    app.register_organization(&numbers.1, "Supplier software house")
        .await;
    app.register_organization(&numbers.2, "Other software house")
        .await;
    numbers
}

/// A system client of organization `cbe` with [`CLIENT_SCOPES`].
async fn client_of(app: &TestApp, id: &str, cbe: &str) -> TestClient {
    app.register_system_client(id, CLIENT_SCOPES, json!({"organization": cbe}))
        .await
}

/// A `POST /admin/delegations` body.
fn delegation(consumer: &str, supplier: &str, scopes: &[&str]) -> Value {
    json!({"consumer": org(consumer), "supplier": org(supplier), "scopes": scopes})
}

/// Records a delegation (asserting 201); returns the stored object.
async fn delegate(app: &TestApp, body: &Value) -> Value {
    app.admin_create("/admin/delegations", body).await
}

/// `DELETE /admin/delegations/{id}` with a fresh admin token.
async fn end(app: &TestApp, id: &str) -> reqwest::Response {
    let token = app.admin_token().await;
    app.http
        .delete(app.url(&format!("/admin/delegations/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// `GET /admin/delegations?{query}` (asserting 200); the delegations listed.
async fn listed(app: &TestApp, query: &str) -> Vec<Value> {
    let token = app.admin_token().await;
    let response = app
        .get(&format!("/admin/delegations?{query}"), &token)
        .await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "listing {query:?}: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    body["delegations"].as_array().unwrap().clone()
}

/// A client_credentials request of `client` with `extra` parameters.
async fn ask(app: &TestApp, client: &TestClient, extra: &[(&str, &str)]) -> reqwest::Response {
    let assertion = client
        .key
        .sign(&client.claims(&app.token_endpoint(), app.now()));
    app.token_request(&assertion, extra).await
}

/// Asserts a 422 problem naming `field`; returns it.
async fn invalid(response: reqwest::Response, field: &str, what: &str) -> Value {
    assert_eq!(response.status(), 422, "{what}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "{what}"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["field"], field, "{what}: {problem}");
    problem
}

/// Whether the depot accepts `token` (200) or refuses it as an invalid token (401):
/// `GET /depot/box`.
async fn depot_status(app: &TestApp, token: &str) -> u16 {
    app.get("/depot/box", token).await.status().as_u16()
}

//! What the depot refuses, and that a refusal stores nothing: missing, weak or misdirected
//! tokens, oversized and malformed bodies, JWEs outside the profile (no `zip`, `jku`,
//! `x5u`, `crit`, unbounded `p2c`, unknown `alg`, missing `kid`), keys that are revoked,
//! unknown or someone else's, bad recipients and retention; and another user's message,
//! which is a 404 like a message that does not exist (and removing one's own copy leaves
//! the others').

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::Duration as Days;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use super::*;
use crate::keys::{bare_jwk, delete, problem, spoiled};

/// The compact JWE with its protected header replaced by `header` (the depot checks
/// the header without decrypting, so the rest may stay).
fn with_header(compact: &str, header: Value) -> String {
    let rest = compact.split_once('.').unwrap().1;
    format!("{}.{rest}", B64.encode(header.to_string()))
}

async fn post_as(
    app: &TestApp,
    token: Option<&str>,
    content_type: &str,
    body: &str,
) -> reqwest::Response {
    let mut request = app
        .http
        .post(app.url("/depot/messages"))
        .header("content-type", content_type)
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn refused_with(response: reqwest::Response, status: u16, field: Option<&str>, what: &str) {
    let body = problem(response, status, what).await;
    if let Some(field) = field {
        assert_eq!(body["field"], field, "{what}: {body}");
    }
}

async fn rows(app: &TestApp) -> (u64, u64, u64, u64) {
    let db = &app.state.db;
    let (messages, outbox) = stored(app).await;
    let entries = entity::box_entry::Entity::find().count(db).await.unwrap();
    let records = entity::idempotency_record::Entity::find()
        .count(db)
        .await
        .unwrap();
    (messages, outbox, entries, records)
}

#[tokio::test]
async fn refused_messages_are_not_stored() {
    let app = depot_app_with(|s| s.depot.message_max_bytes = 8192).await;
    let sender = system_party(&app, "hospital-gw", "03123456").await;
    let recipient = system_party(&app, "gp-gw", "05123456").await;
    let stranger = system_party(&app, "lab-gw", "04123456").await;
    let client = sender.client.clone().unwrap();
    let read_only = app.token_for(&client, &[("scope", "depot:read")]).await;
    let keys_resource = format!("{}/keys", app.issuer);
    let keys_audience = app
        .token_for(
            &client,
            &[
                ("scope", "depot:send keys:register"),
                ("resource", &keys_resource),
            ],
        )
        .await;
    // A second enc key of the sender, revoked by the sender.
    let revoked = ClientKey::generate("hospital-gw-enc-2");
    app.admin_create(
        "/admin/keys",
        &json!({"client_id": "hospital-gw", "use": "enc", "name": "Old gateway key",
                "jwk": bare_jwk(&revoked)}),
    )
    .await;
    let response = delete(&app, "/keys/hospital-gw-enc-2", &sender.token).await;
    assert_eq!(response.status(), 204, "the sender revokes its key");
    let revoked = EncKey::of_client_key(&revoked);
    let nobody = EncKey::of_client_key(&ClientKey::generate("nobody-enc-1"));

    let application = "ehbox";
    let r = &recipient.id;
    let key = recipient.key();
    let good = seal_compact(b"hello", key);
    let body = |sealed: &str| message(application, &[r], sealed);
    let sealed_body = |compact: &str| body(&quoted(compact));

    // Tokens.
    let valid = sealed_body(&good);
    let response = post_as(&app, None, "application/json", &valid).await;
    assert!(
        response.headers().contains_key("www-authenticate"),
        "401 names the scheme"
    );
    refused_with(response, 401, None, "no token").await;
    let response = post_as(&app, Some("not-a-jwt"), "application/json", &valid).await;
    assert!(response.headers().contains_key("www-authenticate"));
    refused_with(response, 401, None, "a malformed token").await;
    let response = app
        .http
        .get(app.url("/depot/messages"))
        .send()
        .await
        .unwrap();
    refused_with(response, 401, None, "listing without a token").await;
    let response = post_as(&app, Some(&read_only), "application/json", &valid).await;
    refused_with(response, 403, None, "a depot:read token").await;
    let response = post_as(&app, Some(&keys_audience), "application/json", &valid).await;
    refused_with(response, 403, None, "a token for the keystore").await;

    // The body.
    let big = seal_compact(&vec![b'x'; 9000], key);
    let response = post_as(
        &app,
        Some(&sender.token),
        "application/json",
        &sealed_body(&big),
    )
    .await;
    refused_with(response, 413, None, "over message_max_bytes").await;
    let response = post_as(&app, Some(&sender.token), "application/json", "not json").await;
    refused_with(response, 400, None, "not JSON").await;
    let response = post_as(&app, Some(&sender.token), "text/plain", &valid).await;
    refused_with(response, 415, None, "text/plain").await;

    let mut parts: Vec<&str> = good.split('.').collect();
    parts.pop();
    let four_parts = parts.join(".");
    let header = |extra: Value| {
        let mut h = json!({"alg": "ECDH-ES+A256KW", "enc": "A256GCM", "kid": key.kid,
                           "epk": {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}});
        h.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        with_header(&good, h)
    };
    let no_kid_entry = seal_json(
        b"hello",
        &[(Some(key.kid.as_str()), key), (None, sender.key())],
    );
    let with_stranger = seal_general(b"hello", &[key, stranger.key()]);
    let with_nobody = seal_general(b"hello", &[key, &nobody]);
    let far = (app.clock.now() + Days::days(366)).to_rfc3339();
    let past = (app.clock.now() - Days::minutes(1)).to_rfc3339();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "an unknown member",
            message_with(
                application,
                &[r],
                &quoted(&good),
                &[("subject", json!("x"))],
            ),
            "subject",
        ),
        (
            "no application",
            format!(r#"{{"recipients": [{r}], "sealed": {}}}"#, quoted(&good)),
            "application",
        ),
        (
            "an application with a space",
            message("eh box", &[r], &quoted(&good)),
            "application",
        ),
        ("bad base64", sealed_body("!!!.a.b.c.d"), "sealed"),
        ("four parts", sealed_body(&four_parts), "sealed"),
        ("a number", body("42"), "sealed"),
        ("an array", body(&json!([good]).to_string()), "sealed"),
        ("an empty string", sealed_body(""), "sealed"),
        (
            "no sealed member",
            format!(r#"{{"application": "ehbox", "recipients": [{r}]}}"#),
            "sealed",
        ),
        (
            "zip",
            sealed_body(&seal_compact_with(
                b"hello",
                key,
                Some(&key.kid),
                &[("zip", json!("DEF"))],
            )),
            "sealed",
        ),
        (
            "jku",
            sealed_body(&seal_compact_with(
                b"hello",
                key,
                Some(&key.kid),
                &[("jku", json!("https://keys.example/jwks"))],
            )),
            "sealed",
        ),
        (
            "x5u",
            sealed_body(&header(json!({"x5u": "https://keys.example/cert"}))),
            "sealed",
        ),
        (
            "crit",
            sealed_body(&header(json!({"crit": ["exp"], "exp": 1}))),
            "sealed",
        ),
        (
            "p2c too large",
            sealed_body(&header(json!({"p2c": 10_000_000}))),
            "sealed",
        ),
        (
            "alg RSA1_5",
            sealed_body(&header(json!({"alg": "RSA1_5"}))),
            "sealed",
        ),
        (
            "alg dir",
            sealed_body(&header(json!({"alg": "dir"}))),
            "sealed",
        ),
        (
            "enc A128CTR",
            sealed_body(&header(json!({"enc": "A128CTR"}))),
            "sealed",
        ),
        (
            "a compact JWE without kid",
            sealed_body(&seal_compact_with(b"hello", key, None, &[])),
            "sealed",
        ),
        ("a JSON entry without kid", body(&no_kid_entry), "sealed"),
        (
            "the sender's revoked key",
            sealed_body(&seal_compact(b"hello", &revoked)),
            "sealed",
        ),
        (
            "nobody's key",
            sealed_body(&seal_compact(b"hello", &nobody)),
            "sealed",
        ),
        (
            "nobody's key beside a good one",
            body(&with_nobody),
            "sealed",
        ),
        ("a third party's active key", body(&with_stranger), "sealed"),
        (
            "a bad SSIN checksum",
            message(
                application,
                &[
                    r,
                    &identifier("ssin", &spoiled(&crate::forms::ssin("850730033"))),
                ],
                &quoted(&good),
            ),
            "recipients[1]",
        ),
        (
            "an unknown identifier type",
            message(
                application,
                &[&identifier("passport", "EH123456")],
                &quoted(&good),
            ),
            "recipients[0]",
        ),
        (
            "a recipient named twice",
            message(application, &[r, r], &quoted(&good)),
            "recipients[1]",
        ),
        (
            "no recipients",
            message(application, &[], &quoted(&good)),
            "recipients",
        ),
        (
            "expiresAt past the maximum retention",
            message_with(
                application,
                &[r],
                &quoted(&good),
                &[("expiresAt", json!(far))],
            ),
            "expiresAt",
        ),
        (
            "expiresAt in the past",
            message_with(
                application,
                &[r],
                &quoted(&good),
                &[("expiresAt", json!(past))],
            ),
            "expiresAt",
        ),
        (
            "expiresAt not a time",
            message_with(
                application,
                &[r],
                &quoted(&good),
                &[("expiresAt", json!("tomorrow"))],
            ),
            "expiresAt",
        ),
    ];
    for (what, body, field) in &cases {
        let response = post_message(&app, &sender.token, body, None).await;
        refused_with(response, 422, Some(field), what).await;
    }
    let response = post_message(
        &app,
        &sender.token,
        &message_with(
            application,
            &[r],
            &quoted(&good),
            &[("metadata", json!({"n": 1}))],
        ),
        None,
    )
    .await;
    let body = problem(response, 422, "a metadata value that is not a string").await;
    assert!(
        body["field"]
            .as_str()
            .unwrap_or_default()
            .starts_with("metadata"),
        "{body}"
    );
    // With an Idempotency-Key, a refusal records nothing either.
    let response = post_message(&app, &sender.token, &sealed_body(&four_parts), Some("k-1")).await;
    refused_with(response, 422, Some("sealed"), "four parts, with a key").await;

    assert_eq!(rows(&app).await, (0, 0, 0, 0), "nothing stored");
    // The same body, well formed, is accepted: the refusals were about what they named.
    send(&app, &sender.token, &valid).await;
    assert_eq!(stored(&app).await, (1, 1));
}

#[tokio::test]
async fn another_users_message_is_404_on_fetch_read_and_delete() {
    let app = depot_app().await;
    let sender = system_party(&app, "hospital-gw", "03123456").await;
    let recipient = system_party(&app, "gp-gw", "05123456").await;
    let stranger = system_party(&app, "lab-gw", "04123456").await;
    let id = send_small(&app, &sender, "ehbox", &[&recipient.id], "for the GP").await;
    let unknown = uuid::Uuid::now_v7().to_string();

    for (what, id) in [
        ("another's message", id.as_str()),
        ("an unknown id", &unknown),
        ("not an id", "x"),
    ] {
        refused_with(
            fetch(&app, &stranger.token, id).await,
            404,
            None,
            &format!("fetching {what}"),
        )
        .await;
        refused_with(
            mark_read(&app, &stranger.token, id).await,
            404,
            None,
            &format!("reading {what}"),
        )
        .await;
        refused_with(
            remove(&app, &stranger.token, id).await,
            404,
            None,
            &format!("deleting {what}"),
        )
        .await;
    }
    // The 404 says nothing about whether it exists.
    let a = problem(fetch(&app, &stranger.token, &id).await, 404, "another's").await;
    let b = problem(fetch(&app, &stranger.token, &unknown).await, 404, "unknown").await;
    assert_eq!(a["detail"], b["detail"]);

    assert!(listed_ids(&list(&app, &stranger.token, "").await).is_empty());
    assert!(listed_ids(&list(&app, &stranger.token, "box=sent").await).is_empty());
    let got = fetched(&app, &recipient.token, &id, "the recipient").await;
    assert!(got["receipts"][0]["readAt"].is_null(), "{got}");
    assert_eq!(box_summary(&app, &recipient.token).await["messages"], 1);

    // The sender removes it from its sent box: gone for the sender only.
    assert_eq!(remove(&app, &sender.token, &id).await.status(), 204);
    problem(
        fetch(&app, &sender.token, &id).await,
        404,
        "the sender after removing",
    )
    .await;
    assert!(listed_ids(&list(&app, &sender.token, "box=sent").await).is_empty());
    fetched(
        &app,
        &recipient.token,
        &id,
        "the recipient, after the sender removed it",
    )
    .await;
}

//! Absences and substitutes: a doctor sets an out-of-office with substitutes; a sender
//! looks her up, and a message to her reaches the substitute the sender encrypted for
//! (delivered to the substitute's inbox, naming whom it stands in for), while her own
//! devices still open it. A substitute the sender did not encrypt for never sees it,
//! and a key of someone who is no substitute, or of a substitute outside the absence,
//! is refused with nothing stored.
//!
//! This file holds the parties and the calls the tests share, and the API's own tests;
//! `reaching` has the deliveries, `account` the account page, `cache` the cache.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::*;
use crate::forms::nihii;
use crate::keys::authenticator::Options;
use crate::keys::{invalid_field, problem};
use crate::symkeys::person_token;

mod account;
mod cache;
mod reaching;

const PLAINTEXT: &[u8] = br#"{"subject":"Discharge letter","body":"Follow-up in 2 weeks"}"#;

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

async fn set_absence(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.post_json("/depot/absences", token, body).await
}

async fn absences(app: &TestApp, token: &str) -> Vec<Value> {
    let response = app.get("/depot/absences", token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["absences"].as_array().unwrap().clone()
}

async fn end_absence(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.http
        .delete(app.url(&format!("/depot/absences/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn lookup(app: &TestApp, token: &str, query: &str) -> reqwest::Response {
    app.get(&format!("/depot/absence?{query}"), token).await
}

/// A doctor with one registered `enc` key, and a token that names it.
struct Doctor {
    ssin: String,
    nihii: String,
    token: String,
    key: EncKey,
}

impl Doctor {
    fn id(&self) -> Value {
        identifier("nihii", &self.nihii)
    }

    /// Her token through an app of her own named `app_id`, with only `scopes`.
    async fn token_with_only(&self, app: &TestApp, app_id: &str, scopes: &[&str]) -> String {
        let client = app.register_app(app_id, false, scopes, json!({})).await;
        let profile = format!("professional:{}", self.nihii);
        person_token(app, &client, &self.ssin, Some(&profile), &scopes.join(" ")).await
    }
}

async fn doctor_with_key(
    app: &TestApp,
    client: &crate::forms::App,
    first9: &str,
    name: &str,
    number: u64,
) -> Doctor {
    let nihii = nihii(number, "004");
    let (ssin, first) = doctor(app, client, first9, name, &nihii).await;
    let key = enc_key(app, &first, &Options::default()).await;
    let profile = format!("professional:{nihii}");
    let token = person_token(app, client, &ssin, Some(&profile), PERSON_SCOPE).await;
    Doctor {
        ssin,
        nihii,
        token,
        key,
    }
}

struct Practice {
    app: TestApp,
    /// Dr. Claes, who goes on leave.
    absent: Doctor,
    /// Dr. Wouters, the substitute the sender chooses.
    chosen: Doctor,
    /// Dr. Lambert, the other substitute.
    other: Doctor,
    /// Dr. Peeters, who sends.
    sender: Doctor,
}

async fn practice() -> Practice {
    let app = depot_app().await;
    let client = app
        .register_app("depot-app", false, APP_SCOPES, json!({}))
        .await;
    let absent = doctor_with_key(&app, &client, "800101001", "Dr. Claes", 100_001).await;
    let chosen = doctor_with_key(&app, &client, "800101002", "Dr. Wouters", 100_002).await;
    let other = doctor_with_key(&app, &client, "800101003", "Dr. Lambert", 100_003).await;
    let sender = doctor_with_key(&app, &client, "800101004", "Dr. Peeters", 100_004).await;
    Practice {
        app,
        absent,
        chosen,
        other,
        sender,
    }
}

/// Dr. Claes is absent from now for a week; Wouters and Lambert substitute.
async fn on_leave(p: &Practice) -> Value {
    let until = p.app.clock.now() + Duration::days(7);
    let response = set_absence(
        &p.app,
        &p.absent.token,
        &json!({"until": time(until), "substitutes": [p.chosen.id(), identifier("ssin", &p.other.ssin)]}),
    )
    .await;
    let (absence, location) = crate::helpers::created_json(response, "setting an absence").await;
    let id = absence["id"].as_str().unwrap();
    assert_eq!(
        location.as_deref(),
        Some(format!("/depot/absences/{id}").as_str())
    );
    absence
}

#[tokio::test]
async fn an_absence_is_set_listed_and_ended_by_its_holder_only() {
    let p = practice().await;
    let absence = on_leave(&p).await;
    assert_eq!(
        absence["boxes"],
        json!([p.absent.id(), identifier("ssin", &p.absent.ssin)]),
        "a professional is absent from both boxes: {absence}"
    );
    assert_eq!(absence["substitutes"][0], p.chosen.id(), "{absence}");
    // Times to the millisecond, as every time of the depot.
    let until = absence["until"].as_str().unwrap();
    assert_eq!(until.len(), "2026-12-05T09:00:00.123Z".len(), "{until}");
    assert_eq!(
        absences(&p.app, &p.absent.token).await,
        vec![absence.clone()]
    );
    // Nobody else's: another doctor lists none and cannot end it.
    assert!(absences(&p.app, &p.sender.token).await.is_empty());
    let id = absence["id"].as_str().unwrap();
    problem(
        end_absence(&p.app, &p.sender.token, id).await,
        404,
        "another's absence",
    )
    .await;
    assert_eq!(absences(&p.app, &p.absent.token).await.len(), 1);

    let response = end_absence(&p.app, &p.absent.token, id).await;
    assert_eq!(response.status(), 204);
    assert!(absences(&p.app, &p.absent.token).await.is_empty());
    problem(
        end_absence(&p.app, &p.absent.token, id).await,
        404,
        "ended twice",
    )
    .await;
    let found = lookup(
        &p.app,
        &p.sender.token,
        &format!("identity_type=nihii&identity_value={}", p.absent.nihii),
    )
    .await;
    let found: Value = found.json().await.unwrap();
    assert_eq!(found["absent"], false, "{found}");
}

#[tokio::test]
async fn bad_absences_are_refused_by_field_and_nothing_is_stored() {
    let p = practice().await;
    let kept = on_leave(&p).await;
    let now = p.app.clock.now();
    let substitutes = json!([p.chosen.id()]);
    let later = time(now + Duration::days(30));
    let cases = [
        (
            json!({"until": "next week", "substitutes": substitutes}),
            "until",
        ),
        (
            json!({"from": "soon", "until": later, "substitutes": substitutes}),
            "from",
        ),
        (
            json!({"from": time(now + Duration::days(31)), "until": later, "substitutes": substitutes}),
            "until",
        ),
        (
            json!({"until": time(now - Duration::hours(1)), "substitutes": substitutes}),
            "until",
        ),
        (
            json!({"from": later, "until": time(now + Duration::days(500)), "substitutes": substitutes}),
            "until",
        ),
        (
            json!({"from": later, "until": time(now + Duration::days(40)), "substitutes": []}),
            "substitutes",
        ),
        (
            json!({"from": later, "until": time(now + Duration::days(40)), "substitutes": [{"type": "nihii", "value": "12345678901"}]}),
            "substitutes[0]",
        ),
        (
            json!({"from": later, "until": time(now + Duration::days(40)), "substitutes": [p.chosen.id(), identifier("ssin", &p.absent.ssin)]}),
            "substitutes[1]",
        ),
    ];
    for (body, field) in cases {
        invalid_field(
            set_absence(&p.app, &p.absent.token, &body).await,
            field,
            &body.to_string(),
        )
        .await;
    }
    // A missing member, an unknown one.
    problem(
        set_absence(
            &p.app,
            &p.absent.token,
            &json!({"substitutes": substitutes}),
        )
        .await,
        422,
        "no until",
    )
    .await;
    problem(
        set_absence(
            &p.app,
            &p.absent.token,
            &json!({"until": later, "substitutes": substitutes, "forward": true}),
        )
        .await,
        422,
        "unknown member",
    )
    .await;
    // Overlapping the absence already set.
    let overlap = problem(
        set_absence(&p.app, &p.absent.token, &json!({"from": time(now + Duration::days(6)), "until": later, "substitutes": substitutes})).await,
        409,
        "overlap",
    )
    .await;
    assert!(
        overlap["detail"]
            .as_str()
            .unwrap()
            .contains(kept["id"].as_str().unwrap()),
        "{overlap}"
    );
    // Not JSON; no token; a token without depot:read; a client with no box.
    let response = p
        .app
        .http
        .post(p.app.url("/depot/absences"))
        .bearer_auth(&p.absent.token)
        .header("content-type", "application/json")
        .body("{\"until\": ")
        .send()
        .await
        .unwrap();
    problem(response, 400, "truncated JSON").await;
    let response = p
        .app
        .http
        .post(p.app.url("/depot/absences"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let send_only = p
        .absent
        .token_with_only(&p.app, "send-only", &["openid", "depot:send"])
        .await;
    problem(
        set_absence(
            &p.app,
            &send_only,
            &json!({"until": later, "substitutes": substitutes}),
        )
        .await,
        403,
        "no depot:read",
    )
    .await;
    let system = p
        .app
        .register_system_client("no-org", &["depot:read"], json!({}))
        .await;
    let system_token = p.app.token_for(&system, &[]).await;
    let no_box = problem(
        set_absence(
            &p.app,
            &system_token,
            &json!({"until": later, "substitutes": substitutes}),
        )
        .await,
        403,
        "no box",
    )
    .await;
    assert!(
        no_box["detail"].as_str().unwrap().contains("no box"),
        "{no_box}"
    );

    assert_eq!(
        absences(&p.app, &p.absent.token).await,
        vec![kept],
        "nothing else stored"
    );
}

#[tokio::test]
async fn a_sender_looks_a_recipient_up_by_any_of_its_identifiers() {
    let p = practice().await;
    let absence = on_leave(&p).await;
    for query in [
        format!("identity_type=nihii&identity_value={}", p.absent.nihii),
        format!("identity_type=ssin&identity_value={}", p.absent.ssin),
    ] {
        let response = lookup(&p.app, &p.sender.token, &query).await;
        assert_eq!(response.status(), 200, "{query}");
        let found: Value = response.json().await.unwrap();
        assert_eq!(found["absent"], true, "{found}");
        assert_eq!(found["until"], absence["until"], "{found}");
        assert_eq!(found["from"], absence["from"], "{found}");
        assert_eq!(found["substitutes"], absence["substitutes"], "{found}");
        assert!(
            found.get("id").is_none(),
            "a sender does not see the absence's id: {found}"
        );
    }
    // At a time past its end, or before its start: not absent.
    let until = instant(&absence["until"]);
    let from = instant(&absence["from"]);
    for at in [until, from - Duration::milliseconds(1)] {
        let query = format!(
            "identity_type=nihii&identity_value={}&at={}",
            p.absent.nihii,
            time(at).replace('+', "%2B")
        );
        let found: Value = lookup(&p.app, &p.sender.token, &query)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(found["absent"], false, "at {at}: {found}");
        assert_eq!(found["substitutes"], json!([]), "{found}");
    }
    // Someone who set no absence.
    let query = format!("identity_type=nihii&identity_value={}", p.chosen.nihii);
    let found: Value = lookup(&p.app, &p.sender.token, &query)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        found,
        json!({"recipient": p.chosen.id(), "absent": false, "substitutes": []})
    );
    // Bad questions.
    invalid_field(
        lookup(
            &p.app,
            &p.sender.token,
            "identity_type=nihii&identity_value=123",
        )
        .await,
        "identity_value",
        "bad nihii",
    )
    .await;
    invalid_field(
        lookup(
            &p.app,
            &p.sender.token,
            "identity_type=iban&identity_value=123",
        )
        .await,
        "identity_type",
        "bad type",
    )
    .await;
    invalid_field(
        lookup(&p.app, &p.sender.token, "").await,
        "identity_type",
        "nobody named",
    )
    .await;
    invalid_field(
        lookup(
            &p.app,
            &p.sender.token,
            &format!(
                "identity_type=nihii&identity_value={}&at=yesterday",
                p.absent.nihii
            ),
        )
        .await,
        "at",
        "bad at",
    )
    .await;
    problem(
        lookup(
            &p.app,
            &p.sender.token,
            "identity_type=nihii&identity_value=1&bogus=1",
        )
        .await,
        400,
        "unknown parameter",
    )
    .await;
    // depot:send is needed.
    let read_only = p
        .sender
        .token_with_only(&p.app, "read-only", &["openid", "depot:read"])
        .await;
    let query = format!("identity_type=nihii&identity_value={}", p.absent.nihii);
    problem(
        lookup(&p.app, &read_only, &query).await,
        403,
        "no depot:send",
    )
    .await;
}

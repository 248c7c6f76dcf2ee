//! Addressing by quality within an organization: "the doctors of hospital X". The
//! group is the authentic source's: the persons holding an organization profile for X
//! and a professional profile of that quality. A sender resolves it with one keystore
//! search (`organization` + `quality`), which finds the members' professional keys, each
//! naming its owner; the message to those owners opens for each doctor and for nobody
//! else. A change of the source (the people import) changes the group at once.

use serde_json::{Value, json};

use super::*;
use crate::forms::{PASSWORD, nihii};
use crate::keys::authenticator::Options;
use crate::keys::{invalid_field, problem};
use crate::symkeys::{cbe, person_token};

const LETTER: &[u8] = b"Staff notice: new sepsis protocol from Monday";

struct Member {
    ssin: String,
    token: String,
    key: EncKey,
}

/// A person with `profiles`, logged in under `profile`, with an `enc` key registered
/// under it.
async fn member(
    app: &TestApp,
    client: &crate::forms::App,
    first9: &str,
    profiles: Value,
    profile: &str,
) -> Member {
    let ssin = crate::symkeys::person(app, first9, first9, profiles).await;
    let first = person_token(app, client, &ssin, Some(profile), PERSON_SCOPE_KEYS).await;
    let key = enc_key(app, &first, &Options::default()).await;
    let token = person_token(app, client, &ssin, Some(profile), PERSON_SCOPE_KEYS).await;
    Member { ssin, token, key }
}

const PERSON_SCOPE_KEYS: &str = "openid depot:send depot:read keys:register keys:read";

async fn group_keys(app: &TestApp, token: &str, query: &str) -> reqwest::Response {
    app.get(&format!("/keys/jwks?{query}"), token).await
}

async fn kids_of(app: &TestApp, token: &str, query: &str) -> Vec<(String, Value)> {
    let response = group_keys(app, token, query).await;
    assert_eq!(response.status(), 200, "{query}");
    let set: Value = response.json().await.unwrap();
    set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kid"].as_str().unwrap().to_owned(), k["identity"].clone()))
        .collect()
}

#[tokio::test]
async fn the_doctors_of_a_hospital_are_found_addressed_and_kept_current() {
    let app = depot_app().await;
    let client = app
        .register_app(
            "depot-app",
            false,
            &[
                "openid",
                "depot:send",
                "depot:read",
                "keys:register",
                "keys:read",
            ],
            json!({}),
        )
        .await;
    let (hospital, other_hospital) = (cbe("02032013"), cbe("04040404"));
    app.register_organization(&hospital, "AZ Sint-Jan").await;
    app.register_organization(&other_hospital, "UZ Gent").await;
    let staff = |quality: &str, number: u64, at: &str| {
        let nihii = nihii(number, "004");
        (
            json!([{"profile": "organization", "cbe": at},
                   {"profile": "professional", "quality": quality, "nihii": nihii}]),
            format!("professional:{nihii}"),
        )
    };
    let (profiles, profile) = staff("doctor", 300_001, &hospital);
    let doctor_a = member(&app, &client, "800202001", profiles, &profile).await;
    let (profiles, profile) = staff("doctor", 300_002, &hospital);
    let doctor_b = member(&app, &client, "800202002", profiles, &profile).await;
    let (profiles, profile) = staff("nurse", 300_003, &hospital);
    let nurse = member(&app, &client, "800202003", profiles, &profile).await;
    let (profiles, profile) = staff("doctor", 300_004, &other_hospital);
    let elsewhere = member(&app, &client, "800202004", profiles, &profile).await;

    let query = format!("organization={hospital}&quality=doctor&use=enc");
    let found = kids_of(&app, &nurse.token, &query).await;
    let mut kids: Vec<&str> = found.iter().map(|(kid, _)| kid.as_str()).collect();
    kids.sort_unstable();
    let mut expected = vec![doctor_a.key.kid.as_str(), doctor_b.key.kid.as_str()];
    expected.sort_unstable();
    assert_eq!(
        kids, expected,
        "the two doctors of the hospital, nobody else"
    );
    let recipients: Vec<Value> = found.iter().map(|(_, identity)| identity.clone()).collect();
    for doctor in [&doctor_a, &doctor_b] {
        assert!(
            recipients.contains(&identifier("ssin", &doctor.ssin)),
            "each key names its owner: {recipients:?}"
        );
    }

    // The sender addresses the members it found, encrypted for their keys and its own.
    let sealed = seal_general(LETTER, &[&doctor_a.key, &doctor_b.key, &nurse.key]);
    let refs: Vec<&Value> = recipients.iter().collect();
    let answer = send(&app, &nurse.token, &message("ehbox", &refs, &sealed)).await;
    let id = answer["id"].as_str().unwrap();
    for doctor in [&doctor_a, &doctor_b] {
        let fetched = fetched(&app, &doctor.token, id, "a doctor of the group").await;
        let text = serde_json::to_string(&fetched["sealed"]).unwrap();
        assert_eq!(open_json(&text, &doctor.key), LETTER);
    }
    problem(
        fetch(&app, &elsewhere.token, id).await,
        404,
        "another hospital's doctor",
    )
    .await;

    // Kept current: the import moves doctor B to the other hospital; the next search
    // no longer finds B, and finds B for the other hospital.
    let file = app.data_dir.join("people.json");
    let moved = json!({"persons": [{"ssin": doctor_b.ssin, "name": "Dr. B", "password": PASSWORD,
        "profiles": [{"profile": "organization", "cbe": other_hospital},
                     {"profile": "professional", "quality": "doctor", "nihii": nihii(300_002, "004")}]}]});
    std::fs::write(&file, moved.to_string()).unwrap();
    let output = crate::cli::depot(&app)
        .args(["admin", "import-people"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let found = kids_of(&app, &nurse.token, &query).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, doctor_a.key.kid);
    let there = kids_of(
        &app,
        &nurse.token,
        &format!("organization={other_hospital}&quality=doctor"),
    )
    .await;
    assert_eq!(
        there.len(),
        2,
        "doctor B and the other hospital's doctor: {there:?}"
    );
    // A revoked key leaves the group's keys.
    let revoked = app
        .http
        .delete(app.url(&format!("/keys/{}", doctor_a.key.kid)))
        .bearer_auth(&doctor_a.token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    assert!(kids_of(&app, &nurse.token, &query).await.is_empty());
    // Nobody of that quality: an empty set, not an error.
    assert!(
        kids_of(
            &app,
            &nurse.token,
            &format!("organization={hospital}&quality=midwife")
        )
        .await
        .is_empty()
    );
}

#[tokio::test]
async fn a_group_search_names_what_is_wrong() {
    let app = depot_app().await;
    let client = app
        .register_app(
            "depot-app",
            false,
            &["openid", "keys:read", "depot:read"],
            json!({}),
        )
        .await;
    let ssin =
        crate::symkeys::person(&app, "800202009", "An", json!([{"profile": "citizen"}])).await;
    let token = person_token(&app, &client, &ssin, Some("citizen"), "openid keys:read").await;
    let hospital = cbe("02032013");
    let cases = [
        (format!("organization={hospital}"), "quality"),
        ("quality=doctor".to_owned(), "organization"),
        (
            "organization=0203201341&quality=doctor".to_owned(),
            "organization",
        ),
        (format!("organization={hospital}&quality=wizard"), "quality"),
        (
            format!(
                "organization={hospital}&quality=doctor&identity_type=ssin&identity_value={ssin}"
            ),
            "organization",
        ),
    ];
    for (query, field) in cases {
        invalid_field(group_keys(&app, &token, &query).await, field, &query).await;
    }
    let reader = person_token(&app, &client, &ssin, Some("citizen"), "openid depot:read").await;
    problem(
        group_keys(
            &app,
            &reader,
            &format!("organization={hospital}&quality=doctor"),
        )
        .await,
        403,
        "no keys:read",
    )
    .await;
}

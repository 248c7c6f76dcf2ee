//! What is kept about keys: the administrator's audit trail (newest first, filters,
//! pages), the purge of expired keys, and the key sealed at rest.

use super::*;

#[tokio::test]
async fn the_audit_records_every_access_newest_first_and_filters_and_pages() {
    let app = symkeys_app().await;
    let (_, creator_token) = system_creator(&app, "hospital-gw", CBE).await;
    let doctor_nihii = nihii(777777, "004");
    let doctor = person(
        &app,
        "850730501",
        "Dr. Dirk Janssens",
        json!([{"profile": "professional", "quality": "doctor", "nihii": doctor_nihii}]),
    )
    .await;
    let nurse = person(
        &app,
        "850730502",
        "Nora Claes",
        json!([{"profile": "professional", "quality": "nurse", "nihii": nihii(888888, "404")}]),
    )
    .await;
    let client = app
        .register_app("gp-app", false, APP_SCOPES, json!({}))
        .await;
    let doctor_token = person_token(&app, &client, &doctor, None, READ).await;
    let nurse_token = person_token(&app, &client, &nurse, None, READ).await;

    let doctors = create(
        &app,
        &creator_token,
        &key_request(json!([sel("quality", "doctor")]), None, None, 3600),
    )
    .await;
    let id = key_id(&doctors).to_owned();
    reads(&app, &doctor_token, &doctors, "the doctor").await;
    refused(
        &app,
        &nurse_token,
        &id,
        403,
        "the nurse (no allow selector)",
    )
    .await;
    let not_nurses = create(
        &app,
        &creator_token,
        &key_request(
            json!([sel("profile", "professional")]),
            Some(json!([sel("quality", "nurse")])),
            None,
            3600,
        ),
    )
    .await;
    let other_id = key_id(&not_nurses).to_owned();
    refused(&app, &nurse_token, &other_id, 403, "the nurse (denied)").await;

    let trail = events(&app, &[("key_id", &id)]).await;
    assert_eq!(
        names(&trail),
        ["refused", "granted", "created"],
        "newest first: {trail:?}"
    );
    for event in &trail {
        assert_eq!(event["keyId"], id.as_str(), "{event}");
        assert!(
            event["id"].is_string() || event["id"].is_number(),
            "{event}"
        );
        assert!(
            event["at"]
                .as_str()
                .is_some_and(|at| at.parse::<DateTime<Utc>>().is_ok()),
            "an RFC 3339 time: {event}"
        );
    }
    let times: Vec<DateTime<Utc>> = trail
        .iter()
        .map(|e| e["at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
    let (refusal, grant, creation) = (&trail[0], &trail[1], &trail[2]);
    assert_eq!(
        creation["actor"],
        json!({"identity": {"profile": "system", "cbe": CBE}, "client_id": "hospital-gw"}),
        "the creator: {creation}"
    );
    assert_eq!(
        grant["actor"],
        json!({"identity": jwt_claims(&doctor_token)["identity"], "client_id": "gp-app"}),
        "the doctor: {grant}"
    );
    assert_eq!(
        refusal["actor"],
        json!({"identity": jwt_claims(&nurse_token)["identity"], "client_id": "gp-app"}),
        "the nurse: {refusal}"
    );
    let no_allow_reason = refusal["reason"]
        .as_str()
        .unwrap_or_else(|| panic!("a refusal has a reason: {refusal}"));
    assert!(!no_allow_reason.is_empty(), "{refusal}");

    let denied = events(&app, &[("key_id", &other_id)]).await;
    assert_eq!(names(&denied), ["refused", "created"], "{denied:?}");
    let deny_reason = denied[0]["reason"]
        .as_str()
        .unwrap_or_else(|| panic!("a refusal has a reason: {}", denied[0]));
    assert!(
        deny_reason.contains("nurse"),
        "the reason names the deny selector that matched (quality nurse): {deny_reason}"
    );
    assert_ne!(
        deny_reason, no_allow_reason,
        "a deny and a missing allow are told apart"
    );

    // By identity: the nurse's SSIN finds her two refusals and nothing else.
    let nurses = events(
        &app,
        &[("identity_type", "ssin"), ("identity_value", &nurse)],
    )
    .await;
    assert_eq!(names(&nurses), ["refused", "refused"], "{nurses:?}");
    assert!(
        nurses
            .iter()
            .all(|e| e["actor"]["identity"]["ssin"] == nurse.as_str()),
        "{nurses:?}"
    );
    assert_eq!(nurses[0]["keyId"], other_id.as_str());
    assert_eq!(nurses[1]["keyId"], id.as_str());
    let doctors_events = events(
        &app,
        &[
            ("identity_type", "nihii"),
            ("identity_value", &doctor_nihii),
        ],
    )
    .await;
    assert_eq!(names(&doctors_events), ["granted"], "{doctors_events:?}");
    let creators = events(&app, &[("identity_type", "cbe"), ("identity_value", CBE)]).await;
    assert_eq!(names(&creators), ["created", "created"], "{creators:?}");

    // Paging one by one walks the same list.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let mut params = vec![("key_id", id.as_str()), ("limit", "1")];
        if let Some(cursor) = &cursor {
            params.push(("cursor", cursor));
        }
        let page = audit(&app, &params).await;
        let page_events = page["events"].as_array().unwrap();
        assert!(page_events.len() <= 1, "limit=1: {page}");
        paged.extend(page_events.iter().map(|e| e["id"].clone()));
        cursor = page["nextCursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert!(cursor.is_none(), "the pages end with a null nextCursor");
    let ids: Vec<Value> = trail.iter().map(|e| e["id"].clone()).collect();
    assert_eq!(
        paged, ids,
        "paging with limit=1 gives the same events in order"
    );

    let response = app
        .get(
            &format!("/admin/symkeys/audit?{}", query(&[("key_id", &id)])),
            &creator_token,
        )
        .await;
    assert_eq!(response.status(), 403, "a non-admin token");
}

#[tokio::test]
async fn the_purge_removes_expired_keys_and_they_stay_gone() {
    let app = symkeys_app().await;
    let (creator, creator_token) = system_creator(&app, "hospital-gw", CBE).await;
    let body = |ttl| key_request(json!([sel("cbe", CBE)]), None, None, ttl);
    let short = create(&app, &creator_token, &body(60)).await;
    let long = create(&app, &creator_token, &body(86_400)).await;
    let (short_id, long_id) = (key_id(&short).to_owned(), key_id(&long).to_owned());
    assert_eq!(stored_keys(&app).await, 2);

    let purged = depot::symkeys::store::purge_expired(&app.state.db, app.state.clock.now())
        .await
        .unwrap();
    assert_eq!(purged, 0, "nothing has expired yet");
    assert_eq!(stored_keys(&app).await, 2);

    app.clock.advance(61);
    let purged = depot::symkeys::store::purge_expired(&app.state.db, app.state.clock.now())
        .await
        .unwrap();
    assert!(purged >= 1, "the expired key is purged (got {purged})");
    let rows = entity::symmetric_key::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    let left: Vec<&str> = rows.iter().map(|r| r.key_id.as_str()).collect();
    assert_eq!(left, [long_id.as_str()], "only the live key is left");

    let trail = events(&app, &[("key_id", &short_id)]).await;
    assert_eq!(names(&trail).first(), Some(&"purged"), "{trail:?}");
    assert!(
        trail[0]["actor"].is_null(),
        "the purge has no actor: {}",
        trail[0]
    );
    assert!(
        !names(&events(&app, &[("key_id", &long_id)]).await).contains(&"purged"),
        "the live key is not purged"
    );

    let token = app.token_for(&creator, &[]).await;
    refused(&app, &token, &short_id, 410, "a purged key").await;
    reads(&app, &token, &long, "the live key").await;
}

#[tokio::test]
async fn the_key_at_rest_is_sealed() {
    let app = symkeys_app().await;
    let (_, token) = system_creator(&app, "hospital-gw", CBE).await;
    let created = create(
        &app,
        &token,
        &key_request(json!([sel("profile", "citizen")]), None, None, 3600),
    )
    .await;
    let raw = raw_key(&created["jwk"]);
    let rows = entity::symmetric_key::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    let row = rows
        .iter()
        .find(|r| r.key_id == key_id(&created))
        .unwrap_or_else(|| panic!("a row for {}", key_id(&created)));
    assert!(
        row.sealed.len() > raw.len(),
        "sealed bytes hold at least the key and a tag"
    );
    assert!(
        !row.sealed.windows(raw.len()).any(|w| w == raw.as_slice()),
        "the raw key bytes are not stored in the clear"
    );
    let k = created["jwk"]["k"].as_str().unwrap().as_bytes();
    assert!(
        !row.sealed.windows(k.len()).any(|w| w == k),
        "nor their base64url"
    );
}

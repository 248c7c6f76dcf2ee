//! Who reads a symmetric key under its access policy: selectors, deny over allow, expiry,
//! deletion by the creator alone, mandatees reading as their mandator, and CBE selectors
//! matching organization profiles and system clients.

use super::*;

#[tokio::test]
async fn the_policy_decides_who_reads_deny_wins_and_expiry_ends_it() {
    let app = symkeys_app().await;
    let (creator, creator_token) = system_creator(&app, "hospital-gw", CBE).await;
    let p = person(
        &app,
        "850730101",
        "Pia Peeters",
        json!([{"profile": "citizen"},
               {"profile": "professional", "quality": "physiotherapist", "nihii": nihii(111111, "528")}]),
    )
    .await;
    let d1_nihii = nihii(222222, "004");
    let d1 = person(
        &app,
        "850730102",
        "Dr. Dirk Janssens",
        json!([{"profile": "citizen"},
               {"profile": "professional", "quality": "doctor", "nihii": d1_nihii}]),
    )
    .await;
    let d2_nihii = nihii(333333, "004");
    let d2 = person(
        &app,
        "850730103",
        "Dr. Denise Maes",
        json!([{"profile": "professional", "quality": "doctor", "nihii": d2_nihii}]),
    )
    .await;
    let nurse = person(
        &app,
        "850730104",
        "Nora Claes",
        json!([{"profile": "professional", "quality": "nurse", "nihii": nihii(444444, "404")}]),
    )
    .await;
    let c = person(
        &app,
        "850730105",
        "Carl Wouters",
        json!([{"profile": "citizen"}]),
    )
    .await;
    let public = app
        .register_app("gp-app", false, APP_SCOPES, json!({}))
        .await;
    let confidential = app
        .register_app("hospital-app", true, APP_SCOPES, json!({}))
        .await;

    let ttl = 3600;
    let created = create(
        &app,
        &creator_token,
        &key_request(
            json!([sel("ssin", &p), sel("quality", "doctor")]),
            Some(json!([sel("nihii", &d2_nihii)])),
            None,
            ttl,
        ),
    )
    .await;
    let id = key_id(&created).to_owned();

    let p_citizen = person_token(&app, &public, &p, Some("citizen"), READ).await;
    reads(&app, &p_citizen, &created, "P as citizen (allowed by ssin)").await;
    let p_physio = person_token(
        &app,
        &confidential,
        &p,
        Some(&format!("professional:{}", nihii(111111, "528"))),
        READ,
    )
    .await;
    reads(
        &app,
        &p_physio,
        &created,
        "P as physiotherapist (the ssin selector matches any profile of P)",
    )
    .await;
    let d1_token = person_token(
        &app,
        &confidential,
        &d1,
        Some(&format!("professional:{d1_nihii}")),
        READ,
    )
    .await;
    reads(&app, &d1_token, &created, "doctor D1 (allowed by quality)").await;
    let nurse_token = person_token(&app, &public, &nurse, None, READ).await;
    refused(&app, &nurse_token, &id, 403, "a nurse (no allow selector)").await;
    let d2_token = person_token(&app, &confidential, &d2, None, READ).await;
    refused(
        &app,
        &d2_token,
        &id,
        403,
        "doctor D2 (allowed as doctor, denied by nihii: deny wins)",
    )
    .await;
    let c_token = person_token(&app, &public, &c, None, READ).await;
    refused(&app, &c_token, &id, 403, "citizen C (not in the policy)").await;
    let d1_citizen = person_token(&app, &public, &d1, Some("citizen"), READ).await;
    refused(
        &app,
        &d1_citizen,
        &id,
        403,
        "D1 as citizen (the quality selector needs the professional profile)",
    )
    .await;
    reads(
        &app,
        &creator_token,
        &created,
        "the creator (system client)",
    )
    .await;

    // Past the ttl: gone for everyone, the creator too (fresh tokens, the old ones
    // would have expired with the clock).
    app.clock.advance(ttl as i64 + 1);
    let creator_token = app.token_for(&creator, &[]).await;
    refused(&app, &creator_token, &id, 410, "the creator after expiry").await;
    let p_citizen = person_token(&app, &public, &p, Some("citizen"), READ).await;
    refused(&app, &p_citizen, &id, 410, "P after expiry").await;
}

#[tokio::test]
async fn only_the_creator_deletes_and_a_deleted_key_is_gone() {
    let app = symkeys_app().await;
    let creator_nihii = nihii(555555, "004");
    let creator = person(
        &app,
        "790214201",
        "Dr. Els Claes",
        json!([{"profile": "citizen"},
               {"profile": "professional", "quality": "doctor", "nihii": creator_nihii}]),
    )
    .await;
    let other = person(
        &app,
        "790214202",
        "Dr. Olaf Smet",
        json!([{"profile": "professional", "quality": "doctor", "nihii": nihii(666666, "004")}]),
    )
    .await;
    let reader = person(
        &app,
        "790214203",
        "Rita Goossens",
        json!([{"profile": "citizen"}]),
    )
    .await;
    let public = app
        .register_app("gp-app", false, APP_SCOPES, json!({}))
        .await;
    let confidential = app
        .register_app("hospital-app", true, APP_SCOPES, json!({}))
        .await;
    let as_doctor = format!("professional:{creator_nihii}");
    let creator_token = person_token(&app, &public, &creator, Some(&as_doctor), CREATE).await;
    let other_token = person_token(&app, &public, &other, None, CREATE).await;
    let reader_token = person_token(&app, &confidential, &reader, None, READ).await;

    let body = key_request(json!([sel("ssin", &reader)]), None, None, 3600);
    let a = create(&app, &creator_token, &body).await;
    let b = create(&app, &creator_token, &body).await;
    let (a_id, b_id) = (key_id(&a).to_owned(), key_id(&b).to_owned());
    reads(&app, &reader_token, &a, "the reader before the deletion").await;
    // The creator is known by SSIN: as citizen, through another client, it still reads.
    let creator_as_citizen =
        person_token(&app, &confidential, &creator, Some("citizen"), READ).await;
    reads(
        &app,
        &creator_as_citizen,
        &a,
        "the creator as citizen through another client",
    )
    .await;

    problem(
        delete(&app, &other_token, &b_id).await,
        404,
        "DELETE by another doctor",
    )
    .await;
    reads(
        &app,
        &reader_token,
        &b,
        "the reader after someone else's DELETE",
    )
    .await;

    let response = delete(&app, &creator_token, &a_id).await;
    assert_eq!(response.status(), 204, "the creator deletes its key");
    refused(&app, &reader_token, &a_id, 410, "the reader after deletion").await;
    refused(
        &app,
        &creator_token,
        &a_id,
        410,
        "the creator after deletion",
    )
    .await;
    problem(
        delete(&app, &creator_token, &a_id).await,
        410,
        "a second DELETE by the creator",
    )
    .await;
    problem(
        delete(&app, &other_token, &a_id).await,
        404,
        "DELETE of the deleted key by someone else: no hint that it existed",
    )
    .await;
    reads(&app, &reader_token, &b, "the other key is untouched").await;

    let unknown = uuid::Uuid::new_v4().to_string();
    problem(
        delete(&app, &creator_token, &unknown).await,
        404,
        "DELETE of an unknown key",
    )
    .await;
    refused(&app, &reader_token, &unknown, 404, "GET of an unknown key").await;
    refused(&app, &reader_token, "not-a-uuid", 404, "GET of a non-UUID").await;

    let a_events = events(&app, &[("key_id", &a_id)]).await;
    let a_names = names(&a_events);
    assert!(
        a_names.contains(&"deleted") && a_names.contains(&"gone"),
        "the audit of the deleted key has deleted and gone: {a_events:?}"
    );
    let deleted = a_events.iter().find(|e| e["event"] == "deleted").unwrap();
    assert_eq!(
        deleted["actor"]["identity"]["ssin"], creator,
        "the creator deleted it: {deleted}"
    );
    let unknown_events = events(&app, &[("key_id", &unknown)]).await;
    assert!(
        names(&unknown_events).contains(&"unknown"),
        "a GET of an unknown UUID is audited as unknown: {unknown_events:?}"
    );
}

#[tokio::test]
async fn a_mandatee_reads_as_its_mandator_only_when_the_policy_says_so() {
    let app = symkeys_app().await;
    let (_, creator_token) = system_creator(&app, "hospital-gw", CBE).await;
    let m = person(
        &app,
        "600101201",
        "Maria Mertens",
        json!([{"profile": "citizen"}]),
    )
    .await;
    let x = person(
        &app,
        "850730201",
        "Xavier Mertens",
        json!([{"profile": "citizen"},
               {"profile": "mandatee", "mandator": sel("ssin", &m)}]),
    )
    .await;
    let public = app
        .register_app("gp-app", false, APP_SCOPES, json!({}))
        .await;
    let as_mandatee = format!("mandatee:ssin:{m}");
    let x_mandatee = person_token(&app, &public, &x, Some(&as_mandatee), READ).await;
    assert_eq!(
        jwt_claims(&x_mandatee)["identity"],
        json!({"profile": "mandatee", "ssin": x, "mandator": sel("ssin", &m)})
    );
    let x_citizen = person_token(&app, &public, &x, Some("citizen"), READ).await;
    let m_token = person_token(&app, &public, &m, None, READ).await;

    let for_m = |flag: Option<bool>| key_request(json!([sel("ssin", &m)]), None, flag, 3600);
    let plain = create(&app, &creator_token, &for_m(None)).await;
    reads(&app, &m_token, &plain, "M herself").await;
    refused(
        &app,
        &x_mandatee,
        key_id(&plain),
        403,
        "X as mandatee of M, without mandateesAsMandator",
    )
    .await;
    let explicit_false = create(&app, &creator_token, &for_m(Some(false))).await;
    refused(
        &app,
        &x_mandatee,
        key_id(&explicit_false),
        403,
        "X as mandatee of M, mandateesAsMandator false",
    )
    .await;
    let flagged = create(&app, &creator_token, &for_m(Some(true))).await;
    reads(
        &app,
        &x_mandatee,
        &flagged,
        "X as mandatee of M, with mandateesAsMandator",
    )
    .await;
    refused(
        &app,
        &x_citizen,
        key_id(&flagged),
        403,
        "X as citizen is not M's mandatee",
    )
    .await;

    // A mandatee is always judged by its own SSIN; as its mandator only through
    // identifier selectors (M is a citizen, but a mandatee is not M's citizen profile).
    let own = create(
        &app,
        &creator_token,
        &key_request(json!([sel("ssin", &x)]), None, None, 3600),
    )
    .await;
    reads(&app, &x_mandatee, &own, "X as mandatee, by X's own SSIN").await;
    let citizens = create(
        &app,
        &creator_token,
        &key_request(json!([sel("profile", "citizen")]), None, Some(true), 3600),
    )
    .await;
    refused(
        &app,
        &x_mandatee,
        key_id(&citizens),
        403,
        "X as mandatee of citizen M, policy allow [profile citizen] with the flag",
    )
    .await;

    // The mandator's identifier is matched by deny selectors too, under the flag only.
    let deny_m = |flag: bool| {
        key_request(
            json!([sel("profile", "mandatee")]),
            Some(json!([sel("ssin", &m)])),
            Some(flag),
            3600,
        )
    };
    let denied = create(&app, &creator_token, &deny_m(true)).await;
    refused(
        &app,
        &x_mandatee,
        key_id(&denied),
        403,
        "X as mandatee of M: allowed as mandatee, denied as M (flag set)",
    )
    .await;
    let not_denied = create(&app, &creator_token, &deny_m(false)).await;
    reads(
        &app,
        &x_mandatee,
        &not_denied,
        "X as mandatee: the deny of M does not apply without the flag",
    )
    .await;
}

#[tokio::test]
async fn a_cbe_selector_matches_an_organization_profile_and_a_system_client_of_it() {
    let app = symkeys_app().await;
    let other_cbe = cbe("04123456");
    let (_, ours) = system_creator(&app, "hospital-gw", CBE).await;
    let (_, theirs) = system_creator(&app, "lab-gw", &other_cbe).await;
    let doctor_nihii = nihii(121212, "004");
    let doctor = person(
        &app,
        "850730601",
        "Dr. Dirk Janssens",
        json!([{"profile": "professional", "quality": "doctor", "nihii": doctor_nihii}]),
    )
    .await;
    let employee = person(
        &app,
        "850730602",
        "Eva Lambrechts",
        json!([{"profile": "citizen"}, {"profile": "organization", "cbe": other_cbe}]),
    )
    .await;
    let client = app
        .register_app("gp-app", false, APP_SCOPES, json!({}))
        .await;
    let creator_token = person_token(&app, &client, &doctor, None, CREATE).await;
    let created = create(
        &app,
        &creator_token,
        &key_request(json!([sel("cbe", &other_cbe)]), None, None, 3600),
    )
    .await;
    let id = key_id(&created);

    let as_org = person_token(
        &app,
        &client,
        &employee,
        Some(&format!("organization:{other_cbe}")),
        READ,
    )
    .await;
    reads(
        &app,
        &as_org,
        &created,
        "the organization profile of that CBE",
    )
    .await;
    let as_citizen = person_token(&app, &client, &employee, Some("citizen"), READ).await;
    refused(&app, &as_citizen, id, 403, "the same person as citizen").await;
    reads(&app, &theirs, &created, "a system client of that CBE").await;
    refused(&app, &ours, id, 403, "a system client of another CBE").await;
    reads(&app, &creator_token, &created, "the creator (a doctor)").await;
}

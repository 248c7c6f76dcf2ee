//! Whose boxes a token reads (API.md "Depot"): a professional's SSIN and NIHII boxes (a
//! message addressed to both listed once, also page by page), a mandatee's mandator's
//! box, an organization profile's CBE box; a person's sent box through any profile and
//! client; removing a message from one's own boxes only.

use serde_json::json;

use super::*;
use crate::forms::nihii;
use crate::keys::problem;
use crate::symkeys::{cbe, key_id, key_request, person, person_token, raw_key, sel};

#[tokio::test]
async fn professionals_read_their_nihii_box_and_mandatees_their_mandators() {
    let app = depot_app().await;
    let sender = system_party(&app, "hospital-gw", "03123456").await;
    let client = app
        .register_app("depot-app", false, APP_SCOPES, json!({}))
        .await;
    let d_nihii = nihii(777_777, "004");
    let (doctor, d_token) = doctor(&app, &client, "850730601", "Dr. Dora Wouters", &d_nihii).await;
    let mandator = person(
        &app,
        "850730602",
        "Marc Claes",
        json!([{"profile": "citizen"}]),
    )
    .await;
    let mandatee = person(
        &app,
        "850730603",
        "Mia Claes",
        json!([{"profile": "citizen"},
               {"profile": "mandatee", "mandator": {"type": "ssin", "value": mandator}}]),
    )
    .await;
    let m_token = person_token(
        &app,
        &client,
        &mandatee,
        Some(&format!("mandatee:ssin:{mandator}")),
        PERSON_SCOPE,
    )
    .await;
    let m_citizen = person_token(&app, &client, &mandatee, Some("citizen"), PERSON_SCOPE).await;
    let by_nihii = identifier("nihii", &d_nihii);
    let by_ssin = identifier("ssin", &doctor);
    let to_mandator = identifier("ssin", &mandator);

    let to_nihii = send_small(&app, &sender, "ehbox", &[&by_nihii], "to the NIHII").await;
    let to_ssin = send_small(&app, &sender, "ehbox", &[&by_ssin], "to the SSIN").await;
    let shared = send_small(
        &app,
        &sender,
        "ehbox",
        &[&by_nihii, &to_mandator],
        "to both",
    )
    .await;
    let for_mandator = send_small(&app, &sender, "ehbox", &[&to_mandator], "to Marc").await;

    let twice = send_small(
        &app,
        &sender,
        "ehbox",
        &[&by_ssin, &by_nihii],
        "to both of hers",
    )
    .await;

    // The professional reads both the NIHII and the SSIN box; a message addressed to
    // both is listed once, also when paging one at a time.
    let inbox = list(&app, &d_token, "").await;
    let expected = [to_nihii.clone(), to_ssin, shared.clone(), twice.clone()];
    assert_eq!(listed_ids(&inbox), expected);
    assert_eq!(
        item(&inbox, &twice)["receipts"].as_array().unwrap().len(),
        2,
        "both of its receipts: {inbox}"
    );
    let mut paged = Vec::new();
    let mut cursor = "0".to_owned();
    for _ in 0..6 {
        let page = list(&app, &d_token, &format!("limit=1&cursor={cursor}")).await;
        paged.extend(listed_ids(&page));
        cursor = next_cursor(&page);
    }
    assert_eq!(paged, expected, "each once, in order");
    let receipts = &item(&inbox, &shared)["receipts"];
    assert_eq!(
        receipts.as_array().unwrap().len(),
        1,
        "its own receipt only: {receipts}"
    );
    assert_eq!(receipts[0]["recipient"], by_nihii);
    fetched(&app, &d_token, &to_nihii, "the doctor").await;

    // The mandatee reads the mandator's box, and records the mandator's receipt.
    let inbox = list(&app, &m_token, "").await;
    assert_eq!(listed_ids(&inbox), [shared.clone(), for_mandator.clone()]);
    let got = fetched(&app, &m_token, &for_mandator, "the mandatee").await;
    assert_eq!(got["receipts"][0]["recipient"], to_mandator);
    assert!(got["receipts"][0]["receivedAt"].is_string(), "{got}");
    assert_eq!(mark_read(&app, &m_token, &for_mandator).await.status(), 204);
    // As a citizen, the same person reads only their own box.
    assert!(listed_ids(&list(&app, &m_citizen, "").await).is_empty());
    problem(
        fetch(&app, &m_citizen, &for_mandator).await,
        404,
        "as a citizen",
    )
    .await;

    // Removed from the doctor's box: 404 for the doctor, still there for the other
    // recipient and in the sender's sent box.
    assert_eq!(remove(&app, &d_token, &shared).await.status(), 204);
    problem(fetch(&app, &d_token, &shared).await, 404, "after removing").await;
    problem(remove(&app, &d_token, &shared).await, 404, "removing twice").await;
    problem(
        mark_read(&app, &d_token, &shared).await,
        404,
        "reading removed",
    )
    .await;
    assert!(!listed_ids(&list(&app, &d_token, "").await).contains(&shared));
    fetched(&app, &m_token, &shared, "the other recipient").await;
    assert!(listed_ids(&list(&app, &sender.token, "box=sent").await).contains(&shared));
    let summary = box_summary(&app, &d_token).await;
    assert_eq!(summary["messages"], 3, "{summary}");
    assert_eq!(summary["unread"], 3, "{summary}");
    // Removing a message addressed to both of her boxes removes it from both.
    assert_eq!(remove(&app, &d_token, &twice).await.status(), 204);
    problem(
        fetch(&app, &d_token, &twice).await,
        404,
        "removed from both",
    )
    .await;
    assert_eq!(box_summary(&app, &d_token).await["messages"], 2);
}

#[tokio::test]
async fn an_organization_reads_its_cbe_box_and_a_sent_box_follows_the_person() {
    let app = depot_app().await;
    let gateway = system_party(&app, "hospital-gw", "03123456").await;
    let first_app = app
        .register_app("depot-app", false, APP_SCOPES, json!({}))
        .await;
    let second_app = app
        .register_app("other-app", false, APP_SCOPES, json!({}))
        .await;
    let lab = cbe("07123456");
    app.register_organization(&lab, "Lab Sint-Jan").await;
    let olga = person(
        &app,
        "850730701",
        "Olga Janssens",
        json!([{"profile": "citizen"}, {"profile": "organization", "cbe": lab}]),
    )
    .await;
    let as_lab = person_token(
        &app,
        &first_app,
        &olga,
        Some(&format!("organization:{lab}")),
        PERSON_SCOPE,
    )
    .await;
    let as_citizen = person_token(&app, &second_app, &olga, Some("citizen"), PERSON_SCOPE).await;

    // The organization profile reads the CBE box and the person's own.
    let to_lab = send_small(
        &app,
        &gateway,
        "ehbox",
        &[&identifier("cbe", &lab)],
        "to the lab",
    )
    .await;
    let to_olga = send_small(
        &app,
        &gateway,
        "ehbox",
        &[&identifier("ssin", &olga)],
        "to Olga",
    )
    .await;
    assert_eq!(
        listed_ids(&list(&app, &as_lab, "").await),
        [to_lab.clone(), to_olga.clone()]
    );
    assert_eq!(listed_ids(&list(&app, &as_citizen, "").await), [to_olga]);
    problem(
        fetch(&app, &as_citizen, &to_lab).await,
        404,
        "the CBE box as a citizen",
    )
    .await;
    fetched(&app, &as_lab, &to_lab, "the lab").await;

    // Sent as the lab through one app (sealed to a symmetric key: Olga has no key of her
    // own), it is in her sent box as a citizen through another app.
    let created = crate::symkeys::create(
        &app,
        &gateway.token,
        &key_request(json!([sel("cbe", &lab)]), None, None, 3600),
    )
    .await;
    let sealed = seal_to_symkey(b"from the lab", key_id(&created), &raw_key(&created["jwk"]));
    let answer = send(
        &app,
        &as_lab,
        &message("ehbox", &[&gateway.id], &quoted(&sealed)),
    )
    .await;
    assert_eq!(
        answer["sender"]["identity"],
        json!({"profile": "organization", "cbe": lab, "ssin": olga}),
        "{answer}"
    );
    let sent = answer["id"].as_str().unwrap().to_owned();
    assert_eq!(
        listed_ids(&list(&app, &as_citizen, "box=sent").await),
        [sent.as_str()]
    );
    let got = fetched(&app, &as_citizen, &sent, "Olga as a citizen, its sender").await;
    assert_eq!(got["sealed"], sealed.as_str());
    fetched(&app, &gateway.token, &sent, "the gateway, its recipient").await;
    assert!(!listed_ids(&list(&app, &gateway.token, "box=sent").await).contains(&sent));
}

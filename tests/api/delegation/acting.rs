//! A delegated token at the depot: it reads the consumer's CBE box (which the
//! supplier's own token does not) and sends for the consumer, the message's sender
//! claims carrying `act`; once the delegation ends the depot refuses the token, at
//! once at the instance where it was ended and within seconds at another instance.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::depot::jose::seal_compact;
use crate::depot::*;

/// The consumer, the supplier and a third organization, each with a system client and
/// an `enc` key (`crate::depot::system_party`); the delegation from the consumer to
/// the supplier for the depot; and the supplier's token acting for the consumer.
struct Scene {
    consumer: Party,
    supplier: Party,
    third: Party,
    delegation: Value,
    delegated: String,
}

async fn scene(app: &TestApp) -> Scene {
    let consumer = system_party(app, "consumer-gw", CONSUMER8).await;
    let supplier = system_party(app, "supplier-gw", SUPPLIER8).await;
    let third = system_party(app, "third-gw", OTHER8).await;
    let consumer_cbe = consumer.id["value"].as_str().unwrap().to_owned();
    let supplier_cbe = supplier.id["value"].as_str().unwrap().to_owned();
    let delegation = delegate(
        app,
        &delegation(&consumer_cbe, &supplier_cbe, &["depot:send", "depot:read"]),
    )
    .await;
    let delegated = app
        .token_for(
            supplier.client.as_ref().unwrap(),
            &[("consumer", &consumer_cbe)],
        )
        .await;
    Scene {
        consumer,
        supplier,
        third,
        delegation,
        delegated,
    }
}

#[tokio::test]
async fn the_supplier_reads_and_sends_for_the_consumer() {
    let app = depot_app().await;
    let s = scene(&app).await;
    let application = unique_application("delegation");

    // A message to the consumer's CBE is in the consumer's box: listed for the
    // delegated token (and the consumer's own), not for the supplier's own token.
    let to_consumer = send_small(
        &app,
        &s.third,
        &application,
        &[&s.consumer.id],
        "to consumer",
    )
    .await;
    let query = format!("application={application}");
    assert_eq!(
        listed_ids(&list(&app, &s.delegated, &query).await),
        [to_consumer.as_str()]
    );
    assert_eq!(
        listed_ids(&list(&app, &s.consumer.token, &query).await),
        [to_consumer.as_str()]
    );
    assert!(listed_ids(&list(&app, &s.supplier.token, &query).await).is_empty());
    assert_eq!(box_summary(&app, &s.delegated).await["messages"], 1);
    let fetched = fetched(
        &app,
        &s.delegated,
        &to_consumer,
        "the supplier for the consumer",
    )
    .await;
    assert_eq!(fetched["id"], to_consumer);
    assert_eq!(
        fetch(&app, &s.supplier.token, &to_consumer).await.status(),
        404
    );

    // Sent for the consumer: the sender is the consumer, acted for by the supplier.
    let sealed = seal_compact(b"for the consumer", s.third.key());
    let answer = send(
        &app,
        &s.delegated,
        &message(&application, &[&s.third.id], &quoted(&sealed)),
    )
    .await;
    let id = answer["id"].as_str().unwrap().to_owned();
    let expected_act = json!({
        "sub": "supplier-gw", "client_id": "supplier-gw",
        "cbe": s.supplier.id["value"], "iss": app.issuer,
    });
    assert_eq!(answer["sender"]["act"], expected_act, "{answer}");
    let read = fetched_text(&app, &s.third.token, &id, "the recipient").await;
    let read: Value = serde_json::from_str(&read).unwrap();
    assert_eq!(read["sender"]["act"], expected_act, "{read}");
    assert_eq!(
        read["sender"]["identity"],
        json!({"profile": "system", "cbe": s.consumer.id["value"]})
    );
    assert_eq!(read["sender"]["client_id"], "supplier-gw");
    let listing = list(&app, &s.third.token, &query).await;
    assert_eq!(
        item(&listing, &id)["sender"]["identity"]["cbe"],
        s.consumer.id["value"]
    );
    // The supplier's client keeps it in its own sent box.
    let sent = list(&app, &s.delegated, &format!("box=sent&{query}")).await;
    assert_eq!(listed_ids(&sent), [id.as_str()]);
    assert!(s.delegation["id"].is_string());
}

#[tokio::test]
async fn an_ended_delegation_is_honoured_by_every_instance() {
    let a = depot_app().await;
    let b = spawn_second_instance(&a).await;
    let s = scene(&a).await;
    // Both instances accept the token (and B remembers the delegation in force).
    assert_eq!(depot_status(&a, &s.delegated).await, 200);
    assert_eq!(depot_status(&b, &s.delegated).await, 200);

    let id = s.delegation["id"].as_str().unwrap();
    assert_eq!(end(&a, id).await.status(), 204);
    assert_eq!(depot_status(&a, &s.delegated).await, 401, "at once at A");
    // B refuses it within a few seconds (it may remember the delegation for 2 s).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let status = depot_status(&b, &s.delegated).await;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            tokio::time::Instant::now() < deadline,
            "B still accepts the token of an ended delegation"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Sending is refused too, and no new token is issued at either instance.
    let sealed = seal_compact(b"too late", s.third.key());
    let body = message("ehbox", &[&s.third.id], &quoted(&sealed));
    assert_eq!(
        post_message(&b, &s.delegated, &body, None).await.status(),
        401
    );
    for app in [&a, &b] {
        expect_oauth_error(
            ask(
                app,
                s.supplier.client.as_ref().unwrap(),
                &[("consumer", s.consumer.id["value"].as_str().unwrap())],
            )
            .await,
            400,
            "unauthorized_client",
        )
        .await;
    }
    // The supplier's own token is untouched.
    assert_eq!(depot_status(&b, &s.supplier.token).await, 200);
}

//! `GET /depot/box` from running totals (issue 25): after every change a box can see
//! (new messages, reading, removing, both at once, expiry, the purge) the summary
//! equals a count made here from the box entries themselves, for a professional who
//! reads two boxes (a message addressed to both counted once) and for an organization.

use std::collections::HashMap;

use chrono::Duration as Span;
use futures_util::future::join_all;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::*;
use crate::forms::nihii;

/// What the summary must say about these boxes, counted from their entries: live
/// inbox entries of unexpired messages, a message once however many of the boxes hold
/// it, unread when one of its entries is.
async fn counted(app: &TestApp, boxes: &[String]) -> (i64, i64, i64) {
    use entity::box_entry::Column as E;
    let now = app.clock.now();
    let entries = entity::box_entry::Entity::find()
        .filter(E::BoxKey.is_in(boxes.iter().map(String::as_str)))
        .filter(E::Folder.eq("inbox"))
        .filter(E::DeletedAt.is_null())
        .all(&app.state.db)
        .await
        .unwrap();
    let mut messages: HashMap<String, (i64, bool)> = HashMap::new();
    for e in entries {
        let live = entity::message::Entity::find_by_id(e.message_id.clone())
            .filter(entity::message::Column::ExpiresAt.gt(now))
            .one(&app.state.db)
            .await
            .unwrap()
            .is_some();
        if live {
            let m = messages.entry(e.message_id).or_insert((e.size, false));
            m.1 |= e.read_at.is_none();
        }
    }
    let bytes = messages.values().map(|m| m.0).sum();
    let unread = messages.values().filter(|m| m.1).count() as i64;
    (messages.len() as i64, unread, bytes)
}

/// Asserts that the summary agrees with the count; answers the count.
async fn agrees(app: &TestApp, token: &str, boxes: &[String], step: &str) -> (i64, i64, i64) {
    let expected = counted(app, boxes).await;
    let summary = box_summary(app, token).await;
    let got = (
        summary["messages"].as_i64().unwrap(),
        summary["unread"].as_i64().unwrap(),
        summary["bytes"].as_i64().unwrap(),
    );
    assert_eq!(
        got, expected,
        "{step}: (messages, unread, bytes) of {boxes:?}"
    );
    got
}

#[tokio::test]
async fn the_box_summary_follows_every_change_of_its_boxes() {
    let app = depot_app().await;
    let mut sender = system_party(&app, "hospital-gw", "03123456").await;
    let mut lab = system_party(&app, "lab-gw", "05123456").await;
    let client = app
        .register_app("depot-app", false, APP_SCOPES, json!({}))
        .await;
    let d_nihii = nihii(777_778, "004");
    let (doctor, token) = doctor(&app, &client, "850730604", "Dr. Dirk Peeters", &d_nihii).await;
    let hers = [format!("ssin:{doctor}"), format!("nihii:{d_nihii}")];
    let labs = [format!("cbe:{}", lab.id["value"].as_str().unwrap())];
    let (by_ssin, by_nihii) = (identifier("ssin", &doctor), identifier("nihii", &d_nihii));
    let to_lab = lab.id.clone();

    assert_eq!(agrees(&app, &token, &hers, "empty").await, (0, 0, 0));
    let one = send_small(&app, &sender, "ehbox", &[&by_nihii], "to the NIHII").await;
    send_small(&app, &sender, "ehbox", &[&by_ssin], "to the SSIN").await;
    let both = send_small(&app, &sender, "ehbox", &[&by_ssin, &by_nihii], "both").await;
    let three = send_small(
        &app,
        &sender,
        "ehbox",
        &[&by_ssin, &by_nihii, &to_lab],
        "both and the lab",
    )
    .await;
    send_small(&app, &sender, "ehbox", &[&to_lab], "the lab's").await;
    let soon = (app.clock.now() + Span::seconds(120)).to_rfc3339();
    let sealed = quoted(&seal_compact(b"short-lived", sender.key()));
    send(
        &app,
        &sender.token,
        &message_with(
            "ehbox",
            &[&by_ssin, &by_nihii, &to_lab],
            &sealed,
            &[("expiresAt", json!(soon))],
        ),
    )
    .await;
    assert_eq!(agrees(&app, &token, &hers, "sent").await.0, 5);
    assert_eq!(agrees(&app, &lab.token, &labs, "sent").await.0, 3);

    for id in [&one, &both] {
        assert_eq!(mark_read(&app, &token, id).await.status(), 204);
    }
    assert_eq!(mark_read(&app, &token, &both).await.status(), 204, "again");
    assert_eq!(agrees(&app, &token, &hers, "read").await.1, 3);

    // Read and removed at the same moment, each message is counted out once.
    let mut raced = Vec::new();
    for i in 0..12 {
        raced.push(
            send_small(
                &app,
                &sender,
                "ehbox",
                &[&by_ssin, &by_nihii],
                &format!("{i}"),
            )
            .await,
        );
    }
    agrees(&app, &token, &hers, "before the race").await;
    let calls = raced.iter().flat_map(|id| {
        let (token, app) = (&token, &app);
        [
            Box::pin(async move { mark_read(app, token, id).await.status() })
                as std::pin::Pin<Box<dyn std::future::Future<Output = _>>>,
            Box::pin(async move { remove(app, token, id).await.status() }),
        ]
    });
    for status in join_all(calls).await {
        assert!(status == 204 || status == 404, "{status}");
    }
    assert_eq!(agrees(&app, &token, &hers, "after the race").await.0, 5);

    // Removed by the doctor, a message stays counted in the lab's box.
    assert_eq!(remove(&app, &token, &three).await.status(), 204);
    assert_eq!(agrees(&app, &token, &hers, "removed").await.0, 4);
    assert_eq!(
        agrees(&app, &lab.token, &labs, "removed elsewhere").await.0,
        3
    );

    // Expired, a message leaves the summary at once, before the purge takes it.
    app.clock.advance(150);
    sender.refresh(&app).await;
    lab.refresh(&app).await;
    assert_eq!(agrees(&app, &token, &hers, "expired").await.0, 3);
    assert_eq!(agrees(&app, &lab.token, &labs, "expired").await.0, 2);
    depot::depot::store::purge(&app.state.db, app.clock.now())
        .await
        .unwrap();
    assert_eq!(agrees(&app, &token, &hers, "purged").await.0, 3);
    assert_eq!(agrees(&app, &lab.token, &labs, "purged").await.0, 2);
}

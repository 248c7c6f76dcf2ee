//! The outbox table on its own (no broker needed).

use chrono::{Duration, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, IntoActiveModel};

use crate::helpers::{TestDb, all_rows, enqueue, notification, pending, unique};

#[tokio::test]
async fn enqueue_pending_and_purge() {
    let test = TestDb::sqlite().await;
    let db = &test.db;
    let app = unique("app");
    enqueue(db, &app, 0..3).await;
    assert_eq!(pending(db).await, 3);

    let rows = all_rows(db).await;
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].routing_key, format!("message.received.{app}"));
    let body: queues::MessageReceived = serde_json::from_str(&rows[0].payload).unwrap();
    assert_eq!(body, notification(&app, 0));

    // Two sent (one long ago, one just now), one still pending.
    let now = Utc::now();
    for (row, sent_at) in rows.iter().take(2).zip([now - Duration::days(8), now]) {
        let mut row = row.clone().into_active_model();
        row.sent_at = Set(Some(sent_at));
        row.update(db).await.unwrap();
    }
    assert_eq!(pending(db).await, 1);
    let purged = queues::outbox::purge_sent(db, now - Duration::days(7))
        .await
        .unwrap();
    assert_eq!(purged, 1);
    assert_eq!(all_rows(db).await.len(), 2);
    assert_eq!(pending(db).await, 1);
    test.finish().await;
}

#[tokio::test]
async fn an_application_too_long_for_a_routing_key_is_refused() {
    let test = TestDb::sqlite().await;
    let long = "x".repeat(250);
    let result = queues::outbox::enqueue(&test.db, &notification(&long, 0), Utc::now()).await;
    assert!(result.is_err());
    assert_eq!(pending(&test.db).await, 0);
    test.finish().await;
}

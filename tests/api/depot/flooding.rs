//! A box flooded with tiny messages (issue 22, review item 3): its summary is answered
//! whatever the number of messages (70,000 made `GET /depot/box` fail: one bound
//! parameter per message, past SQLite's and PostgreSQL's limits; it now reads the box's
//! running totals, issue 25); and the box still lists; a box holds
//! at most its quota of messages, however small; and a sender posting past its rate
//! waits (429 with `Retry-After`), nothing stored.

use sea_orm::ConnectionTrait;

use super::*;
use crate::keys::problem;

const FLOOD: u32 = 70_000;

#[tokio::test]
async fn a_box_of_seventy_thousand_messages_is_summed() {
    let app = depot_app().await;
    let sender = system_party(&app, "hospital-gw", "03123456").await;
    let recipient = system_party(&app, "gp-gw", "05123456").await;
    send_small(&app, &sender, "ehbox", &[&recipient.id], "the first").await;
    // The flood, written straight into the store: copies of that message and of its
    // inbox entry, and the box's running totals raised as the depot would (posting
    // 70,000 messages would take the test minutes).
    let copies = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {FLOOD})"
    );
    let db = &app.state.db;
    db.execute_unprepared(&format!(
        "{copies} INSERT INTO message (id, application, sender_owner, sender, sealed, \
         sealed_is_json, size, recipients, metadata, timestamp, received_at, expires_at) \
         SELECT m.id || '-' || n.i, m.application, m.sender_owner, m.sender, m.sealed, \
         m.sealed_is_json, m.size, m.recipients, m.metadata, m.timestamp, m.received_at, \
         m.expires_at FROM message m, n"
    ))
    .await
    .unwrap();
    db.execute_unprepared(&format!(
        "{copies} INSERT INTO box_entry (xid, message_id, box_key, folder, application, \
         recipient, size, received_at) \
         SELECT e.xid, e.message_id || '-' || n.i, e.box_key, e.folder, e.application, \
         e.recipient, e.size, e.received_at FROM box_entry e, n WHERE e.folder = 'inbox'"
    ))
    .await
    .unwrap();
    db.execute_unprepared(&format!(
        "UPDATE box_usage_stripe SET messages = messages + {FLOOD}, \
         unread = unread + {FLOOD}, bytes = bytes + {FLOOD} * bytes \
         WHERE box_key = 'cbe:{}' AND messages = 1",
        recipient.id["value"].as_str().unwrap()
    ))
    .await
    .unwrap();

    let summary = box_summary(&app, &recipient.token).await;
    let total = u64::from(FLOOD) + 1;
    assert_eq!(summary["messages"], total, "{summary}");
    assert_eq!(summary["unread"], total, "{summary}");
    let size = summary["bytes"].as_u64().unwrap() / total;
    assert!(size > 100, "each message counted with its size: {summary}");
    let page = list(&app, &recipient.token, "limit=500").await;
    assert_eq!(listed_ids(&page).len(), 500, "the box still lists");
}

#[tokio::test]
async fn a_box_holds_at_most_its_quota_of_messages() {
    let app = depot_app_with(|s| s.depot.box_quota_messages = 2).await;
    let sender = system_party(&app, "hospital-gw", "03123456").await;
    let recipient = system_party(&app, "gp-gw", "05123456").await;
    let roomy = identifier("cbe", &crate::symkeys::cbe("06123456"));
    let first = send_small(&app, &sender, "ehbox", &[&recipient.id], "one").await;
    send_small(&app, &sender, "ehbox", &[&recipient.id], "two").await;

    let sealed = quoted(&seal_compact(b"three", sender.key()));
    let response = post_message(
        &app,
        &sender.token,
        &message("ehbox", &[&roomy, &recipient.id], &sealed),
        None,
    )
    .await;
    let body = problem(response, 422, "a box at its message quota").await;
    assert_eq!(body["field"], "recipients[1]", "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("2 of 2 messages"),
        "{body}"
    );
    assert_eq!(stored(&app).await, (2, 2), "nothing more stored");

    assert_eq!(remove(&app, &recipient.token, &first).await.status(), 204);
    send(
        &app,
        &sender.token,
        &message("ehbox", &[&roomy, &recipient.id], &sealed),
    )
    .await;
}

#[tokio::test]
async fn a_sender_past_its_rate_waits_and_its_retries_are_not_counted() {
    let app = depot_app_with(|s| {
        s.depot.sender_rate_per_minute = 60;
        s.depot.sender_burst = 2;
    })
    .await;
    let sender = system_party(&app, "hospital-gw", "03123456").await;
    let other = system_party(&app, "lab-gw", "04123456").await;
    let recipient = system_party(&app, "gp-gw", "05123456").await;
    let body = |party: &Party, text: &str| {
        let sealed = seal_compact(text.as_bytes(), party.key());
        message("ehbox", &[&recipient.id], &quoted(&sealed))
    };
    let first_body = body(&sender, "one");
    let first = post_message(&app, &sender.token, &first_body, Some("key-1")).await;
    assert_eq!(first.status(), 201);
    send(&app, &sender.token, &body(&sender, "two")).await;

    let response = post_message(&app, &sender.token, &body(&sender, "three"), None).await;
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let refused = problem(response, 429, "past the rate").await;
    assert!(
        refused["type"]
            .as_str()
            .unwrap_or_default()
            .ends_with("rate-limited"),
        "{refused}"
    );
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(stored(&app).await.0, 2, "nothing stored");

    // A retry of an accepted message gets its answer again, limit or not.
    let retry = post_message(&app, &sender.token, &first_body, Some("key-1")).await;
    assert_eq!(retry.status(), 201);
    // Another sender has a bucket of its own.
    send(&app, &other.token, &body(&other, "elsewhere")).await;
    // A second later, one more.
    app.clock.advance(1);
    let mut sender = sender;
    sender.refresh(&app).await;
    send(&app, &sender.token, &body(&sender, "four")).await;
    assert_eq!(stored(&app).await.0, 4);
}

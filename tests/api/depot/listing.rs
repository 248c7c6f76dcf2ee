//! Listing a box: cursor paging that neither repeats nor misses a message (also one that
//! arrives between pages, and one whose transaction commits after a later one's), the
//! long poll, the `application` filter, the parameters it refuses; and the box summary
//! as messages are read and removed.

use std::time::{Duration, Instant};

use super::*;
use crate::keys::invalid_field;

#[tokio::test]
async fn cursor_paging_long_polling_filtering_and_the_box_summary() {
    let app = depot_app().await;
    let sender = system_party(&app, "hospital-gw", "03123456").await;
    let reader = system_party(&app, "gp-gw", "05123456").await;
    let r = &reader.id;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(send_small(&app, &sender, "ehbox", &[r], &format!("message {i}")).await);
    }

    // Pages of two, oldest first; a message arriving between pages comes on a later one.
    let page = list(&app, &reader.token, "limit=2").await;
    assert_eq!(listed_ids(&page), ids[0..2]);
    let page = list(
        &app,
        &reader.token,
        &format!("limit=2&cursor={}", next_cursor(&page)),
    )
    .await;
    assert_eq!(listed_ids(&page), ids[2..4]);
    ids.push(send_small(&app, &sender, "ehbox", &[r], "late").await);
    let page = list(
        &app,
        &reader.token,
        &format!("limit=2&cursor={}", next_cursor(&page)),
    )
    .await;
    assert_eq!(listed_ids(&page), ids[4..6]);
    let cursor = next_cursor(&page);
    let page = list(&app, &reader.token, &format!("limit=2&cursor={cursor}")).await;
    assert!(listed_ids(&page).is_empty(), "{page}");
    assert_eq!(next_cursor(&page), cursor, "nothing new: the same cursor");
    assert_eq!(listed_ids(&list(&app, &reader.token, "").await), ids);

    // The long poll: nothing comes, it answers after about the wait.
    let started = Instant::now();
    let page = list(&app, &reader.token, &format!("cursor={cursor}&wait=2")).await;
    let waited = started.elapsed();
    assert!(listed_ids(&page).is_empty(), "{page}");
    assert_eq!(next_cursor(&page), cursor);
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(6),
        "{waited:?}"
    );
    // Something comes: it answers with it, well before the wait.
    let started = Instant::now();
    let query = format!("cursor={cursor}&wait=20");
    let (page, late) = tokio::join!(list(&app, &reader.token, &query), async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        send_small(&app, &sender, "ehbox", &[r], "awaited").await
    });
    assert_eq!(listed_ids(&page), [late.as_str()]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    ids.push(late);

    // The application filter, in the inbox and the sent box.
    let lab = send_small(&app, &sender, "labresults", &[r], "a lab result").await;
    let only_lab = list(&app, &reader.token, "application=labresults").await;
    assert_eq!(listed_ids(&only_lab), [lab.as_str()]);
    assert_eq!(
        listed_ids(&list(&app, &reader.token, "application=ehbox").await),
        ids
    );
    let sent = list(&app, &sender.token, "box=sent&application=labresults").await;
    assert_eq!(listed_ids(&sent), [lab.as_str()]);
    assert!(listed_ids(&list(&app, &reader.token, "box=sent").await).is_empty());

    // Parameters it refuses, by name.
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("wait=31", "wait"),
        ("box=trash", "box"),
        ("cursor=abc", "cursor"),
        ("cursor=-1", "cursor"),
    ] {
        let response = app
            .get(&format!("/depot/messages?{query}"), &reader.token)
            .await;
        invalid_field(response, field, query).await;
    }
    assert_eq!(
        listed_ids(&list(&app, &reader.token, "limit=500").await).len(),
        8
    );

    // The summary: counts, unread, bytes, quota; reading and removing change them.
    let listing = list(&app, &reader.token, "").await;
    let bytes: u64 = listing["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["size"].as_u64().unwrap())
        .sum();
    let summary = box_summary(&app, &reader.token).await;
    assert_eq!(members(&summary), ["bytes", "messages", "quota", "unread"]);
    assert_eq!(summary["messages"], 8, "{summary}");
    assert_eq!(summary["unread"], 8, "{summary}");
    assert_eq!(summary["bytes"], bytes, "{summary}");
    assert_eq!(summary["quota"], app.config.settings.depot.box_quota_bytes);
    assert_eq!(mark_read(&app, &reader.token, &ids[0]).await.status(), 204);
    assert_eq!(remove(&app, &reader.token, &lab).await.status(), 204);
    let lab_size = item(&listing, &lab)["size"].as_u64().unwrap();
    let summary = box_summary(&app, &reader.token).await;
    assert_eq!(summary["messages"], 7, "{summary}");
    assert_eq!(summary["unread"], 6, "{summary}");
    assert_eq!(summary["bytes"], bytes - lab_size, "{summary}");
    assert!(!listed_ids(&list(&app, &reader.token, "").await).contains(&lab));
}

/// On PostgreSQL, accepted messages commit side by side, so one can commit after a
/// message accepted later. Played here by a transaction that stores a message into the
/// reader's box and stays open while another message is sent and the box listed: the
/// listing holds the later message back, and its cursor does not pass the open
/// transaction, so that once it commits the next page has both, the late one first.
#[tokio::test]
async fn a_cursor_never_passes_a_message_that_commits_late() {
    use sea_orm::{ActiveModelTrait, IntoActiveModel, Set, TransactionTrait};
    if postgres_url().is_none() {
        println!("skipped: DATABASE_URL not set (SQLite commits one transaction at a time)");
        return;
    }
    let app = depot_app().await;
    let sender = system_party(&app, "hospital-gw", "03123456").await;
    let reader = system_party(&app, "gp-gw", "05123456").await;
    let r = &reader.id;
    let first = send_small(&app, &sender, "ehbox", &[r], "first").await;
    let page = list(&app, &reader.token, "").await;
    assert_eq!(listed_ids(&page), [first.as_str()]);
    let cursor = next_cursor(&page);

    // The slow one: as the depot stores a message, in a transaction that stays open.
    let slow = app.state.db.begin().await.unwrap();
    let mut late = entity::message::Entity::find_by_id(first.clone())
        .one(&slow)
        .await
        .unwrap()
        .unwrap();
    late.id = uuid::Uuid::new_v4().to_string();
    late.clone()
        .into_active_model()
        .insert(&slow)
        .await
        .unwrap();
    entity::box_entry::ActiveModel {
        message_id: Set(late.id.clone()),
        box_key: Set(format!("cbe:{}", r["value"].as_str().unwrap())),
        folder: Set("inbox".into()),
        application: Set(late.application.clone()),
        recipient: Set(Some(r.clone())),
        size: Set(late.size),
        received_at: Set(late.received_at),
        ..Default::default()
    }
    .insert(&slow)
    .await
    .unwrap();

    let second = send_small(&app, &sender, "ehbox", &[r], "second").await;
    let started = Instant::now();
    let page = list(&app, &reader.token, &format!("cursor={cursor}")).await;
    assert!(listed_ids(&page).is_empty(), "held back: {page}");
    assert_eq!(next_cursor(&page), cursor, "the cursor stays put");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "it waited for the open transaction first: {:?}",
        started.elapsed()
    );
    let sent = list(&app, &sender.token, "box=sent").await;
    assert_eq!(listed_ids(&sent), [first.as_str()], "the sent box too");

    slow.commit().await.unwrap();
    let page = list(&app, &reader.token, &format!("cursor={cursor}")).await;
    assert_eq!(listed_ids(&page), [late.id.as_str(), second.as_str()]);
    let next = list(
        &app,
        &reader.token,
        &format!("cursor={}", next_cursor(&page)),
    )
    .await;
    assert!(listed_ids(&next).is_empty(), "{next}");
    assert_eq!(
        listed_ids(&list(&app, &reader.token, "").await),
        [first.as_str(), late.id.as_str(), second.as_str()]
    );
}

/// Only this database's transactions hold a listing back: one left open in another
/// database of the same cluster does not (PostgreSQL's own `pg_snapshot_xmin` would).
#[tokio::test]
async fn a_transaction_in_another_database_does_not_hold_listings_back() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let Some(base) = postgres_url() else {
        println!("skipped: DATABASE_URL not set (PostgreSQL only)");
        return;
    };
    let app = depot_app().await;
    let sender = system_party(&app, "hospital-gw", "03123456").await;
    let reader = system_party(&app, "gp-gw", "05123456").await;
    let elsewhere = sea_orm::Database::connect(&base).await.unwrap();
    let open = elsewhere.begin().await.unwrap();
    open.execute_unprepared("SELECT pg_current_xact_id()")
        .await
        .unwrap();

    let id = send_small(&app, &sender, "ehbox", &[&reader.id], "now").await;
    let page = list(&app, &reader.token, "").await;
    assert_eq!(listed_ids(&page), [id.as_str()]);
    open.rollback().await.unwrap();
}

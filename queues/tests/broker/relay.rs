//! The relay publishes what the depot enqueued, once, with confirms.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use queues::relay::{self, RelayConfig};
use sea_orm::DatabaseConnection;

use crate::contract;
use crate::helpers::{
    Collector, TestDb, all_rows, amqp_url, broker, delete_queue, enqueue, test_queue, unique,
    wait_for_pending,
};

#[tokio::test]
async fn enqueued_notifications_are_published_and_marked_sent() {
    let Some(url) = amqp_url() else { return };
    let test = TestDb::sqlite().await;
    let (connection, channel) = broker(&url).await;
    // Bound to every notification: other tests' notifications arrive too, so ours are
    // told apart by their (unique) application.
    let queue = test_queue(&channel, &["message.received.#"]).await;
    let mut collector = Collector::start(&url, &queue).await;
    let app = unique("app");
    enqueue(&test.db, &app, 0..50).await;
    let expected: HashSet<String> = all_rows(&test.db)
        .await
        .into_iter()
        .map(|row| row.payload)
        .collect();
    assert_eq!(expected.len(), 50);

    let started = std::time::Instant::now();
    let relay = relay::spawn(test.db.clone(), RelayConfig::new(url.clone()));
    relay.wake();
    let mut ours = Vec::new();
    while ours.len() < 50 {
        let received = tokio::time::timeout(Duration::from_secs(20), collector.rx.recv())
            .await
            .unwrap()
            .unwrap();
        if received.body.contains(&app) {
            ours.push(received);
        }
    }
    let elapsed = started.elapsed();
    ours.extend(
        collector
            .drain(Duration::from_millis(500))
            .await
            .into_iter()
            .filter(|r| r.body.contains(&app)),
    );
    assert_eq!(ours.len(), 50, "exactly once in the normal case");
    for received in &ours {
        contract::assert_valid(received.body.as_bytes());
    }
    let bodies: HashSet<String> = ours.iter().map(|r| r.body.clone()).collect();
    assert_eq!(bodies, expected);
    assert!(ours.iter().all(|r| r.persistent && r.json));
    let ids: HashSet<&str> = ours.iter().map(|r| r.message_id.as_str()).collect();
    assert_eq!(ids.len(), 50);

    wait_for_pending(&test.db, 0, Duration::from_secs(10)).await;
    assert!(
        all_rows(&test.db)
            .await
            .iter()
            .all(|row| row.sent_at.is_some())
    );
    let status = relay.status();
    assert!(status.connected, "{status:?}");
    assert_eq!(status.published, 50);
    assert_eq!(status.last_error, None);
    println!("50 notifications enqueued → received in {elapsed:?}");

    relay.stop().await;
    drop(collector);
    delete_queue(&channel, &queue).await;
    connection.close(200, "done".into()).await.unwrap();
    test.finish().await;
}

#[tokio::test]
async fn two_relays_on_one_sqlite_database_lose_nothing() {
    let Some(url) = amqp_url() else { return };
    let test = TestDb::sqlite().await;
    let other = test.another_pool().await;
    let duplicates = two_relays(&url, &test.db, &other, "sqlite").await;
    // SQLite has no row locks: both relays may take the same rows (at least once).
    println!("sqlite: {duplicates} duplicate deliveries");
    other.close().await.unwrap();
    test.finish().await;
}

#[tokio::test]
async fn two_relays_on_one_postgres_database_share_the_work() {
    let Some(url) = amqp_url() else { return };
    let Some(test) = TestDb::postgres().await else {
        println!("skipped: DATABASE_URL is not a PostgreSQL URL");
        return;
    };
    let other = test.another_pool().await;
    let duplicates = two_relays(&url, &test.db, &other, "postgres").await;
    assert_eq!(duplicates, 0, "FOR UPDATE SKIP LOCKED: disjoint batches");
    other.close().await.unwrap();
    test.finish().await;
}

/// Two relays (each with its own pool) publish 200 rows enqueued while they run;
/// returns the number of duplicate deliveries.
async fn two_relays(
    url: &str,
    a: &DatabaseConnection,
    b: &DatabaseConnection,
    label: &str,
) -> usize {
    let (connection, channel) = broker(url).await;
    let app = unique("app");
    let queue = test_queue(&channel, &[&format!("message.received.{app}")]).await;
    let mut collector = Collector::start(url, &queue).await;
    let config = RelayConfig {
        batch: 20,
        ..RelayConfig::new(url)
    };
    let relay_a = relay::spawn(a.clone(), config.clone());
    let relay_b = relay::spawn(b.clone(), config);
    let started = std::time::Instant::now();
    for chunk in 0..4 {
        let db = if chunk % 2 == 0 { a } else { b };
        enqueue(db, &app, chunk * 50..(chunk + 1) * 50).await;
        relay_a.wake();
        relay_b.wake();
    }
    let mut seen = HashMap::new();
    collector
        .until_distinct(&mut seen, 200, Duration::from_secs(60), || {})
        .await;
    let elapsed = started.elapsed();
    wait_for_pending(a, 0, Duration::from_secs(20)).await;
    let late = collector.drain(Duration::from_millis(500)).await;
    let rows = all_rows(a).await;
    assert_eq!(rows.len(), 200);
    let row_ids: HashSet<String> = rows.iter().map(|row| row.id.to_string()).collect();
    let seen_ids: HashSet<String> = seen.keys().cloned().collect();
    assert_eq!(seen_ids, row_ids, "every row arrived");
    assert!(rows.iter().all(|row| row.sent_at.is_some()));
    let (status_a, status_b) = (relay_a.status(), relay_b.status());
    let duplicates = seen.values().map(|v| v.len() - 1).sum::<usize>() + late.len();
    println!(
        "{label}: 200 rows in {elapsed:?}; relay A confirmed {}, relay B {}",
        status_a.published, status_b.published
    );
    assert!(status_a.published + status_b.published >= 200);
    relay_a.stop().await;
    relay_b.stop().await;
    drop(collector);
    delete_queue(&channel, &queue).await;
    connection.close(200, "done".into()).await.unwrap();
    duplicates
}

/// A figure, not a check: `cargo test -p queues --test broker throughput -- --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn throughput() {
    let Some(url) = amqp_url() else { return };
    let test = TestDb::sqlite().await;
    let (connection, channel) = broker(&url).await;
    let app = unique("app");
    let queue = test_queue(&channel, &[&format!("message.received.{app}")]).await;
    let mut collector = Collector::start(&url, &queue).await;
    for chunk in 0..10 {
        enqueue(&test.db, &app, chunk * 500..(chunk + 1) * 500).await;
    }
    let started = std::time::Instant::now();
    let relay = relay::spawn(test.db.clone(), RelayConfig::new(url.clone()));
    wait_for_pending(&test.db, 0, Duration::from_secs(120)).await;
    let published = started.elapsed();
    let mut seen = HashMap::new();
    collector
        .until_distinct(&mut seen, 5000, Duration::from_secs(60), || {})
        .await;
    println!(
        "5000 rows: all confirmed and marked sent in {published:?} ({:.0}/s), all received in {:?}",
        5000.0 / published.as_secs_f64(),
        started.elapsed()
    );
    relay.stop().await;
    drop(collector);
    delete_queue(&channel, &queue).await;
    connection.close(200, "done".into()).await.unwrap();
    test.finish().await;
}

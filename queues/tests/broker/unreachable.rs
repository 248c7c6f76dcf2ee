//! The broker away: rows wait, the relay says so, then catches up and reconnects.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use queues::relay::{self, RelayConfig};

use crate::helpers::{
    Collector, Proxy, TestDb, amqp_url, broker, broker_address, delete_queue, enqueue, pending,
    test_queue, unique, via, wait_for_pending,
};

#[tokio::test]
async fn rows_wait_while_the_broker_is_unreachable_then_all_arrive() {
    let Some(url) = amqp_url() else { return };
    let test = TestDb::sqlite().await;
    let (connection, channel) = broker(&url).await;
    let app = unique("app");
    let queue = test_queue(&channel, &[&format!("message.received.{app}")]).await;
    let mut collector = Collector::start(&url, &queue).await;

    let mut proxy = Proxy::reserve(broker_address(&url));
    let relay_url = via(&url, &format!("127.0.0.1:{}", proxy.port));
    let config = RelayConfig {
        batch: 10,
        max_backoff: Duration::from_secs(1),
        ..RelayConfig::new(relay_url)
    };
    let relay = relay::spawn(test.db.clone(), config);
    enqueue(&test.db, &app, 0..100).await;
    relay.wake();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = relay.status();
    assert!(!status.connected, "{status:?}");
    let error = status.last_error.unwrap_or_default();
    assert!(!error.is_empty());
    println!("while refused: last_error = {error:?}");
    assert_eq!(pending(&test.db).await, 100);

    // The broker comes back; cut the relay's connection at the first delivery.
    proxy.start().await;
    let started = std::time::Instant::now();
    let mut seen = HashMap::new();
    collector
        .until_distinct(&mut seen, 100, Duration::from_secs(30), || proxy.cut())
        .await;
    let caught_up = started.elapsed();
    wait_for_pending(&test.db, 0, Duration::from_secs(20)).await;

    // After the cut, new rows still go out: the relay reconnected.
    enqueue(&test.db, &app, 100..120).await;
    relay.wake();
    collector
        .until_distinct(&mut seen, 120, Duration::from_secs(30), || {})
        .await;
    wait_for_pending(&test.db, 0, Duration::from_secs(20)).await;
    let late = collector.drain(Duration::from_millis(300)).await;
    let duplicates = seen.values().map(|v| v.len() - 1).sum::<usize>() + late.len();
    let accepted = proxy.accepted.load(Ordering::SeqCst);
    assert!(
        accepted >= 2,
        "reconnected through the proxy ({accepted} connections)"
    );
    let status = relay.status();
    assert!(status.connected, "{status:?}");
    assert_eq!(status.last_error, None);
    println!(
        "caught up 100 rows {caught_up:?} after the broker came back; \
         {accepted} proxied connections; {duplicates} duplicate deliveries; {status:?}"
    );

    relay.stop().await;
    drop(proxy);
    drop(collector);
    delete_queue(&channel, &queue).await;
    connection.close(200, "done".into()).await.unwrap();
    test.finish().await;
}

/// No broker at all (runs without `AMQP_URL`): rows stay, status says why, and `stop`
/// returns at once even in the middle of the back-off.
#[tokio::test]
async fn without_a_broker_rows_wait_and_stop_is_prompt() {
    let test = TestDb::sqlite().await;
    let proxy = Proxy::reserve(String::new());
    let config = RelayConfig {
        max_backoff: Duration::from_millis(100),
        ..RelayConfig::new(format!("amqp://user:hunter2@127.0.0.1:{}/%2f", proxy.port))
    };
    let threads_before = threads();
    let relay = relay::spawn(test.db.clone(), config);
    enqueue(&test.db, "ehbox", 0..3).await;
    relay.wake();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status = relay.status();
    assert!(!status.connected);
    assert_eq!(status.published, 0);
    let error = status.last_error.unwrap_or_default();
    assert!(error.contains("refused"), "{error}");
    assert!(!error.contains("hunter2"), "{error}");
    assert_eq!(pending(&test.db).await, 3);
    let threads_during = threads();
    let started = std::time::Instant::now();
    relay.stop().await;
    let stopped_in = started.elapsed();
    assert!(stopped_in < Duration::from_secs(1), "{stopped_in:?}");
    println!(
        "stop took {stopped_in:?}; threads {threads_before} → {threads_during} after 3 s of retries every 100 ms"
    );
    test.finish().await;
}

fn threads() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|line| line.starts_with("Threads:"))
        .map(|line| line.trim_start_matches("Threads:").trim().to_owned())
        .unwrap_or_default()
}

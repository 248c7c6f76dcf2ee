//! The broker away: the depot keeps accepting messages, their notifications wait in the
//! outbox (and `/health/ready` says so), and once the broker is reachable every one of
//! them arrives. The broker sits behind a local TCP proxy that refuses connections
//! until it is started.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use secrecy::SecretString;

use super::*;
use crate::helpers::proxy::{Proxy, address_of};

#[tokio::test]
async fn notifications_wait_in_the_outbox_while_the_broker_is_away_then_all_arrive() {
    let Some(url) = amqp_url() else { return };
    let application = unique_application("outage");
    let mut notifications = Notifications::bind(&url, &application).await;
    let mut proxy = Proxy::reserve(address_of(&url, 5672));
    let proxied = proxy.in_front_of(&url);
    let app = depot_app_with(|s| s.storage.amqp_url = Some(SecretString::from(proxied))).await;
    let sender = system_party(&app, "lab-gw", "04123456").await;
    let receiver = system_party(&app, "gp-gw", "05123456").await;

    let bodies: Vec<String> = (0..100)
        .map(|i| {
            let sealed = seal_compact(format!("result {i}").as_bytes(), sender.key());
            message(&application, &[&receiver.id], &quoted(&sealed))
        })
        .collect();
    let started = Instant::now();
    let answers: Vec<(reqwest::StatusCode, String)> = futures_util::stream::iter(&bodies)
        .map(|body| async {
            let response = post_message(&app, &sender.token, body, None).await;
            (response.status(), response.text().await.unwrap())
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let accepting = started.elapsed();
    let mut ids = HashSet::new();
    for (status, text) in &answers {
        assert_eq!(*status, 201, "{text}");
        let answer: Value = serde_json::from_str(text).unwrap();
        ids.insert(answer["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 100, "100 distinct messages");
    assert_eq!(stored(&app).await, (100, 100));
    let summary = box_summary(&app, &receiver.token).await;
    assert_eq!(summary["messages"], 100, "{summary}");
    assert_eq!(summary["unread"], 100, "{summary}");
    let listing = list(&app, &receiver.token, "limit=500").await;
    let listed: HashSet<String> = listed_ids(&listing).into_iter().collect();
    assert_eq!(listed, ids, "every accepted message is in the box");

    let health = ready(&app).await;
    let relay = health["broker"]["relay"].as_str().unwrap_or_default();
    assert!(relay.starts_with("disconnected"), "{health}");
    assert!(
        health["broker"]["lastError"].is_string(),
        "the relay says why: {health}"
    );
    assert_eq!(health["outboxPending"], 100, "{health}");
    assert!(
        notifications
            .quiet(Duration::from_millis(300))
            .await
            .is_empty(),
        "nothing reached the broker"
    );

    // The broker comes back: every notification arrives (at least once).
    proxy.start().await;
    let back = Instant::now();
    let got = notifications
        .until_distinct(100, Duration::from_secs(90))
        .await;
    let caught_up = back.elapsed();
    let notified: HashSet<String> = got
        .iter()
        .map(|n| n.body["messageId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(notified, ids, "one notification per message");
    for n in &got {
        assert_eq!(n.body["recipient"], receiver.id, "{}", n.body);
        assert_eq!(n.routing_key, format!("message.received.{application}"));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        let health = ready(&app).await;
        if health["outboxPending"] == 0 && health["broker"]["relay"] == "connected" {
            break health;
        }
        assert!(Instant::now() < deadline, "the outbox drains: {health}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(health["broker"]["lastError"].is_null(), "{health}");
    let duplicates = got.len() - 100 + notifications.quiet(Duration::from_millis(300)).await.len();
    println!(
        "accepted 100 messages in {accepting:?} with the broker away; all notified \
         {caught_up:?} after it came back; {duplicates} duplicate deliveries"
    );
    drop(proxy);
    notifications.finish().await;
}

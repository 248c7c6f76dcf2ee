//! The RabbitMQ side as a receiver sees it: the broker of `AMQP_URL` (or a `skipped`
//! line), and a durable receiver queue bound to `depot.events` read with the `queues`
//! consumer library (manual acks; delivery is at least once). Every body received is
//! checked against `docs/notifications/message-received.v1.schema.json`.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;

/// The schema check the queues crate's broker tests use too: one file for both suites.
#[path = "../../../queues/tests/broker/contract.rs"]
mod contract;

/// The broker, or `None` (and a `skipped` line) when `AMQP_URL` is not set.
pub(crate) fn amqp_url() -> Option<String> {
    let url = std::env::var("AMQP_URL").ok().filter(|u| !u.is_empty());
    if url.is_none() {
        println!("skipped: AMQP_URL not set");
    }
    url
}

/// A notification as a receiver got it.
#[derive(Debug, Clone)]
pub(crate) struct Notification {
    pub routing_key: String,
    pub body: Value,
}

/// A receiver's durable queue bound to `message.received.<application>`, read with the
/// `queues` consumer (manual acks). Deleted by [`finish`](Self::finish).
pub(crate) struct Notifications {
    consumer: queues::consumer::Consumer,
}

impl Notifications {
    pub async fn bind(url: &str, application: &str) -> Self {
        let queue = format!("depot-api-test-{}", uuid::Uuid::new_v4().simple());
        let binding = queues::routing_key(application);
        let consumer = queues::consumer::connect(url, &queue, &[&binding])
            .await
            .unwrap_or_else(|e| panic!("AMQP_URL is set but the broker is unreachable: {e}"));
        Self { consumer }
    }

    async fn next(&mut self, deadline: tokio::time::Instant) -> Option<Notification> {
        let delivery = tokio::time::timeout_at(deadline, self.consumer.next())
            .await
            .ok()?
            .expect("the consumer was cancelled")
            .expect("a delivery");
        contract::assert_valid(delivery.body());
        assert!(
            delivery.message_id.is_some(),
            "every notification has an AMQP message-id"
        );
        let body: Value = serde_json::from_slice(delivery.body()).unwrap();
        let notification = Notification {
            routing_key: delivery.routing_key.clone(),
            body,
        };
        delivery.ack().await.unwrap();
        Some(notification)
    }

    /// Receives until `distinct` different (messageId, recipient) pairs arrived; panics
    /// after `within`. Returns every notification, duplicates included.
    pub async fn until_distinct(&mut self, distinct: usize, within: Duration) -> Vec<Notification> {
        let deadline = tokio::time::Instant::now() + within;
        let mut seen = HashSet::new();
        let mut all = Vec::new();
        while seen.len() < distinct {
            let Some(notification) = self.next(deadline).await else {
                panic!(
                    "{} distinct notifications of {distinct} within {within:?}",
                    seen.len()
                );
            };
            seen.insert((
                notification.body["messageId"].to_string(),
                notification.body["recipient"].to_string(),
            ));
            all.push(notification);
        }
        all
    }

    /// Whatever else arrives within `quiet`.
    pub async fn quiet(&mut self, quiet: Duration) -> Vec<Notification> {
        let mut more = Vec::new();
        while let Some(notification) = self.next(tokio::time::Instant::now() + quiet).await {
            more.push(notification);
        }
        more
    }

    /// Deletes the queue and closes the connection.
    pub async fn finish(self) {
        let queue = self.consumer.queue().to_owned();
        self.consumer
            .channel()
            .queue_delete(queue.as_str().into(), Default::default())
            .await
            .unwrap();
        self.consumer.close().await.unwrap();
    }
}

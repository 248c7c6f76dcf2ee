//! The receivers' side: `print_json_lines` and dead-lettering of malformed bodies and of
//! versions the consumer does not know.

use std::io::Write;
use std::time::Duration;

use lapin::BasicProperties;
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicPublishOptions};
use queues::relay::{self, RelayConfig};
use queues::topology::DEAD_LETTER_QUEUE;
use tokio::sync::mpsc;

use crate::contract;
use crate::helpers::{
    TestDb, all_rows, amqp_url, broker, delete_queue, enqueue, notification, ready_count,
    test_queue, unique,
};

/// An `io::Write` that hands over each complete line.
struct Lines {
    buffer: Vec<u8>,
    tx: mpsc::UnboundedSender<String>,
}

impl Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        while let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            let _ = self
                .tx
                .send(String::from_utf8_lossy(&line[..end]).into_owned());
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn print_json_lines_prints_a_published_notification() {
    let Some(url) = amqp_url() else { return };
    let test = TestDb::sqlite().await;
    let (connection, channel) = broker(&url).await;
    let app = unique("app");
    let binding = format!("message.received.{app}");
    // Declared first so that the notification cannot be published before the queue exists.
    let queue = test_queue(&channel, &[&binding]).await;

    let (tx, mut lines) = mpsc::unbounded_channel();
    let printer = tokio::spawn({
        let (url, queue) = (url.clone(), queue.clone());
        async move {
            let mut out = Lines {
                buffer: Vec::new(),
                tx,
            };
            queues::consumer::print_json_lines(&url, &queue, &[binding], &mut out).await
        }
    });
    enqueue(&test.db, &app, 7..8).await;
    let relay = relay::spawn(test.db.clone(), RelayConfig::new(url.clone()));
    relay.wake();

    let line = tokio::time::timeout(Duration::from_secs(20), lines.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        line,
        all_rows(&test.db).await[0].payload,
        "the body, one line"
    );
    contract::assert_valid(line.as_bytes());
    let printed: queues::MessageReceived = serde_json::from_str(&line).unwrap();
    assert_eq!(printed, notification(&app, 7));
    println!("{line}");

    // Acked after printing: nothing comes back to the queue once the printer is gone.
    tokio::time::sleep(Duration::from_millis(300)).await;
    printer.abort();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ready_count(&channel, &queue).await, 0);

    relay.stop().await;
    delete_queue(&channel, &queue).await;
    connection.close(200, "done".into()).await.unwrap();
    test.finish().await;
}

#[tokio::test]
async fn a_malformed_body_or_an_unknown_version_is_dead_lettered_and_skipped() {
    let Some(url) = amqp_url() else { return };
    let (connection, channel) = broker(&url).await;
    let app = unique("app");
    let binding = format!("message.received.{app}");
    let queue = test_queue(&channel, &[&binding]).await;
    let mut consumer = queues::consumer::connect(&url, &queue, &[&binding])
        .await
        .unwrap();

    let marker = unique("not json ");
    let good = serde_json::to_vec(&notification(&app, 1)).unwrap();
    // A body of a version this consumer does not know (a breaking change it predates).
    let mut next_version = serde_json::to_value(notification(&app, 2)).unwrap();
    next_version["version"] = 2.into();
    let next_version = serde_json::to_vec(&next_version).unwrap();
    assert!(contract::violation(&next_version).is_some());
    for body in [marker.as_bytes(), &next_version, &good] {
        channel
            .basic_publish(
                queues::EXCHANGE.into(),
                binding.as_str().into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default(),
            )
            .await
            .unwrap();
    }
    let delivery = tokio::time::timeout(Duration::from_secs(10), consumer.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    contract::assert_valid(delivery.body());
    assert_eq!(delivery.notification, notification(&app, 1));
    assert_eq!(delivery.routing_key, binding);
    assert!(!delivery.redelivered);
    delivery.ack().await.unwrap();

    // The malformed one and the unknown version went to depot.events.dead. Whatever else
    // is there stays unacked on this channel and goes back to that queue when the
    // connection closes.
    let mut missing = vec![marker.as_bytes().to_vec(), next_version];
    for _ in 0..50 {
        let Some(message) = channel
            .basic_get(DEAD_LETTER_QUEUE.into(), BasicGetOptions::default())
            .await
            .unwrap()
        else {
            if missing.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if let Some(at) = missing.iter().position(|m| *m == message.delivery.data) {
            missing.remove(at);
            message
                .delivery
                .ack(BasicAckOptions::default())
                .await
                .unwrap();
        }
    }
    assert!(
        missing.is_empty(),
        "the malformed body and the unknown version are in {DEAD_LETTER_QUEUE}"
    );

    consumer.close().await.unwrap();
    delete_queue(&channel, &queue).await;
    connection.close(200, "done".into()).await.unwrap();
}

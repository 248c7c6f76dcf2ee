//! A small consumer library for receivers of depot notifications, and the loop behind
//! `depot consume`.
//!
//! AMQP guarantees: [`connect`] declares the topology and a durable receiver queue (so
//! from then on notifications for its bindings are kept, persistently, even while no
//! consumer is attached), then consumes it with manual acknowledgements and a bounded
//! prefetch. A delivery is removed from the queue only by [`Delivery::ack`]; one that is
//! never acked (the process dies, the connection drops) is delivered again, flagged
//! `redelivered`. Delivery is at least once: deduplicate on `message_id`.
//! A body that is not a notification, or one of a `type` or `version` this library does
//! not know (a breaking change it predates), is rejected without requeue, which
//! dead-letters it to `depot.events.dead` instead of redelivering it forever. Members
//! it does not know are ignored: new optional fields come without a version bump.

use std::io::Write;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
};
use lapin::types::FieldTable;
use lapin::{Acker, Channel, Connection, ConnectionProperties};

use crate::error::short;
use crate::{Error, MessageReceived, topology};

/// Unacked deliveries the broker may push ahead of the receiver.
const PREFETCH: u16 = 64;

/// A live consumer of one receiver queue.
#[derive(Debug)]
pub struct Consumer {
    connection: Connection,
    channel: Channel,
    deliveries: lapin::Consumer,
    queue: String,
}

/// Connects, declares the topology and `queue` (durable, dead-lettering, bound to
/// `depot.events` with each of `bindings`, e.g. `message.received.#`), and starts
/// consuming it. Call it within a tokio runtime.
pub async fn connect(url: &str, queue: &str, bindings: &[&str]) -> Result<Consumer, Error> {
    let queue_name = short(queue)?;
    let properties = ConnectionProperties::default()
        .with_connection_name(format!("depot consumer {queue}").into());
    let connection = Connection::connect(url, properties).await?;
    let channel = connection.create_channel().await?;
    topology::declare(&channel).await?;
    topology::declare_queue(&channel, queue, bindings).await?;
    channel
        .basic_qos(PREFETCH, BasicQosOptions::default())
        .await?;
    let deliveries = channel
        .basic_consume(
            queue_name,
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(Consumer {
        connection,
        channel,
        deliveries,
        queue: queue.to_owned(),
    })
}

impl Consumer {
    /// The next notification; `None` once the broker cancelled the consumer (the queue
    /// was deleted) or after the error that ended the stream. Malformed bodies are
    /// dead-lettered here and never returned.
    pub async fn next(&mut self) -> Option<Result<Delivery, Error>> {
        loop {
            let delivery = match self.deliveries.next().await? {
                Ok(delivery) => delivery,
                Err(error) => return Some(Err(error.into())),
            };
            let routing_key = delivery.routing_key.to_string();
            match parse(&delivery.data) {
                Ok(notification) => {
                    return Some(Ok(Delivery {
                        notification,
                        routing_key,
                        message_id: delivery
                            .properties
                            .message_id()
                            .as_ref()
                            .map(ToString::to_string),
                        redelivered: delivery.redelivered,
                        body: delivery.data,
                        acker: delivery.acker,
                    }));
                }
                Err(error) => {
                    tracing::warn!(
                        queue = %self.queue,
                        routing_key = %routing_key,
                        error = %error,
                        "malformed notification dead-lettered"
                    );
                    let requeue = BasicRejectOptions { requeue: false };
                    if let Err(error) = settle(delivery.acker.reject(requeue).await) {
                        return Some(Err(error));
                    }
                }
            }
        }
    }

    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// The channel, e.g. to declare more bindings.
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Closes the connection; unacked deliveries go back to the queue.
    pub async fn close(self) -> Result<(), Error> {
        self.connection
            .close(200, "consumer closing".into())
            .await?;
        Ok(())
    }
}

/// One notification, to be settled with [`ack`](Self::ack), [`reject`](Self::reject) or
/// [`requeue`](Self::requeue). Dropping it unsettled leaves it with the broker, which
/// redelivers it when this consumer's channel closes.
#[derive(Debug)]
pub struct Delivery {
    pub notification: MessageReceived,
    pub routing_key: String,
    /// The outbox row id the relay put in the AMQP `message_id`: the deduplication key.
    pub message_id: Option<String>,
    /// The broker delivered it before without an ack.
    pub redelivered: bool,
    body: Vec<u8>,
    acker: Acker,
}

impl Delivery {
    /// The body exactly as published.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as one line of JSON (as published when it already is one line).
    pub fn json_line(&self) -> String {
        match std::str::from_utf8(&self.body) {
            Ok(text) if !text.contains(['\n', '\r']) => text.trim().to_owned(),
            _ => serde_json::from_slice::<serde_json::Value>(&self.body)
                .map(|value| value.to_string())
                .unwrap_or_else(|_| serde_json::to_string(&self.notification).unwrap_or_default()),
        }
    }

    /// Done with it: the broker forgets it.
    pub async fn ack(self) -> Result<(), Error> {
        settle(self.acker.ack(BasicAckOptions::default()).await)
    }

    /// Cannot ever process it: dead-lettered to `depot.events.dead`.
    pub async fn reject(self) -> Result<(), Error> {
        settle(
            self.acker
                .reject(BasicRejectOptions { requeue: false })
                .await,
        )
    }

    /// Cannot process it now: back to the queue for another attempt.
    pub async fn requeue(self) -> Result<(), Error> {
        let options = BasicNackOptions {
            multiple: false,
            requeue: true,
        };
        settle(self.acker.nack(options).await)
    }
}

/// The body as a notification this library understands (its `type` and `version`).
fn parse(body: &[u8]) -> Result<MessageReceived, String> {
    let notification: MessageReceived = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if notification.is_understood() {
        Ok(notification)
    } else {
        Err(format!(
            "unknown notification {:?} version {} (this consumer reads {:?} version {})",
            notification.kind,
            notification.version,
            MessageReceived::TYPE,
            MessageReceived::VERSION
        ))
    }
}

/// lapin answers `Ok(false)` when the channel closed before the ack could be sent.
fn settle(result: lapin::Result<bool>) -> Result<(), Error> {
    match result {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::Closed),
        Err(error) => Err(error.into()),
    }
}

/// `depot consume`: prints each notification of `queue` to `out` as one JSON line,
/// flushes, and only then acks it (a crash between the two prints it again on the next
/// run). Returns when the broker cancels the consumer; runs until then otherwise, so
/// stop it by dropping the future (e.g. `tokio::select!` with Ctrl-C): unacked
/// notifications stay in the queue.
pub async fn print_json_lines(
    url: &str,
    queue: &str,
    bindings: &[String],
    out: &mut (impl Write + Send),
) -> Result<(), Error> {
    let bindings: Vec<&str> = bindings.iter().map(String::as_str).collect();
    let mut consumer = connect(url, queue, &bindings).await?;
    while let Some(delivery) = consumer.next().await {
        let delivery = delivery?;
        writeln!(out, "{}", delivery.json_line())?;
        out.flush()?;
        delivery.ack().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_body_parses() {
        let body = br#"{"type":"message.received","version":1,"messageId":"m1","application":"ehbox","recipient":{"ssin":"1"},"receivedAt":"2026-01-01T00:00:00.000Z","extra":1}"#;
        let notification = parse(body).unwrap();
        assert_eq!(notification.message_id, "m1");
        assert_eq!(notification.version, 1);
        assert!(parse(b"{\"type\":1}").is_err());
        assert!(parse(b"not json").is_err());
    }

    #[test]
    fn a_body_without_version_is_version_1_and_other_versions_are_refused() {
        let old = br#"{"type":"message.received","messageId":"m1","application":"ehbox","recipient":{},"receivedAt":"2026-01-01T00:00:00+00:00"}"#;
        assert_eq!(parse(old).unwrap().version, 1);
        let next = br#"{"type":"message.received","version":2,"messageId":"m1","application":"ehbox","recipient":{},"receivedAt":"2026-01-01T00:00:00.000Z"}"#;
        assert!(parse(next).unwrap_err().contains("version 2"));
        let other = br#"{"type":"message.deleted","version":1,"messageId":"m1","application":"ehbox","recipient":{},"receivedAt":"2026-01-01T00:00:00.000Z"}"#;
        assert!(parse(other).is_err());
    }
}

//! RabbitMQ side of the depot (AMQP 0-9-1): the topology (`topology`), the
//! transactional outbox the depot writes notifications into (`outbox`), the relay
//! that publishes them with publisher confirms (`relay`), and a small consumer library
//! for receivers (`consumer`). This crate never depends on the service crate.
//!
//! Guarantee, end to end: a notification is written in the same database transaction
//! as the message it announces, and is marked sent only once the broker has confirmed
//! (`basic.ack`) that it took responsibility for the persistent message. Delivery is
//! therefore at least once: a receiver can see the same notification twice (same AMQP
//! `message_id`) and must be idempotent.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

pub mod consumer;
mod error;
pub mod outbox;
pub mod relay;
pub mod topology;

pub use error::Error;

/// Durable topic exchange every notification goes to.
pub const EXCHANGE: &str = "depot.events";

/// `message.received.<application>`.
pub fn routing_key(application: &str) -> String {
    format!("message.received.{application}")
}

/// The persistent JSON body of a notification: identifiers and ids, never content.
///
/// The contract consumers rely on is `docs/notifications/message-received.v1.schema.json`
/// (and `docs/asyncapi.yaml` for the exchange, routing keys and properties); the broker
/// tests validate every body they consume against it. A change that is not a new
/// optional field needs a new [`VERSION`](Self::VERSION) and a new schema file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageReceived {
    #[serde(rename = "type")]
    pub kind: String,
    /// The schema version of this body. Rows enqueued before bodies carried one hold
    /// exactly the version 1 fields, so a missing `version` reads as 1.
    #[serde(default = "first_version")]
    pub version: u32,
    /// The depot's id of the message (a UUID), the same for every recipient.
    pub message_id: String,
    pub application: String,
    /// The recipient this notification is for: `{"type": "ssin"|"cbe"|"nihii", "value"}`.
    pub recipient: serde_json::Value,
    /// RFC 3339 UTC with milliseconds (`2026-11-24T10:00:00.000Z`).
    pub received_at: String,
}

impl MessageReceived {
    /// The `type` of this body.
    pub const TYPE: &str = "message.received";
    /// The schema version this crate writes and reads; a breaking change bumps it.
    pub const VERSION: u32 = 1;

    /// The notification for one recipient of a message received at `received_at`.
    pub fn new(
        message_id: impl Into<String>,
        application: impl Into<String>,
        recipient: serde_json::Value,
        received_at: DateTime<Utc>,
    ) -> Self {
        Self {
            kind: Self::TYPE.to_owned(),
            version: Self::VERSION,
            message_id: message_id.into(),
            application: application.into(),
            recipient,
            received_at: received_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        }
    }

    /// Whether this crate understands the body: its `type` and its `version`.
    pub fn is_understood(&self) -> bool {
        self.kind == Self::TYPE && self.version == Self::VERSION
    }
}

fn first_version() -> u32 {
    1
}

/// The URL with its password replaced by `***`, for logs (`amqp://user:***@host/vhost`).
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:***{}",
        &url[..scheme_end],
        &userinfo[..colon],
        &rest[at..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_key_names_the_application() {
        assert_eq!(routing_key("ehbox"), "message.received.ehbox");
    }

    #[test]
    fn a_notification_carries_its_type_version_and_millisecond_utc_time() {
        use chrono::TimeZone;
        let at = Utc.timestamp_millis_opt(1_764_000_000_000).unwrap();
        let body = MessageReceived::new(
            "0190a3b4-5c6d-7e8f-9012-3456789abcde",
            "ehbox",
            serde_json::json!({"type": "ssin", "value": "85073003328"}),
            at,
        );
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["type"], "message.received");
        assert_eq!(json["version"], 1);
        assert_eq!(json["receivedAt"], "2025-11-24T16:00:00.000Z");
        assert!(body.is_understood());
    }

    #[test]
    fn redact_url_hides_only_the_password() {
        assert_eq!(
            redact_url("amqp://guest:s3cr%40t@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(
            redact_url("amqps://u:p@host?heartbeat=10"),
            "amqps://u:***@host?heartbeat=10"
        );
        assert_eq!(redact_url("amqp://p:a:ss@host"), "amqp://p:***@host");
        assert_eq!(redact_url("amqp://user@host/v"), "amqp://user@host/v");
        assert_eq!(redact_url("amqp://host/x@y:z"), "amqp://host/x@y:z");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}

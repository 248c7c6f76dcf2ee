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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageReceived {
    #[serde(rename = "type")]
    pub kind: String,
    pub message_id: String,
    pub application: String,
    pub recipient: serde_json::Value,
    pub received_at: String,
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

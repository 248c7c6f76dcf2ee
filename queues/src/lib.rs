//! RabbitMQ side of the depot: topology names and the notification body. The outbox
//! relay and the consumer arrive with the depot (issue 7); this crate never depends on
//! the service crate.

use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_key_names_the_application() {
        assert_eq!(routing_key("ehbox"), "message.received.ehbox");
    }
}

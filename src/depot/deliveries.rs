//! From a message's recipients to its deliveries: which box each copy goes to and the
//! notification each recipient gets. Today every recipient is delivered to as
//! addressed; rules that change where a message goes (absences, substitutes,
//! forwarding) belong here.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::boxes::box_key;
use super::store::Delivery;
use crate::people::Identifier;

/// One delivery per recipient: its box, and a `message.received` notification (the
/// body of `docs/notifications/message-received.v1.schema.json`).
pub fn deliveries(
    recipients: &[Identifier],
    message_id: &str,
    application: &str,
    received_at: DateTime<Utc>,
) -> Vec<Delivery> {
    recipients
        .iter()
        .map(|recipient| Delivery {
            box_key: box_key(recipient),
            recipient: json!(recipient),
            notification: queues::MessageReceived::new(
                message_id,
                application,
                json!(recipient),
                received_at,
            ),
        })
        .collect()
}

//! From a message's recipients to its deliveries: which box each copy goes to and the
//! notification each recipient gets. Every recipient is delivered to as addressed; a
//! substitute of an absent recipient, when the sender encrypted for it too, gets a
//! copy that names whom it stands in for (see `absences`).

use chrono::{DateTime, Utc};
use serde_json::json;

use super::boxes::box_key;
use super::store::Delivery;
use crate::people::Identifier;

/// A substitute the sender reached, and the absent recipient it stands in for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stand {
    pub substitute: Identifier,
    pub absent: Identifier,
}

/// One delivery per recipient, then one per reached substitute: its box, and a
/// `message.received` notification (the body of
/// `docs/notifications/message-received.v1.schema.json`).
pub fn deliveries(
    recipients: &[Identifier],
    substitutes: &[Stand],
    message_id: &str,
    application: &str,
    received_at: DateTime<Utc>,
) -> Vec<Delivery> {
    let addressed = recipients.iter().map(|r| (r, None));
    let standing = substitutes
        .iter()
        .map(|s| (&s.substitute, Some(json!(s.absent))));
    addressed
        .chain(standing)
        .map(|(recipient, substitute_for)| Delivery {
            box_key: box_key(recipient),
            recipient: json!(recipient),
            substitute_for,
            notification: queues::MessageReceived::new(
                message_id,
                application,
                json!(recipient),
                received_at,
            ),
        })
        .collect()
}

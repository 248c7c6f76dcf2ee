//! How messages are shown to their readers (API.md "Depot"): listings with the sender's
//! identity summary and receipts, and the full message with `sealed` exactly as posted.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::store::{EntryRow, INBOX, MessageRow};

/// The sender as a listing shows it.
fn sender_summary(message: &MessageRow) -> Value {
    json!({"identity": message.sender["identity"], "client_id": message.sender["client_id"]})
}

/// The receipts of the inbox entries among `entries` (a recipient sees its own, the
/// sender all of them); a substitute's names the absent recipient it stood in for.
pub fn receipts<'a>(entries: impl Iterator<Item = &'a EntryRow>) -> Vec<Value> {
    entries
        .filter(|e| e.folder == INBOX)
        .map(|e| {
            let mut receipt = json!({
                "recipient": e.recipient,
                "receivedAt": e.fetched_at,
                "readAt": e.read_at,
            });
            // A substitute's copy: whom it stands in for.
            if let Some(absent) = &e.substitute_for {
                receipt["substituteFor"] = absent.clone();
            }
            receipt
        })
        .collect()
}

pub fn listed(message: &MessageRow, receipts: Vec<Value>) -> Value {
    json!({
        "id": message.id,
        "application": message.application,
        "sender": sender_summary(message),
        "receivedAt": message.received_at,
        "size": message.size,
        "metadata": message.metadata,
        "receipts": receipts,
    })
}

/// The whole message, `sealed` exactly as posted.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Full<'a> {
    id: &'a str,
    application: &'a str,
    sealed: &'a RawValue,
    sender: &'a Value,
    recipients: &'a Value,
    received_at: DateTime<Utc>,
    timestamp: String,
    metadata: &'a Value,
    receipts: Vec<Value>,
}

/// The whole message: `sealed` is the posted string, or the posted object's exact text.
pub fn full(message: &MessageRow, receipts: Vec<Value>) -> Result<String, serde_json::Error> {
    let sealed: Box<RawValue> = if message.sealed_is_json {
        RawValue::from_string(message.sealed.clone())?
    } else {
        serde_json::value::to_raw_value(&message.sealed)?
    };
    serde_json::to_string(&Full {
        id: &message.id,
        application: &message.application,
        sealed: &sealed,
        sender: &message.sender,
        recipients: &message.recipients,
        received_at: message.received_at,
        timestamp: STANDARD.encode(&message.timestamp),
        metadata: &message.metadata,
        receipts,
    })
}

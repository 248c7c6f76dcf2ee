//! Absences, from the client's side: the holder of a box sets, lists and ends its
//! absences; a sender asks whether its recipients are absent and who substitutes, so
//! that it can encrypt for the substitutes too ([`super::seal::seal_with_substitutes`]).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::{ClientError, Session};
use crate::people::Identifier;
use crate::people::model::identifier_parts;

/// A recipient absent now, until when, and who substitutes for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Absent {
    pub recipient: Identifier,
    pub until: DateTime<Utc>,
    pub substitutes: Vec<Identifier>,
}

impl Session {
    /// Sets an absence of the caller's boxes from `from` (default now) until `until`.
    pub async fn set_absence(
        &self,
        from: Option<DateTime<Utc>>,
        until: DateTime<Utc>,
        substitutes: &[Identifier],
    ) -> Result<Value, ClientError> {
        let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut body = json!({"until": time(until), "substitutes": substitutes});
        if let Some(from) = from {
            body["from"] = json!(time(from));
        }
        self.post_json("/depot/absences", &body).await
    }

    /// The caller's absences that have not ended.
    pub async fn absences(&self) -> Result<Vec<Value>, ClientError> {
        let listed = self.get_json("/depot/absences").await?;
        Ok(listed["absences"].as_array().cloned().unwrap_or_default())
    }

    /// Ends one of the caller's absences.
    pub async fn end_absence(&self, id: &str) -> Result<(), ClientError> {
        self.call("DELETE", &format!("/depot/absences/{id}"), None)
            .await?;
        Ok(())
    }

    /// Whether `recipient` is absent now: its absence, if so.
    pub async fn absence_of(&self, recipient: &Identifier) -> Result<Option<Absent>, ClientError> {
        let (kind, value) = identifier_parts(recipient);
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("identity_type", kind), ("identity_value", value)])
            .finish();
        let answer = self.get_json(&format!("/depot/absence?{query}")).await?;
        if answer["absent"] != true {
            return Ok(None);
        }
        let malformed = |what: &str| ClientError::Protocol(format!("absence of {value}: {what}"));
        let until = answer["until"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .ok_or_else(|| malformed("no until"))?
            .with_timezone(&Utc);
        let substitutes = serde_json::from_value(answer["substitutes"].clone())
            .map_err(|e| malformed(&e.to_string()))?;
        Ok(Some(Absent {
            recipient: recipient.clone(),
            until,
            substitutes,
        }))
    }
}

/// The recipients among `recipients` that are absent now.
pub async fn absent_among(
    session: &Session,
    recipients: &[Identifier],
) -> Result<Vec<Absent>, ClientError> {
    let mut absent = Vec::new();
    for recipient in recipients {
        absent.extend(session.absence_of(recipient).await?);
    }
    Ok(absent)
}

/// Every substitute of `absent`, once each, leaving out those who are recipients.
pub fn substitutes_of(absent: &[Absent], recipients: &[Identifier]) -> Vec<Identifier> {
    let mut all: Vec<Identifier> = Vec::new();
    for substitute in absent.iter().flat_map(|a| &a.substitutes) {
        if !recipients.contains(substitute) && !all.contains(substitute) {
            all.push(substitute.clone());
        }
    }
    all
}

//! The body of `POST /depot/messages`, parsed once at the edge (API.md "Depot"). The
//! `sealed` member is kept exactly as received — the compact string's characters, or
//! the JSON object's text byte for byte — because the timestamp is over those bytes.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use chrono::{DateTime, Duration, Utc};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::jwe::{self, Envelope};
use crate::people::Identifier;

pub const MAX_RECIPIENTS: usize = 100;
pub const MAX_METADATA_ENTRIES: usize = 32;
const MAX_METADATA_KEY: usize = 64;
const MAX_METADATA_VALUE: usize = 1024;

/// The sealed message as posted.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// The exact text the timestamp covers.
    pub text: String,
    /// A JSON object (general or flattened serialization), not a compact string.
    pub is_json: bool,
    pub envelope: Envelope,
}

#[derive(Debug, Clone)]
pub struct PostedMessage {
    pub application: String,
    pub recipients: Vec<Identifier>,
    pub sealed: Sealed,
    pub expires_at: DateTime<Utc>,
    pub metadata: Map<String, Value>,
}

/// A field of the body that is not as it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub detail: String,
}

fn invalid(field: impl Into<String>, detail: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        detail: detail.into(),
    }
}

/// How long messages are kept, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub default: Duration,
    pub max: Duration,
}

/// The body's JSON is malformed (400), as opposed to a field being wrong (422).
#[derive(Debug)]
pub enum BodyError {
    Malformed(String),
    Field(FieldError),
}

impl From<FieldError> for BodyError {
    fn from(e: FieldError) -> Self {
        Self::Field(e)
    }
}

const MEMBERS: &[&str] = &[
    "application",
    "recipients",
    "sealed",
    "expiresAt",
    "metadata",
];

/// Parses the body, which becomes the `sealed` text: that text's bytes are moved to the
/// front of the body's own buffer rather than copied into another, so that a message
/// of megabytes is held once between the network and the database driver.
pub fn parse(
    body: Vec<u8>,
    now: DateTime<Utc>,
    retention: Retention,
) -> Result<PostedMessage, BodyError> {
    // A member named twice (the sealed JWE's included, whose text is stored as sent)
    // would read differently to a first-wins and a last-wins reader.
    crate::body::unique_members(&body).map_err(|e| {
        BodyError::Malformed(if e.is_eof() {
            format!("the body ends before its JSON does ({e}): is its Content-Length right?")
        } else {
            format!("the body must be I-JSON: {e}")
        })
    })?;
    let members: HashMap<String, &RawValue> = serde_json::from_slice(&body)
        .map_err(|e| BodyError::Malformed(format!("the body must be a JSON object: {e}")))?;
    if let Some(unknown) = members.keys().find(|k| !MEMBERS.contains(&k.as_str())) {
        return Err(invalid(
            unknown.clone(),
            format!("unknown member (expected {})", MEMBERS.join(", ")),
        )
        .into());
    }
    let member = |name: &str| members.get(name).copied();
    let application = application(member("application"))?;
    let recipients = recipients(member("recipients"))?;
    let sealed = sealed(member("sealed"), &body)?;
    let expires_at = expires_at(member("expiresAt"), now, retention)?;
    let metadata = metadata(member("metadata"))?;
    Ok(PostedMessage {
        application,
        recipients,
        sealed: sealed.made_of(body)?,
        expires_at,
        metadata,
    })
}

fn application(raw: Option<&RawValue>) -> Result<String, FieldError> {
    let text: Option<String> = raw.and_then(|r| serde_json::from_str(r.get()).ok());
    match text {
        Some(a)
            if (1..=64).contains(&a.len())
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Ok(a)
        }
        _ => Err(invalid(
            "application",
            "a label of 1 to 64 letters, digits, '-' or '_' is required (it names the routing key)",
        )),
    }
}

fn recipients(raw: Option<&RawValue>) -> Result<Vec<Identifier>, FieldError> {
    let list: Vec<Value> = raw
        .and_then(|r| serde_json::from_str(r.get()).ok())
        .ok_or_else(|| invalid("recipients", "an array of identifiers is required"))?;
    if list.is_empty() || list.len() > MAX_RECIPIENTS {
        return Err(invalid(
            "recipients",
            format!("name from 1 to {MAX_RECIPIENTS} recipients"),
        ));
    }
    let mut seen = HashSet::new();
    list.into_iter()
        .enumerate()
        .map(|(i, value)| {
            let id: Identifier = serde_json::from_value(value).map_err(|e| {
                invalid(
                    format!("recipients[{i}]"),
                    format!("not a valid identifier: {e}"),
                )
            })?;
            if !seen.insert(id.clone()) {
                return Err(invalid(format!("recipients[{i}]"), "named twice"));
            }
            Ok(id)
        })
        .collect()
}

/// Where the sealed message lies in the body, checked.
struct SealedAt {
    /// The bytes of its text in the body: the JSON object, or the compact string
    /// between its quotes.
    span: Range<usize>,
    /// A compact string written with JSON escapes: its characters.
    unescaped: Option<String>,
    is_json: bool,
    envelope: Envelope,
}

impl SealedAt {
    /// The sealed text, made of the body it was found in.
    fn made_of(self, mut body: Vec<u8>) -> Result<Sealed, FieldError> {
        let text = match self.unescaped {
            Some(text) => text,
            None => {
                body.truncate(self.span.end);
                body.drain(..self.span.start);
                String::from_utf8(body).map_err(|e| invalid("sealed", e.to_string()))?
            }
        };
        Ok(Sealed {
            text,
            is_json: self.is_json,
            envelope: self.envelope,
        })
    }
}

/// The bytes of `part`, a slice of `whole`, in `whole`.
fn span_in(whole: &[u8], part: &str) -> Option<Range<usize>> {
    let start = part.as_ptr().addr().checked_sub(whole.as_ptr().addr())?;
    let end = start.checked_add(part.len())?;
    (end <= whole.len()).then_some(start..end)
}

fn sealed(raw: Option<&RawValue>, body: &[u8]) -> Result<SealedAt, FieldError> {
    let raw = raw.ok_or_else(|| invalid("sealed", "the sealed message (a JWE) is required"))?;
    let malformed = |e: jwe::MalformedJwe| invalid("sealed", format!("not an acceptable JWE: {e}"));
    let json = raw.get();
    let outside = || invalid("sealed", "not within the body");
    match json.as_bytes().first() {
        Some(b'"') if !json.contains('\\') => {
            // Without escapes, the string's characters are its JSON text's.
            let text = json
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .ok_or_else(|| invalid("sealed", "an unterminated string"))?;
            Ok(SealedAt {
                span: span_in(body, text).ok_or_else(outside)?,
                unescaped: None,
                is_json: false,
                envelope: jwe::parse_compact(text).map_err(malformed)?,
            })
        }
        Some(b'"') => {
            let text: String =
                serde_json::from_str(json).map_err(|e| invalid("sealed", e.to_string()))?;
            Ok(SealedAt {
                span: 0..0,
                envelope: jwe::parse_compact(&text).map_err(malformed)?,
                unescaped: Some(text),
                is_json: false,
            })
        }
        Some(b'{') => Ok(SealedAt {
            span: span_in(body, json).ok_or_else(outside)?,
            unescaped: None,
            is_json: true,
            envelope: jwe::parse_json(json).map_err(malformed)?,
        }),
        _ => Err(invalid(
            "sealed",
            "must be a compact JWE string or a JWE JSON object",
        )),
    }
}

fn expires_at(
    raw: Option<&RawValue>,
    now: DateTime<Utc>,
    retention: Retention,
) -> Result<DateTime<Utc>, FieldError> {
    let Some(raw) = raw.filter(|r| r.get() != "null") else {
        return Ok(now + retention.default);
    };
    let latest = now + retention.max;
    serde_json::from_str::<String>(raw.get())
        .ok()
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| *t > now && *t <= latest)
        .ok_or_else(|| {
            invalid(
                "expiresAt",
                format!(
                    "an RFC 3339 time after now and at most {} days ahead is required",
                    retention.max.num_days()
                ),
            )
        })
}

fn metadata(raw: Option<&RawValue>) -> Result<Map<String, Value>, FieldError> {
    let Some(raw) = raw.filter(|r| r.get() != "null") else {
        return Ok(Map::new());
    };
    let map: Map<String, Value> = serde_json::from_str(raw.get())
        .map_err(|_| invalid("metadata", "an object of strings is required"))?;
    if map.len() > MAX_METADATA_ENTRIES {
        return Err(invalid(
            "metadata",
            format!("at most {MAX_METADATA_ENTRIES} entries"),
        ));
    }
    for (key, value) in &map {
        let ok_key = (1..=MAX_METADATA_KEY).contains(&key.chars().count())
            && !key.chars().any(char::is_control);
        let ok_value = value
            .as_str()
            .is_some_and(|v| v.chars().count() <= MAX_METADATA_VALUE);
        if !ok_key || !ok_value {
            return Err(invalid(
                format!("metadata.{key}"),
                format!(
                    "keys of 1 to {MAX_METADATA_KEY} characters, string values of at most {MAX_METADATA_VALUE}"
                ),
            ));
        }
    }
    Ok(map)
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;

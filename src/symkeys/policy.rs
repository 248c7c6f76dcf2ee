//! Access policies of symmetric keys, and who they let read: pure functions of the
//! policy and the reader's `identity` claim (API.md "Symmetric keys").
//!
//! A policy lists `allow` and `deny` selectors; a reader is granted the key when an
//! allow selector matches and no deny selector does (deny wins). A mandatee is judged
//! by who they are, and also as their mandator only where the policy says so
//! (`mandateesAsMandator`), since acting for someone is not being them. The creator
//! always may read, whatever the policy says.

use std::fmt;

use serde_json::{Map, Value, json};

use crate::people::model::{QUALITIES, identifier_parts};
use crate::people::{Cbe, Identifier, Nihii, Ssin};

const SELECTOR_TYPES: [&str; 5] = ["ssin", "nihii", "cbe", "quality", "profile"];

/// At most this many selectors in each of `allow` and `deny`.
pub const MAX_SELECTORS: usize = 100;

/// The kinds of identity a token can speak for (the `identity.profile` claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileKind {
    Citizen,
    Professional,
    Organization,
    Mandatee,
    System,
}

impl ProfileKind {
    const ALL: [ProfileKind; 5] = [
        Self::Citizen,
        Self::Professional,
        Self::Organization,
        Self::Mandatee,
        Self::System,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Citizen => "citizen",
            Self::Professional => "professional",
            Self::Organization => "organization",
            Self::Mandatee => "mandatee",
            Self::System => "system",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == value)
    }
}

/// Who a selector names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// A person by SSIN, a professional by NIHII, an organization by CBE.
    Identifier(Identifier),
    /// Professionals of a quality (`doctor`, `nurse`, …).
    Quality(String),
    /// Every identity presented under a profile.
    Profile(ProfileKind),
}

impl Selector {
    fn to_json(&self) -> Value {
        let (kind, value) = self.parts();
        json!({"type": kind, "value": value})
    }

    fn parts(&self) -> (&'static str, &str) {
        match self {
            Self::Identifier(id) => identifier_parts(id),
            Self::Quality(q) => ("quality", q),
            Self::Profile(p) => ("profile", p.as_str()),
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, value) = self.parts();
        write!(f, "{kind} {value}")
    }
}

/// Who may read a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPolicy {
    pub allow: Vec<Selector>,
    pub deny: Vec<Selector>,
    /// Whether a mandatee is also judged as its mandator.
    pub mandatees_as_mandator: bool,
}

/// A request field that is not as it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidField {
    pub field: String,
    pub detail: String,
}

pub(super) fn invalid(field: impl Into<String>, detail: impl Into<String>) -> InvalidField {
    InvalidField {
        field: field.into(),
        detail: detail.into(),
    }
}

pub(super) fn object<'a>(
    value: &'a Value,
    field: &str,
) -> Result<&'a Map<String, Value>, InvalidField> {
    value
        .as_object()
        .ok_or_else(|| invalid(field, "must be an object"))
}

pub(super) fn only_members(
    members: &Map<String, Value>,
    known: &[&str],
    field: &str,
) -> Result<(), InvalidField> {
    match members.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(invalid(
            if field.is_empty() {
                unknown.clone()
            } else {
                format!("{field}.{unknown}")
            },
            format!("unknown member (expected {})", known.join(", ")),
        )),
        None => Ok(()),
    }
}

impl AccessPolicy {
    /// Parses the `policy` member of a creation request; errors name the field at
    /// fault with its path from the body's root (`policy.allow[2].value`).
    pub fn parse(value: &Value) -> Result<Self, InvalidField> {
        let members = object(value, "policy")?;
        only_members(members, &["allow", "deny", "mandateesAsMandator"], "policy")?;
        let allow = selectors(members.get("allow"), "policy.allow")?;
        if allow.is_empty() {
            return Err(invalid(
                "policy.allow",
                "must name at least one selector: a policy that allows nobody protects nothing \
                 the creator cannot keep alone",
            ));
        }
        let deny = selectors(members.get("deny"), "policy.deny")?;
        let mandatees_as_mandator = match members.get("mandateesAsMandator") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(invalid(
                    "policy.mandateesAsMandator",
                    "must be true or false",
                ));
            }
        };
        Ok(Self {
            allow,
            deny,
            mandatees_as_mandator,
        })
    }

    /// The policy in the shape [`parse`](Self::parse) reads.
    pub fn to_json(&self) -> Value {
        let list = |s: &[Selector]| s.iter().map(Selector::to_json).collect::<Vec<_>>();
        json!({
            "allow": list(&self.allow),
            "deny": list(&self.deny),
            "mandateesAsMandator": self.mandatees_as_mandator,
        })
    }
}

fn selectors(value: Option<&Value>, field: &str) -> Result<Vec<Selector>, InvalidField> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid(field, "must be an array of selectors")),
    };
    if items.len() > MAX_SELECTORS {
        return Err(invalid(field, format!("at most {MAX_SELECTORS} selectors")));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| selector(item, &format!("{field}[{i}]")))
        .collect()
}

fn selector(value: &Value, field: &str) -> Result<Selector, InvalidField> {
    let members = object(value, field)?;
    only_members(members, &["type", "value"], field)?;
    let text = |name: &str| {
        members
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("{field}.{name}"), "must be a string"))
    };
    let kind = text("type")?;
    if !SELECTOR_TYPES.contains(&kind) {
        return Err(invalid(
            format!("{field}.type"),
            format!(
                "unknown selector type {kind:?} (one of {})",
                SELECTOR_TYPES.join(", ")
            ),
        ));
    }
    let value = text("value")?;
    let value_field = format!("{field}.value");
    match kind {
        "quality" if QUALITIES.contains(&value) => Ok(Selector::Quality(value.to_owned())),
        "quality" => Err(invalid(
            value_field,
            format!(
                "unknown quality {value:?} (one of {})",
                QUALITIES.join(", ")
            ),
        )),
        "profile" => ProfileKind::parse(value)
            .map(Selector::Profile)
            .ok_or_else(|| {
                invalid(
                    value_field,
                    format!(
                        "unknown profile {value:?} (one of {})",
                        ProfileKind::ALL.map(ProfileKind::as_str).join(", ")
                    ),
                )
            }),
        _ => Identifier::parse(kind, value)
            .map(Selector::Identifier)
            .map_err(|e| invalid(value_field, format!("not a valid {kind}: {e}"))),
    }
}

/// The reader, as its token's `identity` claim describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub profile: ProfileKind,
    pub ssin: Option<Ssin>,
    pub nihii: Option<Nihii>,
    pub quality: Option<String>,
    pub cbe: Option<Cbe>,
    pub mandator: Option<Identifier>,
}

impl Subject {
    /// The subject of an `identity` claim; `None` when it names no known profile.
    pub fn from_identity(identity: &Value) -> Option<Self> {
        let text = |name: &str| identity.get(name).and_then(Value::as_str);
        let profile = ProfileKind::parse(text("profile")?)?;
        Some(Self {
            profile,
            ssin: text("ssin").and_then(|v| Ssin::parse(v).ok()),
            nihii: text("nihii").and_then(|v| Nihii::parse(v).ok()),
            quality: text("quality").map(str::to_owned),
            cbe: text("cbe").and_then(|v| Cbe::parse(v).ok()),
            mandator: identity
                .get("mandator")
                .and_then(|m| serde_json::from_value(m.clone()).ok()),
        })
    }

    /// Whether the selector names this subject as itself.
    fn is(&self, selector: &Selector) -> bool {
        let professional = self.profile == ProfileKind::Professional;
        match selector {
            Selector::Identifier(Identifier::Ssin(s)) => self.ssin.as_ref() == Some(s),
            Selector::Identifier(Identifier::Nihii(n)) => {
                professional && self.nihii.as_ref() == Some(n)
            }
            Selector::Identifier(Identifier::Cbe(c)) => {
                matches!(
                    self.profile,
                    ProfileKind::Organization | ProfileKind::System
                ) && self.cbe.as_ref() == Some(c)
            }
            Selector::Quality(q) => professional && self.quality.as_ref() == Some(q),
            Selector::Profile(p) => self.profile == *p,
        }
    }

    /// The mandator a mandatee may stand for, under this policy.
    fn standing_for<'a>(&'a self, policy: &AccessPolicy) -> Option<&'a Identifier> {
        (policy.mandatees_as_mandator && self.profile == ProfileKind::Mandatee)
            .then_some(self.mandator.as_ref())
            .flatten()
    }
}

/// Which selector decided, and for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub list: &'static str,
    pub index: usize,
    pub selector: Selector,
    /// The selector named the mandator the reader acts for, not the reader.
    pub as_mandator: bool,
}

/// The policy's answer to a reader, with the reason the audit log keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    GrantedToCreator,
    Granted(Match),
    Denied(Match),
    NotAllowed,
}

impl Decision {
    pub fn granted(&self) -> bool {
        matches!(self, Self::GrantedToCreator | Self::Granted(_))
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let describe = |f: &mut fmt::Formatter<'_>, verb: &str, m: &Match| {
            let whom = if m.as_mandator { " (as mandator)" } else { "" };
            write!(f, "{verb} by {}[{}]: {}{whom}", m.list, m.index, m.selector)
        };
        match self {
            Self::GrantedToCreator => f.write_str("the creator of the key"),
            Self::Granted(m) => describe(f, "allowed", m),
            Self::Denied(m) => describe(f, "denied", m),
            Self::NotAllowed => f.write_str("no allow selector matches"),
        }
    }
}

fn first_match(
    list: &'static str,
    selectors: &[Selector],
    subject: &Subject,
    mandator: Option<&Identifier>,
) -> Option<Match> {
    selectors.iter().enumerate().find_map(|(index, selector)| {
        let as_mandator = if subject.is(selector) {
            false
        } else if matches!(selector, Selector::Identifier(id) if Some(id) == mandator) {
            true
        } else {
            return None;
        };
        Some(Match {
            list,
            index,
            selector: selector.clone(),
            as_mandator,
        })
    })
}

/// Decides whether `subject` may read a key under `policy`; `is_creator` when the
/// reader is the key's creator (the same person or system client).
pub fn decide(policy: &AccessPolicy, subject: &Subject, is_creator: bool) -> Decision {
    if is_creator {
        return Decision::GrantedToCreator;
    }
    let mandator = subject.standing_for(policy);
    if let Some(m) = first_match("deny", &policy.deny, subject, mandator) {
        return Decision::Denied(m);
    }
    first_match("allow", &policy.allow, subject, mandator)
        .map_or(Decision::NotAllowed, Decision::Granted)
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;

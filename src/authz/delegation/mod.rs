//! Organizations acting for organizations (API.md "Organizations acting for
//! organizations"): a consumer organization (the legal party) delegates to a supplier
//! organization (which runs the software) some scopes, until an optional `notAfter` or
//! until an administrator ends it. A system client of the supplier then obtains, with
//! `client_credentials` and `consumer=<cbe>`, a token whose `identity` is the
//! consumer's and whose `act` (RFC 8693 §4.1) names the supplier's client; the token
//! names its delegation (`delegation` claim), so that it is refused once the
//! delegation has ended.
//!
//! Plain types and pure rules; `store` keeps them, the admin routes are in
//! `authz::routes::delegations`, the grant in `authz::grants::client_credentials`.

pub mod store;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::scope::{Scope, ScopeSet};
use crate::people::{Cbe, Identifier};

/// A recorded delegation, in force or ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    /// A UUID v7.
    pub id: String,
    pub consumer: Cbe,
    pub supplier: Cbe,
    pub scopes: ScopeSet,
    pub not_after: Option<DateTime<Utc>>,
    /// A label of where the delegation comes from (the `iss` of the tokens' `act`).
    pub source: Option<String>,
    pub created_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

impl Delegation {
    /// Whether tokens may be issued and used under it at `now`: not ended, and
    /// `notAfter` (if any) still ahead.
    pub fn in_force_at(&self, now: DateTime<Utc>) -> bool {
        self.standing().in_force_at(now)
    }

    /// What a token check needs to know of it.
    pub fn standing(&self) -> Standing {
        if self.ended_at.is_some() {
            Standing::Ended
        } else {
            Standing::InForce {
                not_after: self.not_after,
            }
        }
    }
}

/// A delegation as the token check sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Not ended; in force until `not_after` (if any).
    InForce { not_after: Option<DateTime<Utc>> },
    /// Ended by an administrator, or never recorded.
    Ended,
}

impl Standing {
    pub fn in_force_at(self, now: DateTime<Utc>) -> bool {
        match self {
            Standing::InForce { not_after } => not_after.is_none_or(|t| now < t),
            Standing::Ended => false,
        }
    }
}

/// The scopes a consumer may delegate: those of the resource servers a system client
/// works with. Never `admin` (administering the service is not the consumer's to
/// give) nor `openid` (no person is involved) nor `exchange` (acting for a person is
/// the person's to allow); a scope added later is not delegable until it is named here.
pub fn delegable(scope: Scope) -> bool {
    match scope {
        Scope::DepotSend
        | Scope::DepotRead
        | Scope::KeysRegister
        | Scope::KeysRead
        | Scope::SymkeysCreate
        | Scope::SymkeysRead
        | Scope::Tsa => true,
        Scope::Admin | Scope::Openid | Scope::Exchange => false,
    }
}

/// Which of the in-force delegations `candidates` (newest first) a token request
/// relies on: with `asked` scopes, the newest that covers them all; without, the
/// newest one.
pub fn choose<'a>(
    candidates: &'a [Delegation],
    asked: Option<&ScopeSet>,
) -> Option<&'a Delegation> {
    match asked {
        Some(asked) => candidates.iter().find(|d| asked.is_subset(&d.scopes)),
        None => candidates.first(),
    }
}

/// `POST /admin/delegations` as received. Every member is read by hand so that each
/// error names its field (422).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DelegationRequest {
    /// The organization that delegates: `{"type": "cbe", "value": "…"}`.
    #[schema(value_type = Object)]
    pub consumer: Option<Value>,
    /// The organization that acts for it: `{"type": "cbe", "value": "…"}`.
    #[schema(value_type = Object)]
    pub supplier: Option<Value>,
    /// The scopes delegated (those of a system client, never `admin`).
    #[schema(value_type = Vec<String>)]
    pub scopes: Option<Value>,
    /// RFC 3339; in the future. Absent: until ended.
    #[schema(value_type = Option<String>)]
    pub not_after: Option<Value>,
    /// A label of the delegation's source (1 to 200 characters); the `iss` of the
    /// tokens' `act`, the issuer when absent.
    #[schema(value_type = Option<String>)]
    pub source: Option<Value>,
}

/// A request that breaks a rule, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidDelegation {
    pub field: &'static str,
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> InvalidDelegation {
    InvalidDelegation {
        field,
        reason: reason.into(),
    }
}

/// A CBE identifier object (`{"type": "cbe", "value": "…"}`).
fn cbe_identifier(field: &'static str, value: Option<Value>) -> Result<Cbe, InvalidDelegation> {
    let value = value.ok_or_else(|| invalid(field, "is required"))?;
    let (Some(kind), Some(number)) = (
        value.get("type").and_then(Value::as_str),
        value.get("value").and_then(Value::as_str),
    ) else {
        return Err(invalid(
            field,
            "must be an identifier {\"type\": \"cbe\", \"value\": \"…\"}",
        ));
    };
    match Identifier::parse(kind, number).map_err(|e| invalid(field, e.to_string()))? {
        Identifier::Cbe(cbe) => Ok(cbe),
        _ => Err(invalid(field, "must be an organization's cbe identifier")),
    }
}

impl DelegationRequest {
    /// Checks every rule and returns the delegation to store (that both organizations
    /// are registered is the store's to check).
    pub fn validate(self, now: DateTime<Utc>) -> Result<Delegation, InvalidDelegation> {
        let consumer = cbe_identifier("consumer", self.consumer)?;
        let supplier = cbe_identifier("supplier", self.supplier)?;
        if consumer == supplier {
            return Err(invalid(
                "supplier",
                "an organization does not delegate to itself",
            ));
        }
        let listed = match self.scopes {
            Some(Value::Array(items)) => items,
            _ => return Err(invalid("scopes", "must be an array of scopes")),
        };
        let mut scopes = Vec::with_capacity(listed.len());
        for item in &listed {
            let scope = item
                .as_str()
                .and_then(Scope::parse)
                .ok_or_else(|| invalid("scopes", format!("unknown scope {item}")))?;
            if !delegable(scope) {
                return Err(invalid(
                    "scopes",
                    format!(
                        "{scope} cannot be delegated (only a system client's resource scopes, never admin)"
                    ),
                ));
            }
            scopes.push(scope);
        }
        let scopes: ScopeSet = scopes.into_iter().collect();
        if scopes.is_empty() {
            return Err(invalid("scopes", "at least one scope is required"));
        }
        let not_after = match self.not_after {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => {
                let at = DateTime::parse_from_rfc3339(&text)
                    .map_err(|e| invalid("notAfter", format!("not an RFC 3339 time: {e}")))?
                    .with_timezone(&Utc);
                // Kept to the millisecond, the precision of every stored time.
                let at =
                    chrono::DurationRound::duration_trunc(at, chrono::Duration::milliseconds(1))
                        .unwrap_or(at);
                if at <= now {
                    return Err(invalid("notAfter", "must be in the future"));
                }
                Some(at)
            }
            Some(_) => return Err(invalid("notAfter", "must be an RFC 3339 string")),
        };
        let source = match self.source {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => {
                let text = text.trim();
                if text.is_empty()
                    || text.chars().count() > 200
                    || text.chars().any(char::is_control)
                {
                    return Err(invalid(
                        "source",
                        "must be 1 to 200 characters without control characters",
                    ));
                }
                Some(text.to_owned())
            }
            Some(_) => return Err(invalid("source", "must be a string")),
        };
        Ok(Delegation {
            id: uuid::Uuid::now_v7().to_string(),
            consumer,
            supplier,
            scopes,
            not_after,
            source,
            created_at: now,
            ended_at: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const A: &str = "0203201340";
    const B: &str = "0123456749";

    fn request(body: Value) -> DelegationRequest {
        serde_json::from_value(body).unwrap()
    }

    fn valid() -> Value {
        json!({"consumer": {"type": "cbe", "value": A}, "supplier": {"type": "cbe", "value": B},
               "scopes": ["depot:send", "depot:read"]})
    }

    #[test]
    fn a_valid_request_becomes_a_delegation() {
        let now = Utc::now();
        let d = request(valid()).validate(now).unwrap();
        assert_eq!(d.consumer.as_str(), A);
        assert_eq!(d.supplier.as_str(), B);
        assert_eq!(d.scopes.to_string(), "depot:send depot:read");
        assert!(d.in_force_at(now));
    }

    #[test]
    fn each_rule_names_its_field() {
        let now = Utc::now();
        let cases = [
            (
                "consumer",
                json!({"consumer": {"type": "cbe", "value": "0203201341"}}),
            ),
            (
                "consumer",
                json!({"consumer": {"type": "ssin", "value": "85073003328"}}),
            ),
            ("consumer", json!({"consumer": A})),
            ("supplier", json!({"supplier": null})),
            ("supplier", json!({"supplier": {"type": "cbe", "value": A}})),
            ("scopes", json!({"scopes": ["admin"]})),
            ("scopes", json!({"scopes": ["openid"]})),
            ("scopes", json!({"scopes": ["depot:write"]})),
            ("scopes", json!({"scopes": []})),
            ("scopes", json!({"scopes": "depot:send"})),
            ("notAfter", json!({"notAfter": "2000-01-01T00:00:00Z"})),
            ("notAfter", json!({"notAfter": "tomorrow"})),
            ("source", json!({"source": " "})),
        ];
        for (field, change) in cases {
            let mut body = valid();
            for (k, v) in change.as_object().unwrap() {
                body[k] = v.clone();
            }
            let e = request(body.clone()).validate(now).unwrap_err();
            assert_eq!(e.field, field, "{body}: {e}");
        }
    }

    #[test]
    fn standing_follows_not_after_and_ending() {
        let now = Utc::now();
        let soon = now + chrono::Duration::seconds(1);
        assert!(Standing::InForce { not_after: None }.in_force_at(now));
        assert!(
            Standing::InForce {
                not_after: Some(soon)
            }
            .in_force_at(now)
        );
        assert!(
            !Standing::InForce {
                not_after: Some(soon)
            }
            .in_force_at(soon)
        );
        assert!(!Standing::Ended.in_force_at(now));
    }

    #[test]
    fn the_newest_covering_delegation_is_chosen() {
        let now = Utc::now();
        let mut wide = request(valid()).validate(now).unwrap();
        wide.scopes = ScopeSet::parse("depot:send depot:read").unwrap();
        let mut narrow = wide.clone();
        narrow.scopes = ScopeSet::parse("depot:read").unwrap();
        let newest_first = [narrow.clone(), wide.clone()];
        let send = ScopeSet::parse("depot:send").unwrap();
        assert_eq!(choose(&newest_first, Some(&send)), Some(&wide));
        assert_eq!(choose(&newest_first, None), Some(&narrow));
        assert_eq!(choose(&[], None), None);
        let tsa = ScopeSet::parse("tsa").unwrap();
        assert_eq!(choose(&newest_first, Some(&tsa)), None);
    }
}

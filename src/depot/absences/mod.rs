//! Absences and substitutes (out of office). A person or an organization is absent
//! from its boxes for a time and names the identifiers that substitute for it. The
//! messages are end-to-end encrypted, so the depot cannot forward them: it tells.
//!
//! - A sender looks a recipient up (`GET /depot/absence`), and the answer to a posted
//!   message lists the recipients that were absent at reception with their
//!   substitutes.
//! - A sender that chose to encrypt for a substitute too (one of its active `enc` keys
//!   is among the JWE's recipients) reaches it: the message is delivered to the
//!   substitute's inbox as well, marked with whom it stands in for. A substitute the
//!   sender did not encrypt for gets nothing, and cannot fetch the message.
//!
//! Whose boxes an absence covers, by the token's profile: a citizen's SSIN box; a
//! professional's SSIN and NIHII boxes; under an organization profile (a person of the
//! organization or one of its system clients) the CBE box; a mandatee's, the
//! mandator's box. A system client of no organization has no box to be absent from.

pub mod routes;
mod store;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, TimeDelta, Utc};
use sea_orm::{DatabaseConnection, DbErr};
use serde::Deserialize;
use serde_json::{Value, json};

use super::boxes::box_key;
use crate::cache::registry::{Freshness, Registered, written};
use crate::people::Identifier;

/// At most this many substitutes per absence.
pub const MAX_SUBSTITUTES: usize = 10;
/// The longest absence.
pub const MAX_DAYS: i64 = 366;

/// An absence: whose, which boxes, when, and who substitutes.
#[derive(Debug, Clone, PartialEq)]
pub struct Absence {
    pub id: String,
    /// `ssin:…` for a person, `cbe:…` for an organization (a mandatee's: the
    /// mandator's box key).
    pub owner: String,
    /// The box keys it covers.
    pub boxes: Vec<String>,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub substitutes: Vec<Identifier>,
    pub client_id: String,
    pub created_at: DateTime<Utc>,
}

impl Absence {
    /// As its owner sees it.
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "boxes": self.boxes.iter().filter_map(|k| identifier_of_box(k)).collect::<Vec<_>>(),
            "from": self.from,
            "until": self.until,
            "substitutes": self.substitutes,
            "createdAt": self.created_at,
        })
    }

    /// As a sender sees it, for one recipient.
    pub fn for_sender(&self, recipient: &Identifier) -> Value {
        json!({
            "recipient": recipient,
            "absent": true,
            "from": self.from,
            "until": self.until,
            "substitutes": self.substitutes,
        })
    }

    pub fn covers(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && at < self.until
    }
}

/// The identifier whose box this is (`ssin:…` → `{"type": "ssin", …}`).
fn identifier_of_box(key: &str) -> Option<Identifier> {
    let (kind, value) = key.split_once(':')?;
    Identifier::parse(kind, value).ok()
}

/// Whose absence a token may set, and the boxes it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub owner: String,
    pub boxes: Vec<String>,
}

impl Holder {
    /// The holder a token's `identity` stands for (see the module's rules).
    pub fn of(identity: &Value) -> Option<Self> {
        let text = |name: &str| identity.get(name).and_then(Value::as_str);
        let ssin = text("ssin").map(|s| format!("ssin:{s}"));
        let (owner, boxes) = match text("profile").unwrap_or_default() {
            "citizen" => (ssin.clone()?, vec![ssin?]),
            "professional" => {
                let mut boxes = vec![ssin.clone()?];
                boxes.extend(text("nihii").map(|n| format!("nihii:{n}")));
                (ssin?, boxes)
            }
            "organization" | "system" => {
                let cbe = format!("cbe:{}", text("cbe")?);
                (cbe.clone(), vec![cbe])
            }
            "mandatee" => {
                let mandator: Identifier =
                    serde_json::from_value(identity.get("mandator")?.clone()).ok()?;
                let key = box_key(&mandator);
                (key.clone(), vec![key])
            }
            _ => return None,
        };
        let mut boxes = boxes;
        // In the order the store lists them.
        boxes.sort();
        Some(Self { owner, boxes })
    }
}

impl Holder {
    /// A person at the account page: their SSIN box and the NIHII box of each of
    /// their professional profiles (an organization's absence is the organization's,
    /// set with its token).
    pub fn of_person(person: &crate::people::Person) -> Self {
        let owner = format!("ssin:{}", person.ssin);
        let mut boxes = vec![owner.clone()];
        for profile in &person.profiles {
            if let crate::people::Profile::Professional { nihii, .. } = profile {
                boxes.push(format!("nihii:{nihii}"));
            }
        }
        boxes.sort();
        boxes.dedup();
        Self { owner, boxes }
    }
}

/// `POST /depot/absences`, as sent.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AbsenceRequest {
    /// RFC 3339; default now.
    pub from: Option<String>,
    /// RFC 3339; after `from` and in the future, at most 366 days after `from`.
    pub until: String,
    /// 1 to 10 identifiers, none of them one of the absent boxes.
    #[schema(value_type = Vec<Object>)]
    pub substitutes: Vec<Value>,
}

/// Why an absence is not set or not found.
#[derive(Debug, thiserror::Error)]
pub enum AbsenceError {
    #[error("{field}: {detail}")]
    Field { field: String, detail: String },
    #[error("this absence overlaps absence {0}: end that one first")]
    Overlap(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

fn invalid(field: impl Into<String>, detail: impl Into<String>) -> AbsenceError {
    AbsenceError::Field {
        field: field.into(),
        detail: detail.into(),
    }
}

/// An RFC 3339 time, kept to the millisecond (as every time of the depot).
pub fn parse_time(field: &str, text: &str) -> Result<DateTime<Utc>, AbsenceError> {
    DateTime::parse_from_rfc3339(text)
        .map_err(|e| invalid(field, format!("not an RFC 3339 time: {e}")))?
        .with_timezone(&Utc)
        .duration_trunc(TimeDelta::milliseconds(1))
        .map_err(|e| invalid(field, format!("out of range: {e}")))
}

/// A request that passed its checks.
#[derive(Debug)]
struct Checked {
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    substitutes: Vec<Identifier>,
}

/// The request checked: its times and its substitutes.
fn checked(
    request: &AbsenceRequest,
    holder: &Holder,
    now: DateTime<Utc>,
) -> Result<Checked, AbsenceError> {
    let from = match &request.from {
        Some(text) => parse_time("from", text)?,
        None => now,
    };
    let until = parse_time("until", &request.until)?;
    if until <= from {
        return Err(invalid("until", "must be after from"));
    }
    if until <= now {
        return Err(invalid(
            "until",
            "is past: an absence must end in the future",
        ));
    }
    if until - from > Duration::days(MAX_DAYS) {
        return Err(invalid(
            "until",
            format!("an absence lasts at most {MAX_DAYS} days"),
        ));
    }
    if request.substitutes.is_empty() || request.substitutes.len() > MAX_SUBSTITUTES {
        return Err(invalid(
            "substitutes",
            format!("name 1 to {MAX_SUBSTITUTES} substitutes"),
        ));
    }
    let mut substitutes: Vec<Identifier> = Vec::new();
    for (i, value) in request.substitutes.iter().enumerate() {
        let field = format!("substitutes[{i}]");
        let id: Identifier = serde_json::from_value(value.clone())
            .map_err(|e| invalid(&field, format!("not a valid identifier: {e}")))?;
        if holder.boxes.contains(&box_key(&id)) {
            return Err(invalid(&field, "is one of the absent boxes"));
        }
        if substitutes.contains(&id) {
            return Err(invalid(&field, "named twice"));
        }
        substitutes.push(id);
    }
    Ok(Checked {
        from,
        until,
        substitutes,
    })
}

/// How many boxes' absences an instance keeps in memory.
const CACHED_BOXES: u64 = 100_000;

/// The absences of the depot's boxes, on the database. Every message asks for its
/// recipients' absences, so each box's are cached, and read again once the registry
/// version moved (an absence set or ended here, at once; elsewhere, within the
/// registry watch's period, as for keys).
#[derive(Clone)]
pub struct Absences {
    db: DatabaseConnection,
    cache: Arc<Registered<String, Arc<Vec<Absence>>>>,
}

impl Absences {
    pub fn new(db: DatabaseConnection, freshness: Freshness) -> Self {
        Self {
            db,
            cache: Arc::new(Registered::new(CACHED_BOXES, freshness)),
        }
    }

    /// Records an absence of `holder`, refused when it overlaps one of its others.
    pub async fn set(
        &self,
        holder: &Holder,
        client_id: &str,
        request: &AbsenceRequest,
        now: DateTime<Utc>,
    ) -> Result<Absence, AbsenceError> {
        let Checked {
            from,
            until,
            substitutes,
        } = checked(request, holder, now)?;
        let absence = Absence {
            id: uuid::Uuid::now_v7().to_string(),
            owner: holder.owner.clone(),
            boxes: holder.boxes.clone(),
            from,
            until,
            substitutes,
            client_id: client_id.to_owned(),
            created_at: now,
        };
        let overlapping = store::insert_unless_overlapping(&self.db, &absence).await;
        written();
        match overlapping? {
            None => Ok(absence),
            Some(other) => Err(AbsenceError::Overlap(other)),
        }
    }

    /// The owner's absences that have not ended, soonest first.
    pub async fn of_owner(&self, owner: &str, now: DateTime<Utc>) -> Result<Vec<Absence>, DbErr> {
        store::of_owner(&self.db, owner, now).await
    }

    /// Ends (removes) one of the owner's absences; whether it was theirs.
    pub async fn remove(&self, owner: &str, id: &str) -> Result<bool, DbErr> {
        let removed = store::remove(&self.db, owner, id).await;
        written();
        removed
    }

    /// The absence covering each of these boxes at `at`, by box key.
    pub async fn at(
        &self,
        box_keys: &[String],
        at: DateTime<Utc>,
    ) -> Result<HashMap<String, Absence>, DbErr> {
        let mut found = HashMap::new();
        for key in box_keys {
            let of_box = self
                .cache
                .get(key.clone(), || async {
                    store::of_box(&self.db, key).await.map(Arc::new)
                })
                .await?;
            if let Some(absence) = of_box.iter().find(|a| a.covers(at)) {
                found.insert(key.clone(), absence.clone());
            }
        }
        Ok(found)
    }
}

/// How long an ended absence is kept (the owner's history) before the purge.
pub const KEPT_AFTER_END: Duration = Duration::days(30);

/// Removes the absences that ended more than [`KEPT_AFTER_END`] ago.
pub async fn purge_ended(
    db: &impl sea_orm::ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    store::purge(db, now - KEPT_AFTER_END).await
}

#[cfg(test)]
mod tests;

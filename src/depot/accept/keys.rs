//! Step 3 of accepting a message: every encryption `kid` belongs to a recipient, the
//! sender, a live symmetric key, or a substitute of a recipient absent at reception
//! (who is then reached); and which recipients were absent.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{AcceptError, Accepting, internal};
use crate::depot::Caller;
use crate::depot::absences::Absence;
use crate::depot::boxes::box_key;
use crate::depot::deliveries::Stand;
use crate::depot::request::PostedMessage;
use crate::keys::KeyUse;
use crate::keys::store::IdentityFilter;
use crate::people::Identifier;

/// The kids of the active `enc` keys of the recipients and of the sender.
async fn enc_kids(
    deps: &Accepting<'_>,
    sender: &Caller,
    posted: &PostedMessage,
    now: DateTime<Utc>,
) -> Result<HashSet<String>, sea_orm::DbErr> {
    let mut identities: Vec<IdentityFilter> =
        posted.recipients.iter().map(IdentityFilter::from).collect();
    let mut kids = HashSet::new();
    match serde_json::from_value::<Identifier>(sender.owner.identifier()) {
        Ok(id) => identities.push(IdentityFilter::from(&id)),
        // A system client of no organization: its own keys.
        Err(_) => kids.extend(
            deps.keys
                .active_of_client(&sender.claims.client_id, KeyUse::Enc, now)
                .await?,
        ),
    }
    kids.extend(
        deps.keys
            .active_of_any(identities, KeyUse::Enc, now)
            .await?,
    );
    Ok(kids)
}

/// The recipients absent at reception, and the substitutes the sender encrypted for.
#[derive(Debug, Default)]
pub struct Substitution {
    pub absent: Vec<(Identifier, Absence)>,
    pub reached: Vec<Stand>,
}

impl Substitution {
    /// `absentRecipients` of the 201 answer (present when a recipient was absent):
    /// each absent recipient, its absence and the substitutes this message reached.
    pub fn answer(&self) -> Value {
        let absent: Vec<Value> = self
            .absent
            .iter()
            .map(|(recipient, absence)| {
                let mut view = absence.for_sender(recipient);
                view["reached"] = json!(
                    self.reached
                        .iter()
                        .filter(|s| &s.absent == recipient)
                        .map(|s| &s.substitute)
                        .collect::<Vec<_>>()
                );
                view
            })
            .collect();
        Value::Array(absent)
    }
}

/// The recipients absent at `now`, with their absences.
async fn absent_recipients(
    deps: &Accepting<'_>,
    posted: &PostedMessage,
    now: DateTime<Utc>,
) -> Result<Vec<(Identifier, Absence)>, sea_orm::DbErr> {
    let keys: Vec<String> = posted.recipients.iter().map(box_key).collect();
    let mut found = deps.absences.at(&keys, now).await?;
    Ok(posted
        .recipients
        .iter()
        .zip(&keys)
        .filter_map(|(recipient, key)| Some((recipient.clone(), found.remove(key)?)))
        .collect())
}

/// Step 3: every recipient entry is encrypted to an active `enc` key of a recipient
/// or of the sender (so the sent box stays readable), to a live symmetric key, or to
/// an active `enc` key of a substitute of a recipient absent now, who is then reached.
pub async fn check_keys(
    deps: &Accepting<'_>,
    sender: &Caller,
    posted: &PostedMessage,
    now: DateTime<Utc>,
) -> Result<Substitution, AcceptError> {
    let (known, absent) = tokio::join!(
        enc_kids(deps, sender, posted, now),
        absent_recipients(deps, posted, now)
    );
    let known = known.map_err(internal("E-DEPOT-KEYS"))?;
    let absent = absent.map_err(internal("E-DEPOT-ABSENCES"))?;
    let mut substitutes: Option<Vec<(Stand, HashSet<String>)>> = None;
    let mut reached: Vec<Stand> = Vec::new();
    for recipient in &posted.sealed.envelope.recipients {
        if known.contains(&recipient.kid) {
            continue;
        }
        // The substitutes' keys are looked up once, and only for a kid that is
        // no recipient's: most messages never need them.
        if !absent.is_empty() && substitutes.is_none() {
            substitutes = Some(
                substitutes_kids(deps, posted, &absent, now)
                    .await
                    .map_err(internal("E-DEPOT-KEYS"))?,
            );
        }
        let standing = substitutes
            .iter()
            .flatten()
            .filter(|(_, kids)| kids.contains(&recipient.kid))
            .map(|(stand, _)| stand)
            .collect::<Vec<_>>();
        if !standing.is_empty() {
            for stand in standing {
                if !reached.contains(stand) {
                    reached.push(stand.clone());
                }
            }
            continue;
        }
        let live_symkey = match uuid::Uuid::parse_str(&recipient.kid) {
            Ok(_) => deps
                .symkeys
                .is_live(&recipient.kid, now)
                .await
                .map_err(internal("E-DEPOT-SYMKEY"))?,
            Err(_) => false,
        };
        if !live_symkey {
            return Err(AcceptError::UnknownKid(recipient.kid.clone()));
        }
    }
    Ok(Substitution { absent, reached })
}

/// The active `enc` kids of each substitute of the absent recipients (a substitute
/// that is itself a recipient is delivered to as one already).
async fn substitutes_kids(
    deps: &Accepting<'_>,
    posted: &PostedMessage,
    absent: &[(Identifier, Absence)],
    now: DateTime<Utc>,
) -> Result<Vec<(Stand, HashSet<String>)>, sea_orm::DbErr> {
    let mut kids = Vec::new();
    for (recipient, absence) in absent {
        for substitute in &absence.substitutes {
            if posted.recipients.contains(substitute) {
                continue;
            }
            let of_substitute = deps
                .keys
                .active_of_any(vec![IdentityFilter::from(substitute)], KeyUse::Enc, now)
                .await?;
            let stand = Stand {
                substitute: substitute.clone(),
                absent: recipient.clone(),
            };
            kids.push((stand, of_substitute));
        }
    }
    Ok(kids)
}

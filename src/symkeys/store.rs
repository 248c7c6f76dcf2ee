//! Storage of symmetric keys and their audit trail. The only symkeys code that sees
//! sea-orm. A key's row and the audit event that explains its change are written in
//! one transaction, so the trail never misses a creation, deletion or purge.

use chrono::{DateTime, Utc};
use entity::{symkey_audit, symmetric_key};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde_json::Value;

use super::{Actor, AuditEvent};

pub use entity::symkey_audit::Model as AuditRow;
pub use entity::symmetric_key::Model as KeyRow;

/// How many expired keys one purge pass removes at most.
const PURGE_BATCH: u64 = 500;

/// A key about to be stored; `sealed` is already sealed under the master key.
pub struct NewKey<'a> {
    pub key_id: &'a str,
    pub sealed: Vec<u8>,
    pub policy: Value,
    pub creator: &'a Actor,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

fn audit_row(
    at: DateTime<Utc>,
    key_id: &str,
    event: AuditEvent,
    actor: Option<&Actor>,
    reason: &str,
) -> symkey_audit::ActiveModel {
    let subject = actor.map(|a| &a.subject);
    symkey_audit::ActiveModel {
        at: Set(at),
        key_id: Set(key_id.to_owned()),
        event: Set(event.as_str().to_owned()),
        actor_owner: Set(actor.map(|a| a.owner.clone())),
        actor_ssin: Set(subject
            .and_then(|s| s.ssin.as_ref())
            .map(ToString::to_string)),
        actor_nihii: Set(subject
            .and_then(|s| s.nihii.as_ref())
            .map(ToString::to_string)),
        actor_cbe: Set(subject
            .and_then(|s| s.cbe.as_ref())
            .map(ToString::to_string)),
        actor_client_id: Set(actor.map(|a| a.client_id.clone())),
        actor: Set(actor.map(Actor::to_json)),
        reason: Set(reason.to_owned()),
        ..Default::default()
    }
}

/// Stores a new key and its `created` event.
pub async fn insert(db: &DatabaseConnection, new: NewKey<'_>) -> Result<(), DbErr> {
    let tx = db.begin().await?;
    symmetric_key::ActiveModel {
        key_id: Set(new.key_id.to_owned()),
        sealed: Set(new.sealed),
        policy: Set(new.policy),
        creator_owner: Set(new.creator.owner.clone()),
        creator: Set(new.creator.to_json()),
        created_at: Set(new.created_at),
        expires_at: Set(new.expires_at),
    }
    .insert(&tx)
    .await?;
    audit_row(
        new.created_at,
        new.key_id,
        AuditEvent::Created,
        Some(new.creator),
        &format!("expires at {}", new.expires_at.to_rfc3339()),
    )
    .insert(&tx)
    .await?;
    tx.commit().await
}

pub async fn get(db: &impl ConnectionTrait, key_id: &str) -> Result<Option<KeyRow>, DbErr> {
    symmetric_key::Entity::find_by_id(key_id.to_owned())
        .one(db)
        .await
}

/// Which symmetric keys are live: what the depot asks of a message's kid that is no
/// registered key.
#[derive(Clone)]
pub struct LiveSymkeys {
    db: DatabaseConnection,
}

impl LiveSymkeys {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Whether `key_id` names a key that exists and has not expired at `at`.
    pub async fn is_live(&self, key_id: &str, at: DateTime<Utc>) -> Result<bool, DbErr> {
        Ok(get(&self.db, key_id)
            .await?
            .is_some_and(|k| k.expires_at > at))
    }
}

/// The owner that created a key, from the audit trail: it outlives the key's row.
pub async fn creator_of_removed(
    db: &impl ConnectionTrait,
    key_id: &str,
) -> Result<Option<String>, DbErr> {
    Ok(symkey_audit::Entity::find()
        .filter(symkey_audit::Column::KeyId.eq(key_id))
        .filter(symkey_audit::Column::Event.eq(AuditEvent::Created.as_str()))
        .one(db)
        .await?
        .map(|row| row.actor_owner.unwrap_or_default()))
}

/// Records one event of a key's life.
pub async fn audit(
    db: &impl ConnectionTrait,
    at: DateTime<Utc>,
    key_id: &str,
    event: AuditEvent,
    actor: Option<&Actor>,
    reason: &str,
) -> Result<(), DbErr> {
    audit_row(at, key_id, event, actor, reason)
        .insert(db)
        .await?;
    Ok(())
}

/// Removes a key at its creator's request, with its `deleted` event; `false` when
/// it was gone already.
pub async fn delete(
    db: &DatabaseConnection,
    key_id: &str,
    by: &Actor,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let tx = db.begin().await?;
    let removed = symmetric_key::Entity::delete_by_id(key_id.to_owned())
        .exec(&tx)
        .await?
        .rows_affected
        == 1;
    if removed {
        audit_row(
            at,
            key_id,
            AuditEvent::Deleted,
            Some(by),
            "deleted by its creator",
        )
        .insert(&tx)
        .await?;
    }
    tx.commit().await?;
    Ok(removed)
}

/// Removes keys that expired before `now`, leaving a `purged` event for each.
pub async fn purge_expired(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let tx = db.begin().await?;
    let expired: Vec<(String, DateTime<Utc>)> = symmetric_key::Entity::find()
        .select_only()
        .column(symmetric_key::Column::KeyId)
        .column(symmetric_key::Column::ExpiresAt)
        .filter(symmetric_key::Column::ExpiresAt.lte(now))
        .order_by_asc(symmetric_key::Column::ExpiresAt)
        .limit(PURGE_BATCH)
        .into_tuple()
        .all(&tx)
        .await?;
    let mut purged = 0;
    for (key_id, expires_at) in &expired {
        // Another instance may have purged it meanwhile: only the one that removes
        // the row records it.
        let removed = symmetric_key::Entity::delete_by_id(key_id.clone())
            .exec(&tx)
            .await?
            .rows_affected;
        if removed == 1 {
            let reason = format!("expired at {}", expires_at.to_rfc3339());
            audit_row(now, key_id, AuditEvent::Purged, None, &reason)
                .insert(&tx)
                .await?;
            purged += 1;
        }
    }
    tx.commit().await?;
    Ok(purged)
}

/// Which audit events to list.
#[derive(Debug, Default)]
pub struct AuditQuery {
    pub key_id: Option<String>,
    pub ssin: Option<String>,
    pub nihii: Option<String>,
    pub cbe: Option<String>,
    /// Only events older than this id (the cursor of the previous page).
    pub before: Option<i64>,
    pub limit: u64,
}

/// The newest events matching the query, newest first.
pub async fn audit_events(
    db: &impl ConnectionTrait,
    query: &AuditQuery,
) -> Result<Vec<AuditRow>, DbErr> {
    use symkey_audit::Column as C;
    let mut select = symkey_audit::Entity::find();
    for (column, value) in [
        (C::KeyId, &query.key_id),
        (C::ActorSsin, &query.ssin),
        (C::ActorNihii, &query.nihii),
        (C::ActorCbe, &query.cbe),
    ] {
        if let Some(value) = value {
            select = select.filter(column.eq(value.as_str()));
        }
    }
    if let Some(before) = query.before {
        select = select.filter(C::Id.lt(before));
    }
    select.order_by_desc(C::Id).limit(query.limit).all(db).await
}

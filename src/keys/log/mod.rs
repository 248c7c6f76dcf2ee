//! The keystore's transparency log: every registration, revocation and expiry of a key
//! is a leaf of an append-only Merkle tree (RFC 9162 §2.1: SHA-256, leaf hash
//! `H(0x00 || entry)`, node hash `H(0x01 || left || right)`), so that the directory
//! cannot rewrite whose key was valid when without the tree heads it signed before
//! disagreeing with the new ones.
//!
//! - **Entries.** An event's entry is the RFC 8785 canonical JSON of what a JWKS answer
//!   shows of the key ([`entry`]): a client holding a key from `GET /keys/jwks` rebuilds
//!   the entry's bytes itself, so a key row changed in the database no longer matches
//!   its logged leaf. Times are cut to milliseconds, as the API shows them.
//! - **Storage.** Table `key_log`, one row per leaf, indices dense from 0. A row is
//!   appended in the transaction of the key change it records ([`append`]); the next
//!   index is taken under a transaction-scoped advisory lock on PostgreSQL (so indices
//!   commit in order across instances) and under SQLite's one writer otherwise.
//! - **The tree.** Each instance keeps the tree in memory ([`KeyLog`]) and reads the rows
//!   appended since (by any instance) before it answers, so what it proves is what is
//!   committed.

use chrono::{DateTime, SecondsFormat, Utc};
use entity::key_log;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Statement,
};
use serde_json::{Value, json};

mod tree;

pub use tree::{Consistency, Inclusion, KeyLog, ProofError, TreeHead};

use super::Owner;
use entity::public_key::Model as KeyRow;

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Registered,
    Revoked,
    Expired,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Registered => "registered",
            Event::Revoked => "revoked",
            Event::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Event::Registered, Event::Revoked, Event::Expired]
            .into_iter()
            .find(|e| e.as_str() == text)
    }
}

/// The JWT `typ` of a signed tree head.
pub const HEAD_TYP: &str = "tree-head+jwt";

/// The key of the PostgreSQL advisory lock under which leaves are numbered: `keylog`
/// in ASCII.
pub const APPEND_LOCK: i64 = 0x6b65_796c_6f67;

/// A time as log entries (and the API) write it: RFC 3339, UTC, milliseconds.
pub fn millis(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The entry of `event` for the key `row`: the public JWK as registered, whose it is,
/// the client it was registered through, its validity, and for a revocation when.
pub fn entry(row: &KeyRow, event: Event) -> Value {
    let mut entry = json!({
        "event": event.as_str(),
        "kid": row.kid,
        "jwk": row.jwk,
        "identity": Owner::of_key(row).identifier(),
        "client_id": row.client_id,
        "not_before": millis(row.not_before),
        "not_after": millis(row.not_after),
    });
    if event == Event::Revoked
        && let Some(at) = row.revoked_at
    {
        entry["revoked_at"] = json!(millis(at));
    }
    entry
}

/// The bytes a leaf hashes: the entry in RFC 8785 canonical form.
pub fn canonical(entry: &Value) -> Result<Vec<u8>, DbErr> {
    serde_jcs::to_vec(entry).map_err(|e| DbErr::Custom(format!("canonical JSON: {e}")))
}

/// Appends `event` of `row` as the next leaf. Call it inside the transaction that
/// makes the change, after the change's own write (on SQLite that write holds the
/// database's write lock, under which the next index is read).
pub async fn append(
    txn: &impl ConnectionTrait,
    row: &KeyRow,
    event: Event,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    lock_appends(txn).await?;
    let bytes = canonical(&entry(row, event))?;
    let text = String::from_utf8(bytes).map_err(|e| DbErr::Custom(e.to_string()))?;
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        "INSERT INTO key_log (idx, kid, event, entry, logged_at) \
         SELECT COALESCE(MAX(idx) + 1, 0), $1, $2, $3, $4 FROM key_log",
        [
            row.kid.clone().into(),
            event.as_str().into(),
            text.into(),
            now.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Holds the numbering of entries until the transaction ends (PostgreSQL; SQLite's
/// one writer serializes appends by itself). Taking it again in one transaction is
/// free.
async fn lock_appends(txn: &impl ConnectionTrait) -> Result<(), DbErr> {
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [APPEND_LOCK.into()],
        ))
        .await?;
    }
    Ok(())
}

/// Appends `events` of `row` in one transaction, unless the first of them is logged
/// already (checked under the append lock, so two instances doing this at once log
/// them once); whether they were appended.
async fn append_unless_logged(
    db: &sea_orm::DatabaseConnection,
    row: &KeyRow,
    events: &[Event],
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    use sea_orm::TransactionTrait;
    let Some(first) = events.first() else {
        return Ok(false);
    };
    let txn = db.begin().await?;
    lock_appends(&txn).await?;
    if logged(&txn, &row.kid, *first).await? {
        return Ok(false);
    }
    for event in events {
        append(&txn, row, *event, now).await?;
    }
    txn.commit().await?;
    Ok(true)
}

/// Whether `kid` has an `event` in the log already.
pub async fn logged(db: &impl ConnectionTrait, kid: &str, event: Event) -> Result<bool, DbErr> {
    Ok(key_log::Entity::find()
        .filter(key_log::Column::Kid.eq(kid))
        .filter(key_log::Column::Event.eq(event.as_str()))
        .one(db)
        .await?
        .is_some())
}

fn index(idx: i64) -> Result<u64, DbErr> {
    u64::try_from(idx).map_err(|_| DbErr::Custom(format!("negative log index {idx}")))
}

/// Logs what the log is missing: keys registered before it existed (their
/// registration and, when revoked, their revocation), in the order they were created.
/// Idempotent, and safe for instances starting together (each key is checked under
/// the append lock).
pub async fn backfill(db: &sea_orm::DatabaseConnection, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let missing: Vec<KeyRow> = entity::public_key::Entity::find()
        .filter(
            entity::public_key::Column::Kid.not_in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(key_log::Column::Kid)
                    .from(key_log::Entity)
                    .to_owned(),
            ),
        )
        .order_by_asc(entity::public_key::Column::CreatedAt)
        .order_by_asc(entity::public_key::Column::Kid)
        .all(db)
        .await?;
    let mut appended = 0;
    for row in missing {
        let events: &[Event] = match row.revoked_at {
            Some(_) => &[Event::Registered, Event::Revoked],
            None => &[Event::Registered],
        };
        if append_unless_logged(db, &row, events, now).await? {
            appended += events.len() as u64;
        }
    }
    Ok(appended)
}

/// Logs the expiry of every key whose `not_after` has passed (and that was not revoked
/// before), once each; returns how many. The purge loop calls it every minute, so an
/// expiry is logged within a minute of it; its entry carries the exact `not_after`.
pub async fn expire_due(
    db: &sea_orm::DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    use entity::public_key::{Column, Entity};
    use sea_orm::sea_query::{Expr, ExprTrait, Query};
    let due: Vec<KeyRow> = Entity::find()
        .filter(Column::NotAfter.lte(now))
        .filter(
            sea_orm::Condition::any()
                .add(Column::RevokedAt.is_null())
                .add(Expr::col(Column::RevokedAt).gt(Expr::col(Column::NotAfter))),
        )
        .filter(
            Column::Kid.not_in_subquery(
                Query::select()
                    .column(key_log::Column::Kid)
                    .from(key_log::Entity)
                    .and_where(key_log::Column::Event.eq(Event::Expired.as_str()))
                    .to_owned(),
            ),
        )
        .order_by_asc(Column::NotAfter)
        .order_by_asc(Column::Kid)
        .all(db)
        .await?;
    let mut logged_now = 0;
    for row in due {
        if append_unless_logged(db, &row, &[Event::Expired], now).await? {
            logged_now += 1;
        }
    }
    if logged_now > 0 {
        // The log grew: this process's readers catch up (others at their next change).
        crate::cache::registry::written();
    }
    Ok(logged_now)
}

#[cfg(test)]
mod tests;

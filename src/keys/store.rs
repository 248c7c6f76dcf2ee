//! Storage of the keystore: ceremonies in progress and registered keys. The only
//! keys code that sees sea-orm.

use chrono::{DateTime, Duration, Utc};
use entity::{key_registration, public_key};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    DbErr, EntityTrait, QueryFilter, QueryOrder, Set, SqlErr, Statement, TransactionTrait,
};
use serde_json::Value;

use super::jwk::PublicJwk;
use super::log::{self, Event};
use super::{KeyUse, Lifetime, Owner, Policy, Source, Status};
use crate::cache::registry::written;

mod active;

pub use active::ActiveKids;
pub use entity::key_registration::Model as Registration;
pub use entity::public_key::Model as KeyRow;

#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    #[error("the maximum of active keys is reached")]
    Limit(Vec<KeyRow>),
    #[error("a key with this id is registered already")]
    Duplicate,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// A key about to be stored.
pub struct NewKey<'a> {
    pub owner: &'a Owner,
    pub client_id: Option<&'a str>,
    pub name: &'a str,
    pub key_use: KeyUse,
    pub jwk: &'a PublicJwk,
    pub source: Source,
    pub attestation: Option<&'a str>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

/// The times that decide a stored key's status. Only device keys lapse for lack of
/// use; a certificate or an administrator's key lives until it expires or is revoked.
pub fn lifetime(row: &KeyRow, policy: &Policy) -> Lifetime {
    Lifetime {
        not_before: row.not_before,
        not_after: row.not_after,
        revoked_at: row.revoked_at,
        inactive_from: (row.source == Source::Webauthn.as_str())
            .then(|| row.last_used_at + policy.inactivity),
    }
}

pub fn status(row: &KeyRow, policy: &Policy, at: DateTime<Utc>) -> Status {
    lifetime(row, policy).status_at(at)
}

pub fn key_use(row: &KeyRow) -> KeyUse {
    KeyUse::parse(&row.key_use).unwrap_or(KeyUse::Sig)
}

/// A stable 64-bit lock number for one (owner, client) pair.
fn pair_lock(owner: &str, client_id: Option<&str>) -> i64 {
    let digest = openssl::sha::sha256(format!("{owner}\n{}", client_id.unwrap_or("")).as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// Stores a key; with `limit`, only while the (owner, client) pair holds fewer active
/// keys. The count and the insert are one transaction, serialized per pair on
/// PostgreSQL by an advisory lock (SQLite serializes writers anyway).
pub async fn insert_key(
    db: &DatabaseConnection,
    key: &NewKey<'_>,
    limit: Option<usize>,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<(), InsertError> {
    let txn = db.begin().await?;
    if db.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [pair_lock(&key.owner.owner, key.client_id).into()],
        ))
        .await?;
    }
    if let Some(limit) = limit {
        let active = active_of(&txn, &key.owner.owner, key.client_id, now, policy).await?;
        if active.len() >= limit {
            return Err(InsertError::Limit(active));
        }
    }
    let kid = key
        .jwk
        .jwk
        .get("kid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let row = public_key::ActiveModel {
        kid: Set(kid),
        owner: Set(key.owner.owner.clone()),
        ssin: Set(key.owner.ssin.clone()),
        profile: Set(key.owner.profile.clone()),
        nihii: Set(key.owner.nihii.clone()),
        cbe: Set(key.owner.cbe.clone()),
        identity: Set(key.owner.identity.clone()),
        client_id: Set(key.client_id.map(str::to_owned)),
        name: Set(key.name.to_owned()),
        key_use: Set(key.key_use.as_str().to_owned()),
        alg: Set(key.jwk.alg.clone()),
        jwk: Set(Value::Object(key.jwk.jwk.clone())),
        jkt: Set(key.jwk.jkt.clone()),
        source: Set(key.source.as_str().to_owned()),
        attestation: Set(key.attestation.map(str::to_owned)),
        created_at: Set(now),
        not_before: Set(key.not_before),
        not_after: Set(key.not_after),
        last_used_at: Set(now),
        revoked_at: Set(None),
        revoked_by: Set(None),
    };
    let stored = match row.insert(&txn).await {
        Ok(stored) => stored,
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Err(InsertError::Duplicate);
        }
        Err(e) => return Err(e.into()),
    };
    log::append(&txn, &stored, Event::Registered, now).await?;
    txn.commit().await?;
    written();
    Ok(())
}

pub async fn get(db: &impl ConnectionTrait, kid: &str) -> Result<Option<KeyRow>, DbErr> {
    public_key::Entity::find_by_id(kid.to_owned()).one(db).await
}

/// Every key of an owner (all clients, or one), oldest first.
pub async fn keys_of(
    db: &impl ConnectionTrait,
    owner: &str,
    client_id: Option<&str>,
) -> Result<Vec<KeyRow>, DbErr> {
    let mut query = public_key::Entity::find().filter(public_key::Column::Owner.eq(owner));
    if let Some(client_id) = client_id {
        query = query.filter(public_key::Column::ClientId.eq(client_id));
    }
    query
        .order_by_asc(public_key::Column::CreatedAt)
        .order_by_asc(public_key::Column::Kid)
        .all(db)
        .await
}

/// The keys of an (owner, client) pair active at `at`.
pub async fn active_of(
    db: &impl ConnectionTrait,
    owner: &str,
    client_id: Option<&str>,
    at: DateTime<Utc>,
    policy: &Policy,
) -> Result<Vec<KeyRow>, DbErr> {
    let mut keys = keys_of(db, owner, client_id).await?;
    keys.retain(|k| k.revoked_at.is_none() && status(k, policy, at) == Status::Active);
    Ok(keys)
}

/// How precisely `last_used_at` is kept: issuing tokens must not be a write per token.
pub const TOUCH_GRANULARITY: Duration = Duration::hours(1);

/// Records that the keys were used (listed in an access token), at most once per
/// [`TOUCH_GRANULARITY`].
pub async fn touch(
    db: &impl ConnectionTrait,
    kids: &[String],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if kids.is_empty() {
        return Ok(());
    }
    public_key::Entity::update_many()
        .col_expr(public_key::Column::LastUsedAt, Expr::value(now))
        .filter(public_key::Column::Kid.is_in(kids.iter().cloned()))
        .filter(public_key::Column::LastUsedAt.lt(now - TOUCH_GRANULARITY))
        .filter(public_key::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Revokes a key unless it is revoked already, and logs the revocation in the same
/// transaction; `false` when nothing changed.
pub async fn revoke(
    db: &DatabaseConnection,
    kid: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let txn = db.begin().await?;
    let result = public_key::Entity::update_many()
        .col_expr(public_key::Column::RevokedAt, Expr::value(now))
        .col_expr(public_key::Column::RevokedBy, Expr::value(by))
        .filter(public_key::Column::Kid.eq(kid))
        .filter(public_key::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    let revoked = result.rows_affected == 1;
    if revoked && let Some(row) = get(&txn, kid).await? {
        log::append(&txn, &row, Event::Revoked, now).await?;
    }
    txn.commit().await?;
    written();
    Ok(revoked)
}

/// Revokes every key registered for a client (the client is deleted), each logged.
pub async fn revoke_client_keys(
    db: &DatabaseConnection,
    client_id: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let txn = db.begin().await?;
    let result = public_key::Entity::update_many()
        .col_expr(public_key::Column::RevokedAt, Expr::value(now))
        .col_expr(public_key::Column::RevokedBy, Expr::value(by))
        .filter(public_key::Column::ClientId.eq(client_id))
        .filter(public_key::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    // The rows this statement revoked (the write lock is held: nobody else's).
    let revoked = public_key::Entity::find()
        .filter(public_key::Column::ClientId.eq(client_id))
        .filter(public_key::Column::RevokedAt.eq(now))
        .filter(public_key::Column::RevokedBy.eq(by))
        .order_by_asc(public_key::Column::Kid)
        .all(&txn)
        .await?;
    for row in &revoked {
        log::append(&txn, row, Event::Revoked, now).await?;
    }
    txn.commit().await?;
    written();
    Ok(result.rows_affected)
}

/// Renames one of an owner's keys; `false` when the owner has no such key.
pub async fn rename(
    db: &impl ConnectionTrait,
    kid: &str,
    owner: &str,
    name: &str,
) -> Result<bool, DbErr> {
    let result = public_key::Entity::update_many()
        .col_expr(public_key::Column::Name, Expr::value(name))
        .filter(public_key::Column::Kid.eq(kid))
        .filter(public_key::Column::Owner.eq(owner))
        .exec(db)
        .await?;
    written();
    Ok(result.rows_affected == 1)
}

/// Whose keys an identifier finds (API.md, `GET /keys/jwks`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IdentityFilter {
    /// The keys the person registered as citizen or professional.
    Ssin(String),
    /// The keys registered under the professional profile with this NIHII.
    Nihii(String),
    /// The keys of the organization: its profile's keys and its system clients'.
    Cbe(String),
}

impl From<&crate::people::Identifier> for IdentityFilter {
    fn from(id: &crate::people::Identifier) -> Self {
        use crate::people::Identifier;
        match id {
            Identifier::Ssin(ssin) => Self::Ssin(ssin.to_string()),
            Identifier::Nihii(nihii) => Self::Nihii(nihii.to_string()),
            Identifier::Cbe(cbe) => Self::Cbe(cbe.to_string()),
        }
    }
}

impl IdentityFilter {
    fn condition(&self) -> Condition {
        use public_key::Column as C;
        match self {
            Self::Ssin(ssin) => Condition::all()
                .add(C::Ssin.eq(ssin.as_str()))
                .add(C::Profile.is_in(["citizen", "professional"])),
            Self::Nihii(nihii) => Condition::all()
                .add(C::Nihii.eq(nihii.as_str()))
                .add(C::Profile.eq("professional")),
            Self::Cbe(cbe) => Condition::all()
                .add(C::Cbe.eq(cbe.as_str()))
                .add(C::Profile.is_in(["organization", "system"])),
        }
    }

    /// The keys of any of `identities`, as one condition of constant depth: one `IN`
    /// list per kind of identifier (an `OR` of one condition per identity grew with the
    /// batch past SQLite's expression-depth limit).
    fn any_of<'a>(identities: impl Iterator<Item = &'a IdentityFilter>) -> Condition {
        use public_key::Column as C;
        let (mut ssins, mut nihiis, mut cbes) = (Vec::new(), Vec::new(), Vec::new());
        for id in identities {
            match id {
                Self::Ssin(v) => ssins.push(v.as_str()),
                Self::Nihii(v) => nihiis.push(v.as_str()),
                Self::Cbe(v) => cbes.push(v.as_str()),
            }
        }
        for list in [&mut ssins, &mut nihiis, &mut cbes] {
            list.sort_unstable();
            list.dedup();
        }
        let mut any = Condition::any();
        if !ssins.is_empty() {
            any = any.add(
                Condition::all()
                    .add(C::Ssin.is_in(ssins))
                    .add(C::Profile.is_in(["citizen", "professional"])),
            );
        }
        if !nihiis.is_empty() {
            any = any.add(
                Condition::all()
                    .add(C::Nihii.is_in(nihiis))
                    .add(C::Profile.eq("professional")),
            );
        }
        if !cbes.is_empty() {
            any = any.add(
                Condition::all()
                    .add(C::Cbe.is_in(cbes))
                    .add(C::Profile.is_in(["organization", "system"])),
            );
        }
        any
    }

    /// Whether the key is one of this identity's: the rule of `condition`, for rows
    /// already read.
    fn matches(&self, key: &KeyRow) -> bool {
        let profile = key.profile.as_str();
        match self {
            Self::Ssin(ssin) => {
                key.ssin.as_deref() == Some(ssin) && matches!(profile, "citizen" | "professional")
            }
            Self::Nihii(nihii) => key.nihii.as_deref() == Some(nihii) && profile == "professional",
            Self::Cbe(cbe) => {
                key.cbe.as_deref() == Some(cbe) && matches!(profile, "organization" | "system")
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Search {
    pub identity: Option<IdentityFilter>,
    /// The keys of any of these identities (a group's members); none for an empty one.
    pub members: Option<Vec<IdentityFilter>>,
    pub client_id: Option<String>,
    pub kid: Option<String>,
    pub key_use: Option<KeyUse>,
}

/// The keys matching a search that were active at `at`.
pub async fn search(
    db: &impl ConnectionTrait,
    search: &Search,
    at: DateTime<Utc>,
    policy: &Policy,
) -> Result<Vec<KeyRow>, DbErr> {
    use public_key::Column as C;
    let mut query = public_key::Entity::find().filter(C::NotBefore.lte(at));
    if let Some(identity) = &search.identity {
        query = query.filter(identity.condition());
    }
    if let Some(members) = &search.members {
        if members.is_empty() {
            return Ok(Vec::new());
        }
        query = query.filter(IdentityFilter::any_of(members.iter()));
    }
    if let Some(client_id) = &search.client_id {
        query = query.filter(C::ClientId.eq(client_id.as_str()));
    }
    if let Some(kid) = &search.kid {
        query = query.filter(C::Kid.eq(kid.as_str()));
    }
    let mut keys = query
        .order_by_asc(C::CreatedAt)
        .order_by_asc(C::Kid)
        .all(db)
        .await?;
    keys.retain(|k| {
        status(k, policy, at) == Status::Active
            && search
                .key_use
                .is_none_or(|wanted| key_use(k).serves(wanted))
    });
    Ok(keys)
}

// ---- registration ceremonies ------------------------------------------------------

pub struct NewRegistration<'a> {
    pub id: &'a str,
    pub owner: &'a Owner,
    pub client_id: &'a str,
    pub key_use: KeyUse,
    pub name: &'a str,
    pub state: Value,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_registration(
    db: &impl ConnectionTrait,
    new: NewRegistration<'_>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    key_registration::ActiveModel {
        id: Set(new.id.to_owned()),
        owner: Set(new.owner.owner.clone()),
        client_id: Set(new.client_id.to_owned()),
        identity: Set(serde_json::to_value(new.owner).unwrap_or(Value::Null)),
        key_use: Set(new.key_use.as_str().to_owned()),
        name: Set(new.name.to_owned()),
        state: Set(new.state),
        created_at: Set(now),
        expires_at: Set(new.expires_at),
        finished_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// A ceremony that can still be answered.
pub async fn open_registration(
    db: &impl ConnectionTrait,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Registration>, DbErr> {
    key_registration::Entity::find_by_id(id.to_owned())
        .filter(key_registration::Column::FinishedAt.is_null())
        .filter(key_registration::Column::ExpiresAt.gt(now))
        .one(db)
        .await
}

/// Uses up a ceremony's challenge: `true` for exactly one caller, even across
/// instances; every answer, good or bad, spends it.
pub async fn claim_registration(
    db: &impl ConnectionTrait,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = key_registration::Entity::update_many()
        .col_expr(key_registration::Column::FinishedAt, Expr::value(now))
        .filter(key_registration::Column::Id.eq(id))
        .filter(key_registration::Column::FinishedAt.is_null())
        .filter(key_registration::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Forgets ceremonies that ended or expired more than a day ago.
pub async fn purge_registrations(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let result = key_registration::Entity::delete_many()
        .filter(key_registration::Column::ExpiresAt.lt(now - Duration::days(1)))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

//! Storage of upstream logins: the pending ones (single use: the callback takes the row
//! away, so a replayed callback finds nothing) and the sessions they opened.

use chrono::{DateTime, Utc};
use entity::{federated_session, federation_pending};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, Set, TransactionTrait,
};

use crate::authz::login::flow::Session;
use crate::authz::login::store::{self as login_store, StoreError};

/// A login waiting for the upstream's callback.
#[derive(Debug, Clone)]
pub struct Pending {
    pub state_digest: String,
    pub interaction_id: String,
    /// Digest of the browser cookie that started it.
    pub browser: String,
    pub nonce: String,
    pub sealed_verifier: Vec<u8>,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_pending(
    db: &impl ConnectionTrait,
    pending: &Pending,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    federation_pending::ActiveModel {
        state_digest: Set(pending.state_digest.clone()),
        interaction_id: Set(pending.interaction_id.clone()),
        browser: Set(pending.browser.clone()),
        nonce: Set(pending.nonce.clone()),
        sealed_verifier: Set(pending.sealed_verifier.clone()),
        created_at: Set(now),
        expires_at: Set(pending.expires_at),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The live pending login of this `state` digest, if any (it stays until [`take`]).
pub async fn pending(
    db: &impl ConnectionTrait,
    state_digest: &str,
    now: DateTime<Utc>,
) -> Result<Option<Pending>, DbErr> {
    Ok(
        federation_pending::Entity::find_by_id(state_digest.to_owned())
            .filter(federation_pending::Column::ExpiresAt.gt(now))
            .one(db)
            .await?
            .map(|row| Pending {
                state_digest: row.state_digest,
                interaction_id: row.interaction_id,
                browser: row.browser,
                nonce: row.nonce,
                sealed_verifier: row.sealed_verifier,
                expires_at: row.expires_at,
            }),
    )
}

/// Uses the pending login up; `false` when another request did first (a replay).
pub async fn take(db: &impl ConnectionTrait, state_digest: &str) -> Result<bool, DbErr> {
    let done = federation_pending::Entity::delete_by_id(state_digest.to_owned())
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// A session an upstream login opened.
pub struct FederatedSession<'a> {
    pub session_id: &'a str,
    pub issuer: &'a str,
    pub subject: &'a str,
    pub profiles: Option<&'a [String]>,
    pub expires_at: DateTime<Utc>,
}

/// Stores the login session of an upstream login, marks it as the authentication of
/// `interaction_id`, and records what the upstream login allows, in one transaction:
/// a session without its record would allow every profile.
pub async fn open_session(
    db: &DatabaseConnection,
    session: &Session,
    interaction_id: &str,
    federated: &FederatedSession<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let txn = db.begin().await?;
    login_store::insert_session(&txn, session, now, federated.expires_at).await?;
    login_store::mark_authenticated(&txn, interaction_id, &session.id, now).await?;
    insert_session(&txn, federated, now).await?;
    txn.commit().await?;
    Ok(())
}

async fn insert_session(
    db: &impl ConnectionTrait,
    session: &FederatedSession<'_>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    federated_session::ActiveModel {
        session_id: Set(session.session_id.to_owned()),
        issuer: Set(session.issuer.to_owned()),
        subject: Set(session.subject.to_owned()),
        profiles: Set(session.profiles.map(|p| serde_json::json!(p))),
        created_at: Set(now),
        expires_at: Set(session.expires_at),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The profiles a session's upstream login allows; `None` when it was no upstream
/// login or its login allows all of the person's profiles.
pub async fn allowed_profiles(
    db: &impl ConnectionTrait,
    session_id: &str,
) -> Result<Option<Vec<String>>, DbErr> {
    let Some(row) = federated_session::Entity::find_by_id(session_id.to_owned())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(row
        .profiles
        .map(|p| serde_json::from_value(p).unwrap_or_default()))
}

/// Drops expired pending logins and the records of expired sessions.
pub async fn purge_expired(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let a = federation_pending::Entity::delete_many()
        .filter(federation_pending::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    let b = federated_session::Entity::delete_many()
        .filter(federated_session::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    Ok(a.rows_affected + b.rows_affected)
}

//! Storage of the login side: sessions, throttling counters, pending interactions
//! (authorization requests and account logins) and consents.

use chrono::{DateTime, Duration, Utc};
use entity::{authorization_request, consent, login_session, login_throttle};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, QueryFilter,
    QueryOrder, Set,
};
use serde::{Deserialize, Serialize};

use super::flow::Session;
use super::request::AuthorizeParams;
use crate::authz::scope::{Acr, ScopeSet};
use crate::people::{Profile, Ssin};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("stored record is inconsistent: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

// ---- sessions ------------------------------------------------------------------

pub async fn insert_session(
    db: &impl ConnectionTrait,
    session: &Session,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    login_session::ActiveModel {
        id: Set(session.id.clone()),
        ssin: Set(session.ssin.to_string()),
        acr: Set(session.acr.as_str().to_owned()),
        amr: Set(serde_json::json!(session.amr)),
        auth_time: Set(session.auth_time),
        csrf: Set(session.csrf.clone()),
        created_at: Set(now),
        expires_at: Set(expires_at),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The session with this id (the cookie's digest), if it has not expired.
pub async fn live_session(
    db: &impl ConnectionTrait,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Session>, StoreError> {
    let Some(row) = login_session::Entity::find_by_id(id.to_owned())
        .filter(login_session::Column::ExpiresAt.gt(now))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(Session {
        ssin: Ssin::parse(&row.ssin).map_err(corrupt)?,
        acr: Acr::parse(&row.acr).ok_or_else(|| corrupt("session acr"))?,
        amr: serde_json::from_value(row.amr).map_err(corrupt)?,
        auth_time: row.auth_time,
        csrf: row.csrf,
        id: row.id,
    }))
}

pub async fn delete_session(db: &impl ConnectionTrait, id: &str) -> Result<(), StoreError> {
    login_session::Entity::delete_by_id(id.to_owned())
        .exec(db)
        .await?;
    Ok(())
}

// ---- throttling ----------------------------------------------------------------

/// When the key is blocked, until when.
pub async fn blocked_until(
    db: &impl ConnectionTrait,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(login_throttle::Entity::find_by_id(key.to_owned())
        .one(db)
        .await?
        .and_then(|row| row.blocked_until)
        .filter(|until| *until > now))
}

/// Counts a failure for `key` within a sliding `window`; at `limit` failures the key
/// is blocked for `lockout`. Atomic per statement, so concurrent attempts all count.
pub async fn count_failure(
    db: &impl ConnectionTrait,
    key: &str,
    now: DateTime<Utc>,
    limit: u32,
    window: Duration,
    lockout: Duration,
) -> Result<(), StoreError> {
    // A window that is over (and no block running) starts afresh.
    login_throttle::Entity::delete_many()
        .filter(login_throttle::Column::Key.eq(key))
        .filter(login_throttle::Column::WindowStartedAt.lt(now - window))
        .filter(
            login_throttle::Column::BlockedUntil
                .is_null()
                .or(login_throttle::Column::BlockedUntil.lt(now)),
        )
        .exec(db)
        .await?;
    login_throttle::Entity::insert(login_throttle::ActiveModel {
        key: Set(key.to_owned()),
        failures: Set(1),
        window_started_at: Set(now),
        blocked_until: Set(None),
    })
    .on_conflict(
        OnConflict::column(login_throttle::Column::Key)
            .value(
                login_throttle::Column::Failures,
                Expr::col((login_throttle::Entity, login_throttle::Column::Failures)).add(1),
            )
            .to_owned(),
    )
    .exec(db)
    .await?;
    login_throttle::Entity::update_many()
        .col_expr(
            login_throttle::Column::BlockedUntil,
            Expr::value(now + lockout),
        )
        .filter(login_throttle::Column::Key.eq(key))
        .filter(login_throttle::Column::Failures.gte(i64::from(limit)))
        .filter(
            login_throttle::Column::BlockedUntil
                .is_null()
                .or(login_throttle::Column::BlockedUntil.lt(now)),
        )
        .exec(db)
        .await?;
    Ok(())
}

/// Counts an attempt for `key` before it is evaluated: `false` when the key is blocked,
/// or when this attempt is past the `limit` of its window (the key is then blocked
/// for `lockout`). The count is raised in one atomic statement, so however many
/// attempts run in parallel, at most `limit` of them are told to go on.
pub async fn reserve_attempt(
    db: &impl ConnectionTrait,
    key: &str,
    now: DateTime<Utc>,
    limit: u32,
    lockout: Duration,
) -> Result<bool, StoreError> {
    if blocked_until(db, key, now).await?.is_some() {
        return Ok(false);
    }
    count_failure(db, key, now, limit.saturating_add(1), lockout, lockout).await?;
    let failures = login_throttle::Entity::find_by_id(key.to_owned())
        .one(db)
        .await?
        .map_or(0, |row| row.failures);
    Ok(i64::from(failures) <= i64::from(limit))
}

/// Gives back one attempt counted by [`reserve_attempt`] (it succeeded), unless the
/// key is blocked meanwhile.
pub async fn release_attempt(db: &impl ConnectionTrait, key: &str) -> Result<(), StoreError> {
    use login_throttle::Column as C;
    login_throttle::Entity::update_many()
        .col_expr(C::Failures, Expr::col(C::Failures).sub(1))
        .filter(C::Key.eq(key))
        .filter(C::Failures.gt(0))
        .filter(C::BlockedUntil.is_null())
        .exec(db)
        .await?;
    Ok(())
}

pub async fn clear_failures(db: &impl ConnectionTrait, key: &str) -> Result<(), StoreError> {
    login_throttle::Entity::delete_by_id(key.to_owned())
        .exec(db)
        .await?;
    Ok(())
}

// ---- interactions ----------------------------------------------------------------

/// Why the person is at the login pages.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "purpose", rename_all = "lowercase")]
pub enum Purpose {
    /// An authorization request of a client.
    Authorize(Box<AuthorizeParams>),
    /// Logging in to the account pages.
    Account,
}

#[derive(Debug, Clone)]
pub struct Interaction {
    pub id: String,
    /// Digest of the browser cookie that started it.
    pub browser: String,
    pub purpose: Purpose,
    pub csrf: String,
    pub session_id: Option<String>,
    pub authenticated_at: Option<DateTime<Utc>>,
    pub profile: Option<Profile>,
    pub consented: bool,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_interaction(
    db: &impl ConnectionTrait,
    i: &Interaction,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let client_id = match &i.purpose {
        Purpose::Authorize(p) => p.client_id.clone(),
        Purpose::Account => String::new(),
    };
    authorization_request::ActiveModel {
        id: Set(i.id.clone()),
        browser: Set(i.browser.clone()),
        client_id: Set(client_id),
        params: Set(serde_json::to_value(&i.purpose).map_err(corrupt)?),
        csrf: Set(i.csrf.clone()),
        session_id: Set(i.session_id.clone()),
        authenticated_at: Set(i.authenticated_at),
        profile: Set(None),
        consented: Set(false),
        created_at: Set(now),
        expires_at: Set(i.expires_at),
    }
    .insert(db)
    .await?;
    Ok(())
}

pub async fn live_interaction(
    db: &impl ConnectionTrait,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Interaction>, StoreError> {
    let Some(row) = authorization_request::Entity::find_by_id(id.to_owned())
        .filter(authorization_request::Column::ExpiresAt.gt(now))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(Interaction {
        purpose: serde_json::from_value(row.params).map_err(corrupt)?,
        profile: row
            .profile
            .map(serde_json::from_value)
            .transpose()
            .map_err(corrupt)?,
        id: row.id,
        browser: row.browser,
        csrf: row.csrf,
        session_id: row.session_id,
        authenticated_at: row.authenticated_at,
        consented: row.consented,
        expires_at: row.expires_at,
    }))
}

/// The person authenticated within this interaction, under `session_id`. A profile
/// chosen and a consent given before belonged to whoever was logged in then (on a
/// shared workstation, perhaps someone else): both are asked again.
pub async fn mark_authenticated(
    db: &impl ConnectionTrait,
    id: &str,
    session_id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    authorization_request::Entity::update_many()
        .col_expr(
            authorization_request::Column::SessionId,
            Expr::value(session_id),
        )
        .col_expr(
            authorization_request::Column::AuthenticatedAt,
            Expr::value(now),
        )
        .col_expr(
            authorization_request::Column::Profile,
            Expr::value(Option::<serde_json::Value>::None),
        )
        .col_expr(authorization_request::Column::Consented, Expr::value(false))
        .filter(authorization_request::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn set_profile(
    db: &impl ConnectionTrait,
    id: &str,
    profile: &Profile,
) -> Result<(), StoreError> {
    authorization_request::Entity::update_many()
        .col_expr(
            authorization_request::Column::Profile,
            Expr::value(serde_json::to_value(profile).map_err(corrupt)?),
        )
        .filter(authorization_request::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn set_consented(db: &impl ConnectionTrait, id: &str) -> Result<(), StoreError> {
    authorization_request::Entity::update_many()
        .col_expr(authorization_request::Column::Consented, Expr::value(true))
        .filter(authorization_request::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Ends an interaction; `false` when it was already ended (a double submit).
pub async fn delete_interaction(db: &impl ConnectionTrait, id: &str) -> Result<bool, StoreError> {
    let result = authorization_request::Entity::delete_by_id(id.to_owned())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

// ---- consents ------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Consent {
    pub client_id: String,
    pub scopes: ScopeSet,
    pub granted_at: DateTime<Utc>,
}

pub async fn consent(
    db: &impl ConnectionTrait,
    ssin: &Ssin,
    client_id: &str,
) -> Result<Option<ScopeSet>, StoreError> {
    let row = consent::Entity::find_by_id((ssin.to_string(), client_id.to_owned()))
        .one(db)
        .await?;
    row.map(|r| scopes_of(&r.scopes)).transpose()
}

fn scopes_of(value: &serde_json::Value) -> Result<ScopeSet, StoreError> {
    let text: String = serde_json::from_value(value.clone()).map_err(corrupt)?;
    ScopeSet::parse(&text).map_err(|s| corrupt(format!("consent scope {s}")))
}

/// Records consent to `scopes` (added to what was consented before).
pub async fn grant_consent(
    db: &impl ConnectionTrait,
    ssin: &Ssin,
    client_id: &str,
    scopes: &ScopeSet,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut all = consent(db, ssin, client_id).await?.unwrap_or_default();
    all = all.iter().chain(scopes.iter()).collect();
    consent::Entity::insert(consent::ActiveModel {
        ssin: Set(ssin.to_string()),
        client_id: Set(client_id.to_owned()),
        scopes: Set(serde_json::json!(all.to_string())),
        granted_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([consent::Column::Ssin, consent::Column::ClientId])
            .update_columns([consent::Column::Scopes, consent::Column::GrantedAt])
            .to_owned(),
    )
    .exec(db)
    .await?;
    Ok(())
}

/// Withdraws one scope from a consent (the whole consent when it was the last);
/// `false` when the consent did not hold it.
pub async fn withdraw_scope(
    db: &impl ConnectionTrait,
    ssin: &Ssin,
    client_id: &str,
    scope: crate::authz::scope::Scope,
) -> Result<bool, StoreError> {
    let Some(held) = consent(db, ssin, client_id).await? else {
        return Ok(false);
    };
    if !held.contains(scope) {
        return Ok(false);
    }
    let kept: ScopeSet = held.iter().filter(|s| *s != scope).collect();
    if kept.is_empty() {
        return delete_consent(db, ssin, client_id).await;
    }
    consent::Entity::update_many()
        .col_expr(
            consent::Column::Scopes,
            sea_orm::sea_query::Expr::value(serde_json::json!(kept.to_string())),
        )
        .filter(consent::Column::Ssin.eq(ssin.to_string()))
        .filter(consent::Column::ClientId.eq(client_id))
        .exec(db)
        .await?;
    Ok(true)
}

pub async fn consents_of(
    db: &impl ConnectionTrait,
    ssin: &Ssin,
) -> Result<Vec<Consent>, StoreError> {
    consent::Entity::find()
        .filter(consent::Column::Ssin.eq(ssin.to_string()))
        .order_by_asc(consent::Column::ClientId)
        .all(db)
        .await?
        .into_iter()
        .map(|r| {
            Ok(Consent {
                scopes: scopes_of(&r.scopes)?,
                client_id: r.client_id,
                granted_at: r.granted_at,
            })
        })
        .collect()
}

pub async fn delete_consent(
    db: &impl ConnectionTrait,
    ssin: &Ssin,
    client_id: &str,
) -> Result<bool, StoreError> {
    let result = consent::Entity::delete_by_id((ssin.to_string(), client_id.to_owned()))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// A deleted client's consents and its authorizations in progress go with it.
pub async fn forget_client(db: &impl ConnectionTrait, client_id: &str) -> Result<u64, StoreError> {
    let a = consent::Entity::delete_many()
        .filter(consent::Column::ClientId.eq(client_id))
        .exec(db)
        .await?;
    let b = authorization_request::Entity::delete_many()
        .filter(authorization_request::Column::ClientId.eq(client_id))
        .exec(db)
        .await?;
    Ok(a.rows_affected + b.rows_affected)
}

/// Drops expired sessions, interactions and stale throttle counters.
pub async fn purge_expired(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let a = login_session::Entity::delete_many()
        .filter(login_session::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    let b = authorization_request::Entity::delete_many()
        .filter(authorization_request::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    let c = login_throttle::Entity::delete_many()
        .filter(login_throttle::Column::WindowStartedAt.lt(now - Duration::days(1)))
        .filter(
            login_throttle::Column::BlockedUntil
                .is_null()
                .or(login_throttle::Column::BlockedUntil.lt(now)),
        )
        .exec(db)
        .await?;
    Ok(a.rows_affected + b.rows_affected + c.rows_affected)
}

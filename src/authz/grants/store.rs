//! Storage of authorization codes and refresh tokens (both kept as digests).

use chrono::{DateTime, Utc};
use entity::{authorization_code, exchanged_token, refresh_token};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

use super::model::{CodeGrant, PersonGrant};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("stored grant is inconsistent: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error(transparent)]
    Revocation(#[from] crate::authz::store::StoreError),
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

// ---- authorization codes -------------------------------------------------------

pub struct StoredCode {
    pub client_id: String,
    pub grant: CodeGrant,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub access_jti: Option<String>,
    pub refresh_family: Option<String>,
}

pub async fn insert_code(
    db: &impl ConnectionTrait,
    digest: &str,
    grant: &CodeGrant,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    authorization_code::Entity::insert(authorization_code::ActiveModel {
        code_hash: Set(digest.to_owned()),
        client_id: Set(grant.person.client_id.clone()),
        grant: Set(serde_json::to_value(grant).map_err(corrupt)?),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
        access_jti: Set(None),
        refresh_family: Set(None),
    })
    .exec(db)
    .await?;
    Ok(())
}

pub async fn find_code(
    db: &impl ConnectionTrait,
    digest: &str,
) -> Result<Option<StoredCode>, StoreError> {
    let Some(row) = authorization_code::Entity::find_by_id(digest.to_owned())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(StoredCode {
        grant: serde_json::from_value(row.grant).map_err(corrupt)?,
        client_id: row.client_id,
        expires_at: row.expires_at,
        used_at: row.used_at,
        access_jti: row.access_jti,
        refresh_family: row.refresh_family,
    }))
}

/// Marks the code used; `false` when another request used it first.
pub async fn consume_code(
    db: &impl ConnectionTrait,
    digest: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let result = authorization_code::Entity::update_many()
        .col_expr(authorization_code::Column::UsedAt, Expr::value(now))
        .filter(authorization_code::Column::CodeHash.eq(digest))
        .filter(authorization_code::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Remembers what a code issued, so that a second use can revoke it.
pub async fn record_code_issue(
    db: &impl ConnectionTrait,
    digest: &str,
    access_jti: &str,
    refresh_family: Option<&str>,
) -> Result<(), StoreError> {
    authorization_code::Entity::update_many()
        .col_expr(
            authorization_code::Column::AccessJti,
            Expr::value(access_jti),
        )
        .col_expr(
            authorization_code::Column::RefreshFamily,
            Expr::value(refresh_family.map(str::to_owned)),
        )
        .filter(authorization_code::Column::CodeHash.eq(digest))
        .exec(db)
        .await?;
    Ok(())
}

// ---- refresh tokens ------------------------------------------------------------

pub struct StoredRefresh {
    pub family: String,
    pub client_id: String,
    pub grant: PersonGrant,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub struct NewRefresh<'a> {
    pub digest: &'a str,
    pub family: &'a str,
    pub grant: &'a PersonGrant,
    pub access_jti: &'a str,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_refresh(
    db: &impl ConnectionTrait,
    new: &NewRefresh<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    refresh_token::Entity::insert(refresh_token::ActiveModel {
        token_hash: Set(new.digest.to_owned()),
        family: Set(new.family.to_owned()),
        client_id: Set(new.grant.client_id.clone()),
        ssin: Set(new.grant.ssin.to_string()),
        grant: Set(serde_json::to_value(new.grant).map_err(corrupt)?),
        access_jti: Set(new.access_jti.to_owned()),
        created_at: Set(now),
        expires_at: Set(new.expires_at),
        used_at: Set(None),
        revoked_at: Set(None),
    })
    .exec(db)
    .await?;
    Ok(())
}

pub async fn find_refresh(
    db: &impl ConnectionTrait,
    digest: &str,
) -> Result<Option<StoredRefresh>, StoreError> {
    let Some(row) = refresh_token::Entity::find_by_id(digest.to_owned())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(StoredRefresh {
        grant: serde_json::from_value(row.grant).map_err(corrupt)?,
        family: row.family,
        client_id: row.client_id,
        expires_at: row.expires_at,
        used_at: row.used_at,
        revoked_at: row.revoked_at,
    }))
}

/// Marks a live refresh token used; `false` when it was used or revoked already.
pub async fn consume_refresh(
    db: &impl ConnectionTrait,
    digest: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let result = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
        .filter(refresh_token::Column::TokenHash.eq(digest))
        .filter(refresh_token::Column::UsedAt.is_null())
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Revokes every refresh token of the family and the access tokens issued with them.
/// `access_expiry` bounds how long those access tokens could still live.
pub async fn revoke_family(
    db: &impl ConnectionTrait,
    family: &str,
    now: DateTime<Utc>,
    access_expiry: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let rows = refresh_token::Entity::find()
        .filter(refresh_token::Column::Family.eq(family))
        .all(db)
        .await?;
    for row in rows.iter().filter(|r| r.revoked_at.is_none()) {
        crate::authz::store::revoke_token(db, &row.access_jti, &row.client_id, now, access_expiry)
            .await?;
    }
    let result = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::Family.eq(family))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Revokes every refresh family a client holds for a person (consent withdrawn).
pub async fn revoke_person_client(
    db: &impl ConnectionTrait,
    ssin: &str,
    client_id: &str,
    now: DateTime<Utc>,
    access_expiry: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let families: std::collections::BTreeSet<String> = refresh_token::Entity::find()
        .filter(refresh_token::Column::Ssin.eq(ssin))
        .filter(refresh_token::Column::ClientId.eq(client_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.family)
        .collect();
    let mut revoked = 0;
    for family in families {
        revoked += revoke_family(db, &family, now, access_expiry).await?;
    }
    Ok(revoked)
}

/// A deleted client's codes are dropped and its refresh tokens revoked (its access
/// tokens are refused by the token check, which finds the client gone).
pub async fn forget_client(
    db: &impl ConnectionTrait,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let codes = authorization_code::Entity::delete_many()
        .filter(authorization_code::Column::ClientId.eq(client_id))
        .exec(db)
        .await?;
    let refresh = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::ClientId.eq(client_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(codes.rows_affected + refresh.rows_affected)
}

// ---- tokens issued by exchange (RFC 8693) ---------------------------------------

/// Remembers an access token issued by exchange for the person's tokens at a client.
pub async fn record_exchanged(
    db: &impl ConnectionTrait,
    jti: &str,
    ssin: &str,
    client_id: &str,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    exchanged_token::Entity::insert(exchanged_token::ActiveModel {
        jti: Set(jti.to_owned()),
        ssin: Set(ssin.to_owned()),
        client_id: Set(client_id.to_owned()),
        issued_at: Set(issued_at),
        expires_at: Set(expires_at),
    })
    .exec(db)
    .await?;
    Ok(())
}

/// Revokes every unexpired token the client obtained by exchange for the person
/// (their consent to `exchange` was withdrawn).
pub async fn revoke_exchanged(
    db: &impl ConnectionTrait,
    ssin: &str,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let rows = exchanged_token::Entity::find()
        .filter(exchanged_token::Column::Ssin.eq(ssin))
        .filter(exchanged_token::Column::ClientId.eq(client_id))
        .filter(exchanged_token::Column::ExpiresAt.gt(now))
        .all(db)
        .await?;
    for row in &rows {
        crate::authz::store::revoke_token(db, &row.jti, client_id, now, row.expires_at).await?;
    }
    Ok(rows.len() as u64)
}

/// Drops codes and refresh tokens past their expiry.
pub async fn purge_expired(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let a = authorization_code::Entity::delete_many()
        .filter(authorization_code::Column::ExpiresAt.lt(now - chrono::Duration::hours(1)))
        .exec(db)
        .await?;
    let b = refresh_token::Entity::delete_many()
        .filter(refresh_token::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    let c = exchanged_token::Entity::delete_many()
        .filter(exchanged_token::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    Ok(a.rows_affected + b.rows_affected + c.rows_affected)
}

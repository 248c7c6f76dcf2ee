//! The authorization server's own signing keys (sealed under the master key).

use chrono::{DateTime, Utc};
use entity::signing_key;
use sea_orm::ExprTrait;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::Value;

use super::StoreError;

#[derive(Debug, Clone)]
pub struct StoredSigningKey {
    pub kid: String,
    pub public_jwk: Value,
    pub sealed_private_key: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

/// Keys that still verify: not revoked, and current or retired after `retired_after`.
/// Newest first, so the first one not retired is the current signing key.
pub async fn usable_signing_keys(
    db: &DatabaseConnection,
    retired_after: DateTime<Utc>,
) -> Result<Vec<StoredSigningKey>, StoreError> {
    let rows = signing_key::Entity::find()
        .filter(signing_key::Column::RevokedAt.is_null())
        .filter(
            signing_key::Column::RetiredAt
                .is_null()
                .or(signing_key::Column::RetiredAt.gt(retired_after)),
        )
        .order_by_desc(signing_key::Column::CreatedAt)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| StoredSigningKey {
            kid: r.kid,
            public_jwk: r.public_jwk,
            sealed_private_key: r.sealed_private_key,
            created_at: r.created_at,
            retired_at: r.retired_at,
        })
        .collect())
}

pub async fn insert_signing_key(
    db: &DatabaseConnection,
    key: &StoredSigningKey,
    alg: &str,
) -> Result<(), StoreError> {
    let row = signing_key::ActiveModel {
        kid: Set(key.kid.clone()),
        alg: Set(alg.to_owned()),
        public_jwk: Set(key.public_jwk.clone()),
        sealed_private_key: Set(key.sealed_private_key.clone()),
        created_at: Set(key.created_at),
        retired_at: Set(None),
        revoked_at: Set(None),
    };
    signing_key::Entity::insert(row).exec(db).await?;
    Ok(())
}

/// Retires (and, on request, revokes) every key but `keep`.
pub async fn retire_signing_keys_except(
    db: &DatabaseConnection,
    keep: &str,
    now: DateTime<Utc>,
    revoke: bool,
) -> Result<u64, StoreError> {
    let retired = signing_key::Entity::update_many()
        .col_expr(signing_key::Column::RetiredAt, Expr::value(now))
        .filter(signing_key::Column::Kid.ne(keep))
        .filter(signing_key::Column::RetiredAt.is_null())
        .exec(db)
        .await?;
    if !revoke {
        return Ok(retired.rows_affected);
    }
    let revoked = signing_key::Entity::update_many()
        .col_expr(signing_key::Column::RevokedAt, Expr::value(now))
        .filter(signing_key::Column::Kid.ne(keep))
        .filter(signing_key::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(revoked.rows_affected)
}

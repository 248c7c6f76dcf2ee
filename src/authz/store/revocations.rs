//! Revocations: revoked access tokens, and the purge of them and of the replay store
//! (`super::replays`) once their tokens have expired anyway.

use chrono::{DateTime, Utc};
use entity::{assertion_jti, revoked_token};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect,
    Set,
};

use super::{StoreError, is_unique_violation};
use crate::batch::{Batcher, answer_each};

pub async fn count_jtis(db: &DatabaseConnection) -> Result<u64, StoreError> {
    use sea_orm::PaginatorTrait;
    Ok(assertion_jti::Entity::find().count(db).await?)
}

pub async fn revoke_token(
    db: &impl ConnectionTrait,
    jti: &str,
    client_id: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let row = revoked_token::ActiveModel {
        jti: Set(jti.to_owned()),
        client_id: Set(client_id.to_owned()),
        revoked_at: Set(now),
        expires_at: Set(expires_at),
    };
    match revoked_token::Entity::insert(row).exec(db).await {
        Ok(_) => Ok(()),
        // Revoking twice is not an error (RFC 7009 §2.2).
        Err(e) if is_unique_violation(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The revocation look-ups of every token check: those of concurrent requests share
/// one query (`crate::batch`).
#[derive(Clone)]
pub struct Revocations {
    batcher: Batcher<String, Result<bool, DbErr>>,
}

impl Revocations {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            batcher: Batcher::new(64, 2, move |jtis: Vec<String>| {
                let db = db.clone();
                async move {
                    let revoked = revoked_among(&db, &jtis).await;
                    answer_each(&jtis, revoked, |jti, revoked| revoked.contains(jti))
                }
            }),
        }
    }

    pub async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.batcher
            .ask(jti.to_owned())
            .await
            .map_err(StoreError::Db)
    }
}

/// Which of these token ids are revoked.
async fn revoked_among(
    db: &DatabaseConnection,
    jtis: &[String],
) -> Result<std::collections::HashSet<String>, DbErr> {
    let revoked: Vec<String> = revoked_token::Entity::find()
        .select_only()
        .column(revoked_token::Column::Jti)
        .filter(revoked_token::Column::Jti.is_in(jtis.iter().map(String::as_str)))
        .into_tuple()
        .all(db)
        .await?;
    Ok(revoked.into_iter().collect())
}

/// Drops replay-store entries and revocations whose tokens have expired anyway.
pub async fn purge_expired(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let a = assertion_jti::Entity::delete_many()
        .filter(assertion_jti::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    let b = revoked_token::Entity::delete_many()
        .filter(revoked_token::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    Ok(a.rows_affected + b.rows_affected)
}

//! The replay store of one-time JWT ids: client assertions (RFC 7523 §3 item 7),
//! actor tokens and DPoP proofs. Every token request writes one, so the writes of
//! concurrent requests share one statement and one commit (`crate::batch`): on SQLite
//! at `synchronous=full` one fsync serves the whole batch instead of one per token,
//! and on PostgreSQL one round trip. A single `INSERT … ON CONFLICT DO NOTHING
//! RETURNING` tells which ids were new.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use entity::assertion_jti;
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr};

use super::StoreError;
use crate::batch::Batcher;

/// The most ids in one statement (three values each).
const MAX_BATCH: usize = 256;

/// One id to remember until `expires_at`, within the namespace of `issuer`.
struct Seen {
    issuer: String,
    jti: String,
    expires_at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct Replays {
    batcher: Batcher<Seen, Result<bool, DbErr>>,
}

impl Replays {
    pub fn new(db: DatabaseConnection) -> Self {
        // SQLite has one writer: a second batch in flight would only wait for the lock.
        let in_flight = match db.get_database_backend() {
            DbBackend::Sqlite => 1,
            _ => 2,
        };
        Self {
            batcher: Batcher::new(MAX_BATCH, in_flight, move |batch: Vec<Seen>| {
                let db = db.clone();
                async move { remember_all(&db, &batch).await }
            }),
        }
    }

    /// Remembers `jti` of `issuer` until `expires_at`; `false` when it was already
    /// remembered (a replay).
    pub async fn first_use(
        &self,
        issuer: &str,
        jti: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.batcher
            .ask(Seen {
                issuer: issuer.to_owned(),
                jti: jti.to_owned(),
                expires_at,
            })
            .await
            .map_err(StoreError::Db)
    }
}

/// Inserts the batch in one statement and answers, per item, whether it was new. An
/// id twice in the same batch is new for its first occurrence only.
async fn remember_all(db: &impl ConnectionTrait, batch: &[Seen]) -> Vec<Result<bool, DbErr>> {
    use assertion_jti::Column as C;
    let mut firsts = HashSet::new();
    let first: Vec<bool> = batch
        .iter()
        .map(|s| firsts.insert((s.issuer.as_str(), s.jti.as_str())))
        .collect();
    let mut insert = Query::insert();
    insert
        .into_table(assertion_jti::Entity)
        .columns([C::ClientId, C::Jti, C::ExpiresAt])
        .on_conflict(
            OnConflict::columns([C::ClientId, C::Jti])
                .do_nothing()
                .to_owned(),
        )
        .returning(Query::returning().columns([C::ClientId, C::Jti]));
    for (seen, _) in batch.iter().zip(&first).filter(|(_, first)| **first) {
        let row = [
            seen.issuer.clone().into(),
            seen.jti.clone().into(),
            seen.expires_at.into(),
        ];
        if let Err(e) = insert.values(row) {
            let e = DbErr::Custom(e.to_string());
            return batch.iter().map(|_| Err(e.clone())).collect();
        }
    }
    let stored = db
        .query_all_raw(db.get_database_backend().build(&insert))
        .await
        .and_then(|rows| {
            rows.iter()
                .map(|row| {
                    Ok((
                        row.try_get::<String>("", "client_id")?,
                        row.try_get::<String>("", "jti")?,
                    ))
                })
                .collect::<Result<HashSet<_>, DbErr>>()
        });
    match stored {
        Ok(stored) => batch
            .iter()
            .zip(first)
            .map(|(s, first)| Ok(first && stored.contains(&(s.issuer.clone(), s.jti.clone()))))
            .collect(),
        Err(e) => batch.iter().map(|_| Err(e.clone())).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(issuer: &str, jti: &str) -> Seen {
        Seen {
            issuer: issuer.into(),
            jti: jti.into(),
            expires_at: Utc::now(),
        }
    }

    /// One statement answers each item: new ids are new once, an id seen before (in
    /// an earlier batch or earlier in the same one) is a replay, and the same jti of
    /// another issuer is another id.
    #[tokio::test]
    async fn a_batch_tells_new_ids_from_replays() {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        crate::db::migrate(&db).await.unwrap();
        let first = remember_all(&db, &[seen("a", "1"), seen("a", "2")]).await;
        assert_eq!(
            first.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            [true, true]
        );
        let second = remember_all(
            &db,
            &[
                seen("a", "1"),
                seen("a", "3"),
                seen("a", "3"),
                seen("b", "1"),
            ],
        )
        .await;
        assert_eq!(
            second.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            [false, true, false, true]
        );
    }

    /// Concurrent requests share batches and every id is accepted exactly once.
    #[tokio::test]
    async fn concurrent_uses_of_the_same_ids_succeed_once_each() {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        crate::db::migrate(&db).await.unwrap();
        let replays = Replays::new(db);
        let expires = Utc::now();
        let attempts = (0..200).map(|i| {
            let replays = replays.clone();
            tokio::spawn(async move {
                replays
                    .first_use("c", &format!("{}", i % 50), expires)
                    .await
                    .unwrap()
            })
        });
        let mut fresh = 0;
        for attempt in attempts {
            fresh += usize::from(attempt.await.unwrap());
        }
        assert_eq!(fresh, 50);
    }
}

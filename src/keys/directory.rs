//! What other contexts ask the keystore of registered keys: the depot, which keys a
//! message may be encrypted to. Reads only, cached per identity and, on a miss, with
//! the questions of concurrent requests sharing one query ([`ActiveKids`]).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr};

use super::store::{self, ActiveKids, IdentityFilter, Search};
use super::{KeyUse, Policy};

#[derive(Clone)]
pub struct KeyDirectory {
    db: DatabaseConnection,
    active: ActiveKids,
    policy: Policy,
}

impl KeyDirectory {
    pub fn new(
        db: DatabaseConnection,
        policy: Policy,
        freshness: crate::cache::registry::Freshness,
        capacity: u64,
    ) -> Self {
        Self {
            active: ActiveKids::new(db.clone(), policy, freshness, capacity),
            db,
            policy,
        }
    }

    /// The kids of the keys of any of these identities that were active at `at` and
    /// serve `wanted`.
    pub async fn active_of_any(
        &self,
        identities: Vec<IdentityFilter>,
        wanted: KeyUse,
        at: DateTime<Utc>,
    ) -> Result<HashSet<String>, DbErr> {
        Ok(self
            .active
            .of_any(identities, wanted, at)
            .await?
            .into_iter()
            .collect())
    }

    /// The kids of a client's own keys (a system client of no organization) that were
    /// active at `at` and serve `wanted`.
    pub async fn active_of_client(
        &self,
        client_id: &str,
        wanted: KeyUse,
        at: DateTime<Utc>,
    ) -> Result<HashSet<String>, DbErr> {
        let search = Search {
            client_id: Some(client_id.to_owned()),
            key_use: Some(wanted),
            ..Search::default()
        };
        let keys = store::search(&self.db, &search, at, &self.policy).await?;
        Ok(keys.into_iter().map(|k| k.kid).collect())
    }
}

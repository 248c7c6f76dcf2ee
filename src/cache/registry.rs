//! Caches of what the registries hold (clients, key references, read on every token
//! request; the boxes' absences, read for every message), and how they learn that a
//! registration changed.
//!
//! Every cached value carries the [`Stamp`] it was read under, and a value whose stamp
//! is not the current one is read again. The stamp moves:
//! - at once, for a change this process makes: the stores call [`written`] after each
//!   write of a client, a key or an absence;
//! - within [`WATCH_PERIOD`], for a change made anywhere else (another instance,
//!   `depot admin`, an operator's SQL): the database counts them in `registry_version`
//!   (a trigger on each table) and a task of each instance reads that row;
//! - at every failed read of that row: while the database cannot say, nothing cached
//!   is trusted.
//!
//! A value read while the stamp moved is used but not kept, so a write racing a read
//! never leaves the older value behind.

use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::sync::Cache;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement};

/// How often an instance reads the database's count of registry changes.
pub const WATCH_PERIOD: Duration = Duration::from_millis(250);

/// The registry writes of this process (all its applications: tests run several).
static LOCAL: AtomicU64 = AtomicU64::new(0);

/// A client, key or absence was written by this process: what is cached was read
/// before.
pub fn written() {
    LOCAL.fetch_add(1, Ordering::AcqRel);
}

/// What the caches' values were read under: this process's writes, the database's
/// count, and the failed reads of that count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    local: u64,
    database: u64,
    blind: u64,
}

/// The database's side of the stamp, kept current by [`Freshness::spawn_watch`].
#[derive(Clone, Default)]
pub struct Freshness {
    database: Arc<AtomicU64>,
    blind: Arc<AtomicU64>,
}

impl Freshness {
    /// The stamp of a value read from now on.
    pub fn stamp(&self) -> Stamp {
        Stamp {
            local: LOCAL.load(Ordering::Acquire),
            database: self.database.load(Ordering::Acquire),
            blind: self.blind.load(Ordering::Acquire),
        }
    }

    /// Reads the database's count every [`WATCH_PERIOD`] until aborted.
    pub fn spawn_watch(&self, db: DatabaseConnection) -> tokio::task::JoinHandle<()> {
        let freshness = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(WATCH_PERIOD);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                freshness.refresh(&db).await;
            }
        })
    }

    /// Reads the database's count once.
    pub async fn refresh(&self, db: &DatabaseConnection) {
        match database_version(db).await {
            Ok(version) => self.database.store(version, Ordering::Release),
            Err(e) => {
                self.blind.fetch_add(1, Ordering::AcqRel);
                tracing::warn!(error = %e, "the registry version could not be read; cached clients and keys are read again");
            }
        }
    }
}

async fn database_version(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT version FROM registry_version WHERE id = 1",
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("registry_version".into()))?;
    let version: i64 = row.try_get("", "version")?;
    Ok(version as u64)
}

/// A bounded cache of registry values, each kept with the stamp it was read under.
pub struct Registered<K, V> {
    cache: Cache<K, (Stamp, V)>,
    freshness: Freshness,
}

impl<K, V> Registered<K, V>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub fn new(capacity: u64, freshness: Freshness) -> Self {
        Self {
            cache: Cache::new(capacity),
            freshness,
        }
    }

    /// The value of `key`: the cached one if it was read under the current stamp,
    /// else `load`'s, kept unless a write happened meanwhile (a failed load is not).
    pub async fn get<E, Fut>(&self, key: K, load: impl FnOnce() -> Fut) -> Result<V, E>
    where
        Fut: Future<Output = Result<V, E>>,
    {
        let stamp = self.stamp();
        if let Some(value) = self.fresh(&key) {
            return Ok(value);
        }
        let value = load().await?;
        self.keep(key, stamp, value.clone());
        Ok(value)
    }

    /// The stamp a value is read under, for [`keep`](Self::keep).
    pub fn stamp(&self) -> Stamp {
        self.freshness.stamp()
    }

    /// The cached value of `key`, if it was read under the current stamp.
    pub fn fresh(&self, key: &K) -> Option<V> {
        let stamp = self.freshness.stamp();
        self.cache
            .get(key)
            .and_then(|(at, value)| (at == stamp).then_some(value))
    }

    /// Keeps `value`, read under `stamp`, unless a write happened since.
    pub fn keep(&self, key: K, stamp: Stamp, value: V) {
        if self.freshness.stamp() == stamp {
            self.cache.insert(key, (stamp, value));
        }
    }

    /// Replaces the cached value of `key` when there is one (the cache's own change,
    /// such as a key's new `last_used_at`), under the stamp it was read with.
    pub fn amend(&self, key: &K, change: impl FnOnce(&V) -> V) {
        if let Some((at, value)) = self.cache.get(key) {
            self.cache.insert(key.clone(), (at, change(&value)));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    async fn database() -> DatabaseConnection {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        crate::db::migrate(&db).await.unwrap();
        db
    }

    async fn sql(db: &DatabaseConnection, text: &str) {
        db.execute_unprepared(text).await.unwrap();
    }

    /// A client row written behind the stores' back (as another process would).
    async fn insert_client(db: &DatabaseConnection) {
        sql(
            db,
            "INSERT INTO client (client_id, client_type, name, redirect_uris, scopes, \
             dpop_bound_access_tokens, created_at, updated_at) VALUES ('c', 'system', 'C', \
             '[]', '[]', false, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
        )
        .await;
    }

    /// Reads `key` through the cache, counting the loads.
    async fn read(cache: &Registered<&'static str, u32>, loads: &AtomicUsize) -> u32 {
        cache
            .get("k", || async {
                Ok::<_, DbErr>(loads.fetch_add(1, Ordering::SeqCst) as u32)
            })
            .await
            .unwrap()
    }

    /// A value is read once, and again after a write by this process, after a write by
    /// anyone else once the database's count is read, and while that count cannot be
    /// read.
    #[tokio::test]
    async fn values_are_read_again_after_any_registry_change() {
        let db = database().await;
        let freshness = Freshness::default();
        freshness.refresh(&db).await;
        let cache = Registered::new(16, freshness.clone());
        let loads = AtomicUsize::new(0);
        // Other tests of this process write clients too, which is a change here: a
        // value read twice in a row is the same one at least once in a few tries.
        let mut cached = false;
        for _ in 0..5 {
            let first = read(&cache, &loads).await;
            cached |= read(&cache, &loads).await == first;
        }
        assert!(cached, "never cached");

        let first = read(&cache, &loads).await;
        written();
        let second = read(&cache, &loads).await;
        assert_ne!(second, first, "this process wrote");

        // Another process's write: a trigger counts it; seen at the next refresh.
        insert_client(&db).await;
        freshness.refresh(&db).await;
        let third = read(&cache, &loads).await;
        assert_ne!(third, second, "another process wrote");

        // The count cannot be read: nothing cached is trusted meanwhile.
        sql(&db, "ALTER TABLE registry_version RENAME TO gone").await;
        freshness.refresh(&db).await;
        assert_ne!(read(&cache, &loads).await, third);
    }

    /// Every write of a client, and every change of a key but its time of use, moves
    /// the database's count.
    #[tokio::test]
    async fn the_triggers_count_registry_changes_but_not_times_of_use() {
        let db = database().await;
        let version = || async { database_version(&db).await.unwrap() };
        let start = version().await;
        insert_client(&db).await;
        assert_eq!(version().await, start + 1);
        sql(&db, "UPDATE client SET name = 'D'").await;
        assert_eq!(version().await, start + 2);
        sql(
            &db,
            "INSERT INTO public_key (kid, owner, profile, identity, name, key_use, jwk, jkt, \
             source, created_at, not_before, not_after, last_used_at) VALUES ('k', 'ssin:1', \
             'citizen', '{}', 'K', 'enc', '{}', 'j', 'api', '2026-01-01T00:00:00Z', \
             '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
        )
        .await;
        assert_eq!(version().await, start + 3);
        sql(
            &db,
            "UPDATE public_key SET last_used_at = '2026-02-01T00:00:00Z'",
        )
        .await;
        assert_eq!(version().await, start + 3, "a time of use is no change");
        sql(
            &db,
            "UPDATE public_key SET revoked_at = '2026-02-01T00:00:00Z'",
        )
        .await;
        assert_eq!(version().await, start + 4);
        sql(&db, "DELETE FROM client").await;
        assert_eq!(version().await, start + 5);
    }

    /// A value read while a write happened is answered but not kept.
    #[tokio::test]
    async fn a_value_read_during_a_write_is_not_kept() {
        let db = database().await;
        let freshness = Freshness::default();
        freshness.refresh(&db).await;
        let cache: Registered<&str, u32> = Registered::new(16, freshness);
        let raced = cache
            .get("k", || async {
                written();
                Ok::<_, DbErr>(1)
            })
            .await
            .unwrap();
        assert_eq!(raced, 1);
        let again = cache
            .get("k", || async { Ok::<_, DbErr>(2) })
            .await
            .unwrap();
        assert_eq!(again, 2, "the raced value was not kept");
    }
}

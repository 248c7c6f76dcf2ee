//! Database connection (SQLite by default, PostgreSQL with `DATABASE_URL`) and
//! migrations.

use std::time::Duration;

use migration::MigratorTrait;
use sea_orm::sqlx::Connection as _;
use sea_orm::sqlx::postgres::PgPoolOptions;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr,
    SqlxPostgresConnector, Statement,
};
use secrecy::ExposeSecret;

use crate::config::{Config, SqliteDurability};

pub async fn connect(config: &Config) -> Result<DatabaseConnection, DbErr> {
    if let Some(file) = config.sqlite_file() {
        let data_dir = &config.settings.service.data_dir;
        crate::files::private_dir(data_dir).map_err(|e| {
            DbErr::Custom(format!(
                "cannot create the data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::files::private_dir(dir)
                .map_err(|e| DbErr::Custom(format!("cannot create {}: {e}", dir.display())))?;
        }
        crate::files::private_file(&file).map_err(|e| {
            DbErr::Custom(format!(
                "cannot make the database {} private: {e}",
                file.display()
            ))
        })?;
    }
    let mut options = ConnectOptions::new(config.database_url.expose_secret().to_owned());
    options
        .max_connections(config.settings.storage.database_max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(acquire_timeout(config))
        // A pooled connection is pinged before use only once it has sat idle long
        // enough to have been dropped (server restart, proxy or firewall timeout):
        // pinging on every checkout cost a round trip per query, as much as the query.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .sqlx_logging(false);
    let synchronous = match config.settings.storage.sqlite_synchronous {
        SqliteDurability::Full => SqliteSynchronous::Full,
        SqliteDurability::Normal => SqliteSynchronous::Normal,
    };
    // A connection's buffers grow to the largest statement it carried (a 20 MiB
    // message) and would keep that size while idle in the pool; give it back on release.
    // Below 8 KiB this is a no-op, so small statements pay nothing.
    options.map_sqlx_postgres_pool_opts(|o| {
        o.after_release(|connection, _| {
            connection.shrink_buffers();
            Box::pin(async { Ok(true) })
        })
    });
    // WAL lets readers run beside the single writer. `synchronous` is per connection.
    options.map_sqlx_sqlite_opts(move |o| {
        o.journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(Duration::from_secs(10))
            // Checkpoints run in the background (`spawn_checkpointer`), not inside the
            // commit that happens to pass 1,000 pages of WAL: that commit waited for the
            // copy into the database file and its fsync, a stall in the latency tail.
            .pragma("wal_autocheckpoint", "0")
    });
    Database::connect(options).await
}

/// How often the background checkpoint runs on SQLite.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// On SQLite, copies the write-ahead log into the database file every
/// [`CHECKPOINT_EVERY`], beside the writers rather than inside one of their commits.
/// A passive checkpoint waits for no reader or writer; what it cannot copy yet is
/// copied at a later round, and the log is reused from its start once all of it is.
/// `None` on PostgreSQL.
pub fn spawn_checkpointer(db: &DatabaseConnection) -> Option<tokio::task::JoinHandle<()>> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return None;
    }
    let db = db.clone();
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = db
                .execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
                .await
            {
                tracing::warn!(error = %e, "SQLite checkpoint failed");
            }
        }
    }))
}

/// The pool's open connections and, of those, the idle ones (for metrics).
pub fn pool_usage(db: &DatabaseConnection) -> (u32, u32) {
    let count = |idle: usize| u32::try_from(idle).unwrap_or(u32::MAX);
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), count(pool.num_idle()))
        }
        DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), count(pool.num_idle()))
        }
        _ => (0, 0),
    }
}

/// How long a request waits for a pooled connection.
pub fn acquire_timeout(config: &Config) -> Duration {
    Duration::from_millis(u64::from(
        config.settings.storage.database_acquire_timeout_ms.max(1),
    ))
}

/// The key of the PostgreSQL advisory lock that migrations run under: `depotmig` in
/// ASCII. Any session may take it (`SELECT pg_advisory_lock(7234312000437578087)`) to
/// hold every instance's migrations back.
pub const MIGRATION_LOCK: i64 = 0x6465_706f_746d_6967;

/// Applies the pending migrations.
///
/// On PostgreSQL this runs under the session-level advisory lock [`MIGRATION_LOCK`]:
/// instances of a fleet started together on a new version would otherwise each find
/// the same migrations pending and apply them at once, and all but one fail (or worse,
/// a migration outside a transaction is half applied twice). The second instance waits
/// for the lock, then finds nothing pending. An advisory lock belongs to a session,
/// and the pool hands out any of its connections, so the lock is taken, the migrations
/// run and the lock is released on one connection of its own (a pool of one, made
/// with the pool's connection options). Should that connection be lost, the server
/// releases the lock and rolls back the migration in flight (each runs in a
/// transaction on PostgreSQL).
///
/// SQLite takes no lock: its file is one instance's (a fleet needs PostgreSQL), and
/// writers to it serialize on the file's own lock.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return migration::Migrator::up(db, None).await;
    }
    let options = (*db.get_postgres_connection_pool().connect_options()).clone();
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        // The one connection is kept for as long as the migrations run: a connection
        // replaced would be a new session, without the lock.
        .idle_timeout(None)
        .max_lifetime(None)
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await
        .map_err(|e| DbErr::Custom(format!("connecting for the migration lock: {e}")))?;
    let session = SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
    let migrated = migrate_locked(&session).await;
    // Closing ends the session, which releases the lock if the unlock was not reached.
    let _ = session.close().await;
    migrated
}

/// [`migrate`] on the one connection of `session`: lock, migrate, unlock.
async fn migrate_locked(session: &DatabaseConnection) -> Result<(), DbErr> {
    let lock = |function: &str| {
        Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("SELECT {function}($1)"),
            [MIGRATION_LOCK.into()],
        )
    };
    let taken = session
        .query_one_raw(lock("pg_try_advisory_lock"))
        .await?
        .map(|row| row.try_get_by_index::<bool>(0))
        .transpose()?
        .unwrap_or(false);
    if !taken {
        tracing::info!(
            key = MIGRATION_LOCK,
            "another session holds the migration lock (another instance migrating?); waiting for it"
        );
        session.execute_raw(lock("pg_advisory_lock")).await?;
    }
    let migrated = migration::Migrator::up(session, None).await;
    let released = session.execute_raw(lock("pg_advisory_unlock")).await;
    migrated?;
    released.map(drop)
}

/// The names of the migrations not yet applied, in the order they would be, found
/// without writing anything (not even the migrations' own table).
pub async fn pending_migrations(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    Ok(migration::Migrator::get_pending_migrations_read_only(db)
        .await?
        .iter()
        .map(|m| m.name().to_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    /// The rows of `t` in the database file itself, the write-ahead log ignored (an
    /// immutable reader), or `None` while the file does not hold the table yet.
    async fn in_the_file(file: &std::path::Path) -> Option<i64> {
        let reader = Database::connect(format!("sqlite://{}?immutable=1", file.display()))
            .await
            .unwrap();
        let row = reader
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT count(*) FROM t",
            ))
            .await
            .ok()??;
        row.try_get_by_index(0).ok()
    }

    #[tokio::test]
    async fn commits_reach_the_database_file_through_the_background_checkpoint_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::default();
        settings.storage.database_url = None;
        settings.service.data_dir = dir.path().to_owned();
        let config = Config::from_settings(settings).unwrap();
        let file = config.sqlite_file().unwrap();
        let db = connect(&config).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (v INTEGER)")
            .await
            .unwrap();
        for v in 0..2_000 {
            // More than 1,000 pages of log would have checkpointed inside a commit.
            db.execute_unprepared(&format!("INSERT INTO t VALUES ({v})"))
                .await
                .unwrap();
        }
        assert_eq!(in_the_file(&file).await, None, "no commit checkpoints");

        let checkpointer = spawn_checkpointer(&db).expect("SQLite has a checkpointer");
        let mut copied = None;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            copied = in_the_file(&file).await;
            if copied == Some(2_000) {
                break;
            }
        }
        checkpointer.abort();
        assert_eq!(
            copied,
            Some(2_000),
            "the background checkpoint copied the log"
        );
    }
}

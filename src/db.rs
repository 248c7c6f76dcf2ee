//! Database connection (SQLite by default, PostgreSQL with `DATABASE_URL`) and
//! migrations.

use std::time::Duration;

use migration::MigratorTrait;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};
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
    // WAL lets readers run beside the single writer. `synchronous` is per connection.
    options.map_sqlx_sqlite_opts(move |o| {
        o.journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(Duration::from_secs(10))
    });
    Database::connect(options).await
}

/// How long a request waits for a pooled connection.
pub fn acquire_timeout(config: &Config) -> Duration {
    Duration::from_millis(u64::from(
        config.settings.storage.database_acquire_timeout_ms.max(1),
    ))
}

/// Whether `error` says the database cannot be reached now (no connection in time, the
/// connection broke, the server is shutting down or refusing connections, SQLite busy)
/// rather than that a statement failed: the request may be retried (503) and nothing
/// was decided. `error` is a `DbErr`, an `anyhow::Error` holding one, or anything else
/// (then no).
pub fn unreachable(error: &dyn std::any::Any) -> bool {
    if let Some(e) = error.downcast_ref::<DbErr>() {
        return db_unreachable(e);
    }
    if let Some(e) = error.downcast_ref::<anyhow::Error>() {
        return e.chain().any(|cause| {
            cause.downcast_ref::<DbErr>().is_some_and(db_unreachable)
                || cause
                    .downcast_ref::<sea_orm::sqlx::Error>()
                    .is_some_and(sqlx_unreachable)
        });
    }
    false
}

fn db_unreachable(error: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            sqlx_unreachable(e)
        }
        _ => false,
    }
}

fn sqlx_unreachable(error: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error as E;
    match error {
        E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => true,
        // PostgreSQL: class 08 (connection exception), 57P01-57P03 (shutting down, cannot
        // connect now), 53300 (too many connections); SQLite: 5 and 6 (busy, locked).
        E::Database(e) => e.code().is_some_and(|code| {
            code.starts_with("08")
                || matches!(
                    code.as_ref(),
                    "57P01" | "57P02" | "57P03" | "53300" | "5" | "6"
                )
        }),
        _ => false,
    }
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    migration::Migrator::up(db, None).await
}

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

pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    migration::Migrator::up(db, None).await
}

//! A version of the client and key registries, counted by the database itself: a
//! trigger on `client` and on `public_key` adds one for every row written, by any
//! process (an instance, another instance, `depot admin`, an operator's SQL). Each
//! instance caches clients and key references and reads this one row a few times a
//! second: a change made anywhere reaches every instance's caches within that period,
//! never after a time-to-live. Recording that a key was used (`last_used_at`, once an
//! hour per key) is not a change of the registry: caches keep that time themselves.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables whose rows the caches hold, and the event that changes each: any write
/// of a client; a key's insertion, deletion or an update of anything but
/// `last_used_at` (a column added to `public_key` later must join this list).
const WATCHED: [(&str, &str); 2] = [
    ("client", "INSERT OR UPDATE OR DELETE"),
    (
        "public_key",
        "INSERT OR DELETE OR UPDATE OF kid, owner, ssin, profile, nihii, cbe, identity, \
         client_id, name, key_use, alg, jwk, jkt, source, attestation, created_at, not_before, \
         not_after, revoked_at, revoked_by",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE TABLE IF NOT EXISTS registry_version (\
               id integer PRIMARY KEY, version bigint NOT NULL)",
        )
        .await?;
        db.execute_unprepared(
            "INSERT INTO registry_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING",
        )
        .await?;
        match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE OR REPLACE FUNCTION registry_changed() RETURNS trigger AS $$ \
                     BEGIN UPDATE registry_version SET version = version + 1 WHERE id = 1; \
                     RETURN NULL; END $$ LANGUAGE plpgsql",
                )
                .await?;
                for (table, events) in WATCHED {
                    db.execute_unprepared(&format!(
                        "CREATE OR REPLACE TRIGGER {table}_registry_changed \
                         AFTER {events} ON {table} \
                         FOR EACH ROW EXECUTE FUNCTION registry_changed()"
                    ))
                    .await?;
                }
            }
            _ => {
                // SQLite: one trigger per table and event, each for every row.
                for (table, events) in WATCHED {
                    for event in events.split(" OR ") {
                        let name = format!("{table}_registry_{}", trigger_suffix(event));
                        db.execute_unprepared(&format!(
                            "CREATE TRIGGER IF NOT EXISTS {name} AFTER {event} ON {table} \
                             BEGIN UPDATE registry_version SET version = version + 1 WHERE id = 1; END"
                        ))
                        .await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => {
                for (table, _) in WATCHED {
                    db.execute_unprepared(&format!(
                        "DROP TRIGGER IF EXISTS {table}_registry_changed ON {table}"
                    ))
                    .await?;
                }
                db.execute_unprepared("DROP FUNCTION IF EXISTS registry_changed()")
                    .await?;
            }
            _ => {
                for (table, events) in WATCHED {
                    for event in events.split(" OR ") {
                        db.execute_unprepared(&format!(
                            "DROP TRIGGER IF EXISTS {table}_registry_{}",
                            trigger_suffix(event)
                        ))
                        .await?;
                    }
                }
            }
        }
        db.execute_unprepared("DROP TABLE IF EXISTS registry_version")
            .await?;
        Ok(())
    }
}

/// `insert`, `update` or `delete`: a SQLite trigger's name for its event.
fn trigger_suffix(event: &str) -> String {
    event
        .split_whitespace()
        .next()
        .unwrap_or(event)
        .to_lowercase()
}

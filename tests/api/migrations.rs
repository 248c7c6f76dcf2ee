//! Migrations as a deployment runs them: `depot migrate --check` tells a pipeline
//! whether any are pending without applying them, and on PostgreSQL instances that
//! migrate together take turns under the advisory lock `depot::db::MIGRATION_LOCK`.
//!
//! The PostgreSQL tests print `skipped: DATABASE_URL not set (PostgreSQL only)` without
//! `DATABASE_URL`; the `--check` test runs on SQLite always. Nothing here asserts a
//! timing tighter than "still waiting after a second".

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use migration::MigratorTrait;
use sea_orm::sqlx::{Connection, PgConnection};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

use crate::helpers::*;

/// The `depot` binary on the data directory `data_dir` and, if given, the database
/// `database_url` (else the data directory's SQLite file).
fn depot_on(data_dir: &Path, database_url: Option<&str>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_depot"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DEPOT_DATA_DIR", data_dir)
        .env("DEPOT_PUBLIC_URL", "http://127.0.0.1:8080")
        .env("DEPOT_LOG", "warn");
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    command
}

fn run(command: &mut Command) -> Output {
    command.output().unwrap()
}

fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Every migration's name, in order.
fn all_migrations() -> Vec<String> {
    migration::Migrator::get_migration_files()
        .iter()
        .map(|m| m.name().to_owned())
        .collect()
}

/// `depot migrate --check` is 1 with the pending migrations' names, then 0 once
/// applied.
fn assert_check_then_migrate(data_dir: &Path, database_url: Option<&str>) {
    let check = run(depot_on(data_dir, database_url).args(["migrate", "--check"]));
    assert_eq!(check.status.code(), Some(1), "{}", stderr(&check));
    assert_eq!(stdout_lines(&check), all_migrations());
    // Nothing was applied: asked again, the same answer.
    let again = run(depot_on(data_dir, database_url).args(["migrate", "--check"]));
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert_eq!(stdout_lines(&again), all_migrations());

    let migrate = run(depot_on(data_dir, database_url).arg("migrate"));
    assert!(migrate.status.success(), "{}", stderr(&migrate));

    let check = run(depot_on(data_dir, database_url).args(["migrate", "--check"]));
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    assert_eq!(stdout_lines(&check), ["no migration pending"]);
}

#[test]
fn check_lists_the_pending_migrations_until_they_are_applied_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    // A data directory the depot makes (0700), so that no warning about its mode
    // shares stdout with the names.
    assert_check_then_migrate(&dir.path().join("data"), None);
}

/// An unreadable database or configuration is 2, never 1 ("migrations pending").
#[test]
fn check_exits_2_when_the_database_or_the_configuration_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    // Port 1: nothing listens, the connection is refused at once.
    let unreachable = run(
        depot_on(&data_dir, Some("postgres://depot@127.0.0.1:1/depot"))
            .args(["migrate", "--check"]),
    );
    assert_eq!(
        unreachable.status.code(),
        Some(2),
        "{}",
        stderr(&unreachable)
    );
    assert!(unreachable.stdout.is_empty());

    let broken = dir.path().join("depot.toml");
    std::fs::write(&broken, "[storage\n").unwrap();
    let misconfigured = run(depot_on(&data_dir, None)
        .env("DEPOT_CONFIG", &broken)
        .args(["migrate", "--check"]));
    assert_eq!(
        misconfigured.status.code(),
        Some(2),
        "{}",
        stderr(&misconfigured)
    );
}

#[tokio::test]
async fn check_lists_the_pending_migrations_until_they_are_applied_on_postgresql() {
    let Some(base) = postgres_url() else {
        println!("skipped: DATABASE_URL not set (PostgreSQL only)");
        return;
    };
    let (_database, url) = TestDatabase::create(&base).await;
    let dir = tempfile::tempdir().unwrap();
    assert_check_then_migrate(dir.path(), Some(&url));
}

/// How many times each migration is recorded in `seaql_migrations`, by name; `None`
/// when the table does not exist.
async fn recorded_migrations(url: &str) -> Option<Vec<(String, i64)>> {
    let db = Database::connect(url).await.unwrap();
    let exists = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT to_regclass('seaql_migrations') IS NOT NULL",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<bool>(0)
        .unwrap();
    let recorded = if exists {
        let rows = db
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT version, count(*) FROM seaql_migrations GROUP BY version ORDER BY version",
            ))
            .await
            .unwrap();
        Some(
            rows.iter()
                .map(|r| {
                    (
                        r.try_get_by_index::<String>(0).unwrap(),
                        r.try_get_by_index::<i64>(1).unwrap(),
                    )
                })
                .collect(),
        )
    } else {
        None
    };
    db.close().await.unwrap();
    recorded
}

fn each_once() -> Vec<(String, i64)> {
    all_migrations().into_iter().map(|name| (name, 1)).collect()
}

/// Two instances of a new version migrating a fresh database at the same moment: both
/// succeed, and each migration is applied once.
#[tokio::test]
async fn two_instances_migrating_together_on_postgresql_both_succeed() {
    let Some(base) = postgres_url() else {
        println!("skipped: DATABASE_URL not set (PostgreSQL only)");
        return;
    };
    let (_database, url) = TestDatabase::create(&base).await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let children: Vec<_> = dirs
        .iter()
        .map(|dir| {
            depot_on(dir.path(), Some(&url))
                .arg("migrate")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(stdout_lines(&output), ["migrations applied"]);
    }
    assert_eq!(recorded_migrations(&url).await, Some(each_once()));
    let check = run(depot_on(dirs[0].path(), Some(&url)).args(["migrate", "--check"]));
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
}

/// While a session holds the migration lock, `depot migrate` waits and applies
/// nothing; once the lock is released it migrates and exits.
#[tokio::test]
async fn migrate_waits_while_another_session_holds_the_migration_lock() {
    let Some(base) = postgres_url() else {
        println!("skipped: DATABASE_URL not set (PostgreSQL only)");
        return;
    };
    let (_database, url) = TestDatabase::create(&base).await;
    let dir = tempfile::tempdir().unwrap();
    // One connection, not a pool: the lock is this session's.
    let mut holder = PgConnection::connect(&url).await.unwrap();
    sea_orm::sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(depot::db::MIGRATION_LOCK)
        .execute(&mut holder)
        .await
        .unwrap();

    let mut child = depot_on(dir.path(), Some(&url))
        .arg("migrate")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let waiting = child.try_wait().unwrap().is_none();
    if !waiting {
        let output = child.wait_with_output().unwrap();
        panic!(
            "depot migrate did not wait for the lock: {:?} {}",
            output.status,
            stderr(&output)
        );
    }
    assert_eq!(
        recorded_migrations(&url).await,
        None,
        "nothing is applied, not even the migrations' table, while the lock is held"
    );

    sea_orm::sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(depot::db::MIGRATION_LOCK)
        .execute(&mut holder)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "depot migrate still waiting 60 s after the lock was released"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let output = child.wait_with_output().unwrap();
    assert!(status.success(), "{}", stderr(&output));
    assert_eq!(recorded_migrations(&url).await, Some(each_once()));
    holder.close().await.unwrap();
}

/// `message.sealed` is ciphertext: PostgreSQL stores it out of line without trying to
/// compress it (`EXTERNAL`, attstorage `e`), which its default (`EXTENDED`, `x`) did
/// for every message over 2 KiB, for nothing.
#[tokio::test]
async fn sealed_messages_are_stored_without_a_compression_attempt_on_postgresql() {
    let Some(base) = postgres_url() else {
        println!("skipped: DATABASE_URL not set (PostgreSQL only)");
        return;
    };
    let (_database, url) = TestDatabase::create(&base).await;
    let db = Database::connect(&url).await.unwrap();
    migration::Migrator::up(&db, None).await.unwrap();
    let storage = async |column: &str| -> String {
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT attstorage::text FROM pg_attribute \
                 WHERE attrelid = 'message'::regclass AND attname = $1",
                [column.into()],
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index(0).unwrap()
    };
    assert_eq!(storage("sealed").await, "e");
    assert_eq!(storage("metadata").await, "x", "other columns as they were");
    // Down to before that migration (later ones are rolled back first).
    let all = migration::Migrator::migrations();
    let at = all
        .iter()
        .position(|m| m.name() == "m20261204_000016_sealed_uncompressed")
        .unwrap();
    let steps = u32::try_from(all.len() - at).unwrap();
    migration::Migrator::down(&db, Some(steps)).await.unwrap();
    assert_eq!(storage("sealed").await, "x", "down restores the default");
    db.close().await.unwrap();
}

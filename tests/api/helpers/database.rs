//! PostgreSQL test databases: each test app gets a fresh `depot_test_<uuid>` when
//! `DATABASE_URL` is set, shared by the apps given its URL and dropped with the last of
//! them (unless `DEPOT_KEEP_TEST_DATABASES` is set).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use sea_orm::{ConnectionTrait, Database};
use secrecy::SecretString;

use super::{spawn_app, spawn_app_with};

/// Whether tests run against PostgreSQL (`DATABASE_URL` set).
pub fn postgres_url() -> Option<String> {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
}

/// Set (to anything but `0`) to keep the PostgreSQL test databases for inspection.
const KEEP_TEST_DATABASES: &str = "DEPOT_KEEP_TEST_DATABASES";

fn keep_test_databases() -> bool {
    std::env::var(KEEP_TEST_DATABASES).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// A PostgreSQL database `depot_test_<uuid>` made for a test. It is dropped when the
/// last holder lets go of it: the app using it, every app sharing it, or the test that
/// asked for it with [`test_settings`].
pub struct TestDatabase {
    name: String,
    /// `DATABASE_URL`: the server's database that test databases are made from.
    server: String,
}

/// The test databases that someone holds, by name: a second app given the URL of a
/// test database shares the first one's [`TestDatabase`].
static TEST_DATABASES: Mutex<BTreeMap<String, Weak<TestDatabase>>> = Mutex::new(BTreeMap::new());

impl TestDatabase {
    /// Creates a fresh database on the server of `base`; returns it and its URL.
    pub(crate) async fn create(base: &str) -> (Arc<Self>, String) {
        let name = format!("depot_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(base)
            .await
            .unwrap_or_else(|e| panic!("DATABASE_URL is set but PostgreSQL is unreachable: {e}"));
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        admin.close().await.unwrap();
        let mut url = url::Url::parse(base).unwrap();
        url.set_path(&format!("/{name}"));
        let database = Arc::new(Self {
            name: name.clone(),
            server: base.to_owned(),
        });
        TEST_DATABASES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name, Arc::downgrade(&database));
        (database, url.to_string())
    }

    /// The test database that `url` names, if it is one of ours and still held.
    pub(super) fn held(url: &str) -> Option<Arc<Self>> {
        let url = url::Url::parse(url).ok()?;
        let name = url.path().trim_start_matches('/');
        TEST_DATABASES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)?
            .upgrade()
    }
}

impl Drop for TestDatabase {
    /// `DROP DATABASE … WITH (FORCE)` (connections still open are ended), over a
    /// connection of its own on a thread and runtime of its own: `drop` runs on the
    /// test's runtime, which must not be asked to drive it. A failure fails no test: it
    /// is said on stderr, and `.ci/run` drops what was left behind.
    fn drop(&mut self) {
        TEST_DATABASES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.name);
        if keep_test_databases() {
            return;
        }
        let (server, name) = (self.server.clone(), self.name.clone());
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(drop_database(&server, &name));
        });
        // Waited for, so that the process does not end with the drop half done.
        let outcome = finished
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| Err("no answer within 30 s".into()));
        if let Err(reason) = outcome {
            // Past the harness's capture of `eprintln!`: a leak is seen, not fatal.
            let _ = writeln!(
                std::io::stderr(),
                "test database {} left behind: {reason}",
                self.name
            );
        }
    }
}

/// `DROP DATABASE name WITH (FORCE)` on the server of `server`, over a connection and
/// runtime of its own.
fn drop_database(server: &str, name: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let mut options = sea_orm::ConnectOptions::new(server);
        options
            .max_connections(1)
            .connect_timeout(Duration::from_secs(10))
            .sqlx_logging(false);
        let admin = Database::connect(options)
            .await
            .map_err(|e| e.to_string())?;
        let dropped = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await
            .map(drop)
            .map_err(|e| e.to_string());
        let _ = admin.close().await;
        dropped
    })
}

/// What a test app lets go of last: it closes the app's connection pool (so that
/// nothing reconnects), then lets go of its PostgreSQL test database.
pub(super) struct Teardown {
    pub(super) db: sea_orm::DatabaseConnection,
    pub(super) database: Option<Arc<TestDatabase>>,
}

impl Drop for Teardown {
    fn drop(&mut self) {
        if self.database.is_some() {
            // `close` marks the pool closed at once; the connections it still has are
            // ended by the drop's FORCE.
            drop(self.db.get_postgres_connection_pool().close());
        }
    }
}

/// The harness itself: a PostgreSQL test database outlives the first of two apps on
/// it and is dropped with the second.
#[tokio::test]
async fn a_test_database_is_dropped_with_the_last_app_using_it() {
    let Some(base) = postgres_url() else {
        println!("skipped: DATABASE_URL not set (PostgreSQL only)");
        return;
    };
    if keep_test_databases() {
        println!("skipped: {KEEP_TEST_DATABASES} is set");
        return;
    }
    let exists = async |name: &str| {
        let admin = Database::connect(&base).await.unwrap();
        let row = admin
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT count(*) FROM pg_database WHERE datname = $1",
                [name.into()],
            ))
            .await
            .unwrap()
            .unwrap();
        admin.close().await.unwrap();
        row.try_get_by_index::<i64>(0).unwrap() == 1
    };
    let first = spawn_app().await;
    let url = secrecy::ExposeSecret::expose_secret(&first.config.database_url).to_owned();
    let name = url::Url::parse(&url).unwrap().path()[1..].to_owned();
    let (issuer, master) = (first.issuer.clone(), first.config.master_key_file.clone());
    let second = spawn_app_with(move |s| {
        s.service.public_url = Some(issuer);
        s.storage.database_url = Some(SecretString::from(url));
        s.service.master_key_file = Some(master);
    })
    .await;
    assert!(exists(&name).await, "{name} is made");

    drop(first);
    assert!(exists(&name).await, "{name} outlives the first app");
    second.admin_token().await;

    drop(second);
    assert!(!exists(&name).await, "{name} is dropped with the last app");
}

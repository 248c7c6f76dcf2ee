//! Shared set-up: the real RabbitMQ from `AMQP_URL`, a fresh SQLite file (or PostgreSQL
//! database) with the workspace migrations, a raw lapin consumer, and a TCP proxy that
//! can refuse, forward and cut connections.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};
use migration::MigratorTrait;
use queues::MessageReceived;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, EntityTrait, TransactionTrait,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::contract;

/// The broker, or `None` (and a `skipped` line) when `AMQP_URL` is not set.
pub fn amqp_url() -> Option<String> {
    let url = std::env::var("AMQP_URL").ok().filter(|u| !u.is_empty());
    if url.is_none() {
        println!("skipped: AMQP_URL not set");
    }
    url
}

/// A unique label: application names, queue names.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// The `i`th notification of `application`, as the depot would write it (a valid body).
pub fn notification(application: &str, i: usize) -> MessageReceived {
    let received_at = chrono::DateTime::parse_from_rfc3339("2026-11-24T10:00:00.250Z")
        .unwrap()
        .to_utc();
    MessageReceived::new(
        format!("0190a3b4-0000-7000-8000-{i:012x}"),
        application,
        serde_json::json!({"type": "ssin", "value": format!("{i:011}")}),
        received_at,
    )
}

/// Enqueues `range` notifications for `application` in one transaction.
pub async fn enqueue(db: &DatabaseConnection, application: &str, range: std::ops::Range<usize>) {
    let txn = db.begin().await.unwrap();
    for i in range {
        queues::outbox::enqueue(&txn, &notification(application, i), chrono::Utc::now())
            .await
            .unwrap();
    }
    txn.commit().await.unwrap();
}

pub async fn pending(db: &DatabaseConnection) -> u64 {
    queues::outbox::pending(db).await.unwrap()
}

pub async fn wait_for_pending(db: &DatabaseConnection, expected: u64, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let now = pending(db).await;
        if now == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pending is {now}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn all_rows(db: &DatabaseConnection) -> Vec<entity::outbox::Model> {
    entity::outbox::Entity::find().all(db).await.unwrap()
}

/// A database the way the depot opens one (WAL, busy timeout), migrated.
pub struct TestDb {
    pub db: DatabaseConnection,
    pub url: String,
    /// PostgreSQL: the server URL and the database to drop at the end.
    postgres: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("depot.sqlite").display()
        );
        let db = open(&url).await;
        migration::Migrator::up(&db, None).await.unwrap();
        Self {
            db,
            url,
            postgres: None,
            _dir: Some(dir),
        }
    }

    /// A fresh `queues_test_<uuid>` database when `DATABASE_URL` is a PostgreSQL URL.
    pub async fn postgres() -> Option<Self> {
        let base = std::env::var("DATABASE_URL")
            .ok()
            .filter(|u| u.starts_with("postgres"))?;
        let name = unique("queues_test_");
        let admin = Database::connect(base.as_str())
            .await
            .unwrap_or_else(|e| panic!("DATABASE_URL is set but PostgreSQL is unreachable: {e}"));
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        admin.close().await.unwrap();
        let url = with_path(&base, &name);
        let db = open(&url).await;
        migration::Migrator::up(&db, None).await.unwrap();
        Some(Self {
            db,
            url,
            postgres: Some((base, name)),
            _dir: None,
        })
    }

    /// Another connection pool on the same database (a second depot instance).
    pub async fn another_pool(&self) -> DatabaseConnection {
        open(&self.url).await
    }

    /// Drops the PostgreSQL database (SQLite's directory goes with the value).
    pub async fn finish(self) {
        let Self { db, postgres, .. } = self;
        db.close().await.unwrap();
        if let Some((base, name)) = postgres {
            let admin = Database::connect(base.as_str()).await.unwrap();
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .unwrap();
            admin.close().await.unwrap();
        }
    }
}

async fn open(url: &str) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url.to_owned());
    options.max_connections(4).sqlx_logging(false);
    options.map_sqlx_sqlite_opts(|o| {
        o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10))
    });
    Database::connect(options).await.unwrap()
}

/// `base` (`postgres://user@host:port/db?x`) with its database replaced by `name`.
fn with_path(base: &str, name: &str) -> String {
    let scheme_end = base.find("://").unwrap() + 3;
    let after = &base[scheme_end..];
    let (authority, query) = match after.find('/') {
        Some(slash) => {
            let path_and_query = &after[slash..];
            let query = path_and_query
                .find('?')
                .map_or("", |q| &path_and_query[q..]);
            (&after[..slash], query)
        }
        None => (after, ""),
    };
    format!("{}{authority}/{name}{query}", &base[..scheme_end])
}

/// `host:port` of the broker in an AMQP URL (port 5672 by default).
pub fn broker_address(url: &str) -> String {
    let (_, authority, _) = split_authority(url);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5672")
    }
}

/// The same AMQP URL (credentials, vhost) pointing at `address` instead.
pub fn via(url: &str, address: &str) -> String {
    let (scheme, authority, rest) = split_authority(url);
    let userinfo = authority
        .rsplit_once('@')
        .map_or(String::new(), |(user, _)| format!("{user}@"));
    format!("{scheme}{userinfo}{address}{rest}")
}

fn split_authority(url: &str) -> (&str, &str, &str) {
    let scheme_end = url.find("://").unwrap() + 3;
    let after = &url[scheme_end..];
    let end = after.find(['/', '?']).unwrap_or(after.len());
    (&url[..scheme_end], &after[..end], &after[end..])
}

pub async fn broker(url: &str) -> (Connection, Channel) {
    let connection = Connection::connect(url, ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| panic!("AMQP_URL is set but the broker is unreachable: {e}"));
    let channel = connection.create_channel().await.unwrap();
    queues::topology::declare(&channel).await.unwrap();
    (connection, channel)
}

/// Declares a uniquely named receiver queue with `bindings`.
pub async fn test_queue(channel: &Channel, bindings: &[&str]) -> String {
    let name = unique("queues-test-");
    queues::topology::declare_queue(channel, &name, bindings)
        .await
        .unwrap();
    name
}

pub async fn delete_queue(channel: &Channel, name: &str) {
    channel
        .queue_delete(name.into(), QueueDeleteOptions::default())
        .await
        .unwrap();
}

/// Ready messages in `queue` (not counting unacked ones).
pub async fn ready_count(channel: &Channel, queue: &str) -> u32 {
    let options = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(queue.into(), options, FieldTable::default())
        .await
        .unwrap()
        .message_count()
}

/// What a raw lapin consumer saw.
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub body: String,
    pub persistent: bool,
    pub json: bool,
}

/// A plain lapin consumer on its own connection that acks everything and hands it over.
/// [`until_distinct`](Self::until_distinct) checks each body against the notification
/// schema; a test reading `rx` or [`drain`](Self::drain) checks the ones it keeps (a
/// queue bound to `message.received.#` also gets other test runs' notifications).
pub struct Collector {
    pub rx: mpsc::UnboundedReceiver<Received>,
    task: JoinHandle<()>,
}

impl Collector {
    pub async fn start(url: &str, queue: &str) -> Self {
        let (connection, channel) = broker(url).await;
        let mut consumer = channel
            .basic_consume(
                queue.into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let _connection = connection;
            while let Some(Ok(delivery)) = consumer.next().await {
                let properties = &delivery.properties;
                let received = Received {
                    message_id: properties
                        .message_id()
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    body: String::from_utf8_lossy(&delivery.data).into_owned(),
                    persistent: properties.delivery_mode() == &Some(2),
                    json: properties.content_type().as_ref().map(|c| c.as_str())
                        == Some("application/json"),
                };
                delivery.ack(BasicAckOptions::default()).await.unwrap();
                if tx.send(received).is_err() {
                    break;
                }
            }
        });
        Self { rx, task }
    }

    /// Receives until `distinct` different message ids were seen (calling `on_first`
    /// at the first one); returns everything received, duplicates included.
    pub async fn until_distinct(
        &mut self,
        seen: &mut HashMap<String, Vec<Received>>,
        distinct: usize,
        within: Duration,
        mut on_first: impl FnMut(),
    ) {
        let deadline = tokio::time::Instant::now() + within;
        while seen.len() < distinct {
            let next = tokio::time::timeout_at(deadline, self.rx.recv()).await;
            let Ok(Some(received)) = next else {
                panic!("received {} distinct of {distinct}", seen.len());
            };
            contract::assert_valid(received.body.as_bytes());
            if seen.is_empty() {
                on_first();
            }
            seen.entry(received.message_id.clone())
                .or_default()
                .push(received);
        }
    }

    /// Whatever else arrives within `quiet`.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<Received> {
        let mut more = Vec::new();
        while let Ok(Some(received)) = tokio::time::timeout(quiet, self.rx.recv()).await {
            more.push(received);
        }
        more
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TCP proxy on a fixed local port: refuses connections (nothing listens) until
/// [`start`](Self::start)ed, then forwards to the broker; [`cut`](Self::cut) drops the
/// connections it carries.
pub struct Proxy {
    pub port: u16,
    upstream: String,
    cut: broadcast::Sender<()>,
    pub accepted: Arc<AtomicUsize>,
    task: Option<JoinHandle<()>>,
}

impl Proxy {
    pub fn reserve(upstream: String) -> Self {
        // A port the kernel just handed out and nobody listens on: connections are refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (cut, _) = broadcast::channel(1);
        Self {
            port,
            upstream,
            cut,
            accepted: Arc::new(AtomicUsize::new(0)),
            task: None,
        }
    }

    pub async fn start(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        let upstream = self.upstream.clone();
        let cut = self.cut.clone();
        let accepted = self.accepted.clone();
        self.task = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                let upstream = upstream.clone();
                let mut cut = cut.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.recv() => {}
                    }
                });
            }
        }));
    }

    /// Drops every connection carried so far (the relay sees the socket close).
    pub fn cut(&self) {
        let _ = self.cut.send(());
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

//! The transactional-outbox relay: a background task that publishes the `outbox` rows
//! to `depot.events` and marks them sent once RabbitMQ confirmed them.
//!
//! AMQP guarantees it relies on (0-9-1 with RabbitMQ's publisher confirms): the channel
//! is in confirm mode (`confirm.select`); each row is published persistent
//! (`delivery_mode = 2`) with `message_id` = the row id, and the broker's `basic.ack` for
//! it means a durable queue it was routed to has stored it. `sent_at` is set only for
//! acked rows; a `basic.nack`, a confirm that never comes, a lost connection or a failed
//! commit leaves the row unsent, and it goes again later. Delivery is therefore at least
//! once, never at most once: receivers deduplicate on `message_id`.
//!
//! Several instances may run a relay on the same PostgreSQL database: each batch is
//! taken `FOR UPDATE SKIP LOCKED` in a transaction that is held until the confirms are
//! in, so batches are disjoint. SQLite (one instance, WAL) has no row locks, and a
//! transaction held across the network round trips would either block the depot's
//! writers or fail at commit whenever the depot committed meanwhile; there the relay
//! reads the batch, publishes, and marks the acked rows in one statement afterwards.
//! Two relays on one SQLite file lose nothing but may publish a row twice.
//!
//! The task never gives up: when the broker is unreachable or the connection is lost it
//! retries with exponential back-off (about 200 ms doubling to `max_backoff`, with
//! jitter), probing the broker's port meanwhile so that a broker coming back is used at
//! once, and logging a warning with the password stripped from the URL.

mod batch;
mod session;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::DatabaseConnection;
use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// How long [`RelayHandle::stop`] lets the current batch finish before aborting it.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Where and how the relay publishes.
#[derive(Clone)]
pub struct RelayConfig {
    /// `amqp://user:password@host:5672/%2f` (or `amqps://…`, through OpenSSL).
    pub url: String,
    /// Rows per batch (default 100).
    pub batch: u64,
    /// How often to look for rows when nobody called `wake` (default 500 ms).
    pub idle_poll: Duration,
    /// Upper bound of the reconnection back-off (default 5 s). Meanwhile the broker's
    /// port is probed, and a broker coming back is reconnected to at once.
    pub max_backoff: Duration,
    /// The share of each back-off delay taken off at random (0 to 1, default 0.25).
    pub jitter: f64,
}

impl RelayConfig {
    /// The defaults, publishing to `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            batch: 100,
            idle_poll: Duration::from_millis(500),
            max_backoff: Duration::from_secs(5),
            jitter: 0.25,
        }
    }
}

impl std::fmt::Debug for RelayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayConfig")
            .field("url", &crate::redact_url(&self.url))
            .field("batch", &self.batch)
            .field("idle_poll", &self.idle_poll)
            .field("max_backoff", &self.max_backoff)
            .field("jitter", &self.jitter)
            .finish()
    }
}

/// A snapshot of the relay, for `/health/ready` and metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RelayStatus {
    /// Connected to the broker, topology declared, channel in confirm mode.
    pub connected: bool,
    /// The last connection, publishing or database error (password-free); cleared
    /// when the relay connects again.
    pub last_error: Option<String>,
    /// Notifications confirmed by the broker since the relay started.
    pub published: u64,
    /// Connection, publishing and database errors since the relay started.
    pub failures: u64,
}

/// State shared between the task and its handles.
#[derive(Debug, Default)]
struct Shared {
    wake: Notify,
    connected: AtomicBool,
    published: AtomicU64,
    failures: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// The live channel's status, so that `status()` notices a lost connection even
    /// while the task is idle.
    channel: Mutex<Option<lapin::ChannelStatus>>,
}

impl Shared {
    fn status(&self) -> RelayStatus {
        let live = lock(&self.channel)
            .as_ref()
            .is_some_and(|channel| channel.connected());
        RelayStatus {
            connected: self.connected.load(Ordering::Acquire) && live,
            last_error: lock(&self.last_error).clone(),
            published: self.published.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
        }
    }

    fn set_connected(&self, channel: lapin::ChannelStatus) {
        *lock(&self.channel) = Some(channel);
        *lock(&self.last_error) = None;
        self.connected.store(true, Ordering::Release);
    }

    fn set_error(&self, error: String, connected: bool) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if !connected {
            self.connected.store(false, Ordering::Release);
            *lock(&self.channel) = None;
        }
        *lock(&self.last_error) = Some(error);
    }
}

/// A poisoned lock only means another thread panicked while holding it; the values
/// guarded here stay meaningful.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Cheap, cloneable access to a running relay: wake it, read its status. Hand this to
/// request handlers; keep the [`RelayHandle`] for shutdown.
#[derive(Debug, Clone)]
pub struct RelayControl {
    shared: Arc<Shared>,
}

impl RelayControl {
    /// Publish now: call after committing a transaction that enqueued notifications.
    /// Wakes not consumed yet coalesce into one; never blocks.
    pub fn wake(&self) {
        self.shared.wake.notify_one();
    }

    pub fn status(&self) -> RelayStatus {
        self.shared.status()
    }
}

/// The running relay. Dropping it aborts the task; [`stop`](Self::stop) lets the batch
/// in flight finish first.
#[derive(Debug)]
pub struct RelayHandle {
    control: RelayControl,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl RelayHandle {
    pub fn wake(&self) {
        self.control.wake();
    }

    pub fn status(&self) -> RelayStatus {
        self.control.status()
    }

    pub fn control(&self) -> RelayControl {
        self.control.clone()
    }

    /// Asks the task to stop after the batch in flight (whose confirmed rows are then
    /// marked sent) and to close the connection; aborts it after 5 s.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(STOP_GRACE, &mut task).await.is_err()
        {
            task.abort();
        }
    }
}

impl Drop for RelayHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Starts the relay on the current tokio runtime (call it from within the runtime the
/// process keeps alive, e.g. actix's system runtime before `HttpServer::new`).
pub fn spawn(db: DatabaseConnection, config: RelayConfig) -> RelayHandle {
    let shared = Arc::new(Shared::default());
    let (shutdown, stopping) = watch::channel(false);
    let task = tokio::spawn(session::run(db, config, shared.clone(), stopping));
    RelayHandle {
        control: RelayControl { shared },
        shutdown,
        task: Some(task),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let config = RelayConfig::new("amqp://u:secret@h/%2f");
        assert_eq!(config.batch, 100);
        assert_eq!(config.idle_poll, Duration::from_millis(500));
        assert_eq!(config.max_backoff, Duration::from_secs(5));
        let debug = format!("{config:?}");
        assert!(!debug.contains("secret"), "{debug}");
    }

    #[test]
    fn not_connected_without_a_live_channel() {
        let shared = Shared::default();
        shared.connected.store(true, Ordering::Release);
        assert!(!shared.status().connected);
        shared.set_error("boom".into(), false);
        assert_eq!(
            shared.status(),
            RelayStatus {
                connected: false,
                last_error: Some("boom".into()),
                published: 0,
                failures: 1,
            }
        );
    }
}

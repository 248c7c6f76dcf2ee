//! The relay's life: connect, declare, confirm mode, then batches until the connection
//! fails (reconnect with back-off) or the handle asks it to stop.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::ConfirmSelectOptions;
use lapin::{Connection, ConnectionProperties, Event};
use sea_orm::DatabaseConnection;
use tokio::sync::watch;

use super::batch::{self, BatchError};
use super::{RelayConfig, Shared};
use crate::{Error, topology};

const INITIAL_BACKOFF: Duration = Duration::from_millis(200);
/// TCP + TLS + AMQP handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The task: reconnects forever until `stopping` turns true (or its sender is gone).
pub(super) async fn run(
    db: DatabaseConnection,
    config: RelayConfig,
    shared: Arc<Shared>,
    mut stopping: watch::Receiver<bool>,
) {
    let url = crate::redact_url(&config.url);
    let broker = broker_address(&config.url);
    let mut backoff = Backoff::new(config.max_backoff, config.jitter);
    loop {
        let error = match session(&db, &config, &shared, &mut stopping, &mut backoff).await {
            Ok(()) => return,
            Err(error) => error,
        };
        let delay = backoff.next_delay();
        shared.set_error(error.to_string(), false);
        tracing::warn!(
            url = %url,
            error = %error,
            retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "outbox relay: broker unavailable, notifications wait in the outbox"
        );
        if wait_for_broker(delay, broker.as_deref(), &mut stopping).await {
            return;
        }
    }
}

/// `host:port` of the broker, for the probe (none when the URL does not parse; the
/// connection attempt then says why).
fn broker_address(url: &str) -> Option<String> {
    let uri: lapin::uri::AMQPUri = url.parse().ok()?;
    Some(format!("{}:{}", uri.authority.host, uri.authority.port))
}

/// How often the broker's port is probed during a back-off.
const PROBE_EVERY: Duration = Duration::from_millis(500);

/// Waits `delay` before the next connection attempt, probing the broker's TCP port
/// meanwhile: once a probe that failed succeeds (the broker came back), the wait ends
/// at once. A broker whose port always answers (it refuses us at the AMQP level) gets
/// the whole back-off. True when a stop was requested meanwhile.
async fn wait_for_broker(
    delay: Duration,
    broker: Option<&str>,
    stopping: &mut watch::Receiver<bool>,
) -> bool {
    let Some(broker) = broker else {
        return sleep_or_stop(delay, stopping).await;
    };
    let until = tokio::time::Instant::now() + delay;
    let probe = || async {
        matches!(
            tokio::time::timeout(PROBE_EVERY, tokio::net::TcpStream::connect(broker)).await,
            Ok(Ok(_))
        )
    };
    // At once: a broker that refuses connections now is seen down, and a probe that
    // then succeeds ends the wait.
    let mut seen_down = !probe().await;
    loop {
        let now = tokio::time::Instant::now();
        if now >= until {
            return stop_requested(stopping);
        }
        if sleep_or_stop(PROBE_EVERY.min(until - now), stopping).await {
            return true;
        }
        let up = probe().await;
        if up && seen_down {
            return stop_requested(stopping);
        }
        seen_down |= !up;
    }
}

/// One connection's worth of batches. `Ok` means a requested stop.
async fn session(
    db: &DatabaseConnection,
    config: &RelayConfig,
    shared: &Shared,
    stopping: &mut watch::Receiver<bool>,
    backoff: &mut Backoff,
) -> Result<(), Error> {
    if stop_requested(stopping) {
        return Ok(());
    }
    let properties =
        ConnectionProperties::default().with_connection_name("depot outbox relay".into());
    let connection = tokio::time::timeout(
        CONNECT_TIMEOUT,
        Connection::connect(&config.url, properties),
    )
    .await
    .map_err(|_| Error::Timeout("connecting to the broker", CONNECT_TIMEOUT))??;
    let result = publish_until_stopped(&connection, db, config, shared, stopping, backoff).await;
    // Best effort: a dead connection refuses at once; a live one says goodbye.
    let _ = tokio::time::timeout(
        CLOSE_TIMEOUT,
        connection.close(200, "outbox relay stopping".into()),
    )
    .await;
    result
}

async fn publish_until_stopped(
    connection: &Connection,
    db: &DatabaseConnection,
    config: &RelayConfig,
    shared: &Shared,
    stopping: &mut watch::Receiver<bool>,
    backoff: &mut Backoff,
) -> Result<(), Error> {
    let mut events = pin!(connection.events_listener());
    let channel = connection.create_channel().await?;
    topology::declare(&channel).await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    shared.set_connected(channel.status().clone());
    backoff.reset();
    tracing::info!(url = %crate::redact_url(&config.url), "outbox relay connected");

    let mut db_backoff = Backoff::new(config.max_backoff, config.jitter);
    loop {
        if stop_requested(stopping) {
            return Ok(());
        }
        if !channel.status().connected() {
            return Err(Error::Closed);
        }
        let limit = config.batch.max(1);
        let pause = match batch::relay_batch(db, &channel, limit).await {
            Ok(outcome) => {
                db_backoff.reset();
                shared.published.fetch_add(outcome.acked, Ordering::Relaxed);
                if outcome.nacked > 0 {
                    let error = format!("the broker refused {} notifications", outcome.nacked);
                    tracing::warn!(nacked = outcome.nacked, "outbox relay: {error}; retrying");
                    shared.set_error(error, true);
                    config.idle_poll
                } else if outcome.fetched >= limit {
                    continue;
                } else {
                    config.idle_poll
                }
            }
            Err(BatchError::Broker(error)) => return Err(error),
            Err(BatchError::Db(error)) => {
                let delay = db_backoff.next_delay();
                tracing::warn!(
                    error = %error,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "outbox relay: database error"
                );
                shared.set_error(format!("database: {error}"), true);
                delay
            }
        };
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep(pause) => {}
            _ = stopping.changed() => return Ok(()),
            event = events.next() => match event {
                Some(Event::Error(error)) => return Err(error.into()),
                None => return Err(Error::Closed),
                Some(_) => {}
            },
        }
    }
}

fn stop_requested(stopping: &watch::Receiver<bool>) -> bool {
    *stopping.borrow() || stopping.has_changed().is_err()
}

/// Sleeps `delay`; true when a stop was requested meanwhile.
async fn sleep_or_stop(delay: Duration, stopping: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => stop_requested(stopping),
        _ = stopping.changed() => true,
    }
}

/// Exponential back-off: 200 ms, 400 ms, … capped at `max`, each delay shortened by a
/// random part of up to `jitter` of it (so that many relays do not come back in step).
struct Backoff {
    next: Duration,
    max: Duration,
    jitter: f64,
}

impl Backoff {
    fn new(max: Duration, jitter: f64) -> Self {
        Self {
            next: INITIAL_BACKOFF,
            max,
            jitter: jitter.clamp(0.0, 1.0),
        }
    }

    fn next_delay(&mut self) -> Duration {
        let delay = self.next.min(self.max);
        self.next = self.next.saturating_mul(2).min(self.max);
        delay.mul_f64(1.0 - self.jitter * unit_random())
    }

    fn reset(&mut self) {
        self.next = INITIAL_BACKOFF;
    }
}

/// A number in [0, 1), random enough to spread reconnections (not for secrets): the
/// standard library's randomly keyed hasher.
fn unit_random() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_secs(1), 0.0);
        let delays: Vec<_> = (0..5).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [200, 400, 800, 1000, 1000]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(200));
    }

    #[test]
    fn backoff_never_exceeds_a_small_cap() {
        let mut backoff = Backoff::new(Duration::from_millis(50), 0.0);
        assert_eq!(backoff.next_delay(), Duration::from_millis(50));
    }

    #[test]
    fn jitter_shortens_delays_by_at_most_its_share_and_spreads_them() {
        let mut delays = std::collections::HashSet::new();
        for _ in 0..50 {
            let mut backoff = Backoff::new(Duration::from_secs(4), 0.5);
            for _ in 0..5 {
                backoff.next_delay();
            }
            let delay = backoff.next_delay();
            assert!(
                delay <= Duration::from_secs(4) && delay >= Duration::from_secs(2),
                "{delay:?}"
            );
            delays.insert(delay);
        }
        assert!(delays.len() > 10, "spread: {delays:?}");
    }

    #[test]
    fn the_probe_finds_the_broker_in_the_url() {
        assert_eq!(
            broker_address("amqp://guest:guest@rabbit.example:5673/%2f").as_deref(),
            Some("rabbit.example:5673")
        );
        assert_eq!(
            broker_address("amqp://localhost").as_deref(),
            Some("localhost:5672")
        );
        assert_eq!(broker_address("not a url"), None);
    }

    /// The wait ends soon after a broker that was down opens its port, not at the end
    /// of the back-off.
    #[tokio::test]
    async fn the_wait_ends_when_a_down_broker_comes_back() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let (_stop, mut stopping) = watch::channel(false);
        let started = tokio::time::Instant::now();
        let listener = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1200)).await;
            tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .unwrap()
        });
        let wait = wait_for_broker(Duration::from_secs(60), Some(&address), &mut stopping);
        let stopped = tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .expect("the wait ended when the port opened, long before 60 s");
        assert!(!stopped);
        assert!(started.elapsed() >= Duration::from_millis(1200));
        drop(listener.await.unwrap());
    }

    /// A broker whose port answers all along (it refuses us at the AMQP level) gets the
    /// whole back-off: the probe cannot tell it came back.
    #[tokio::test]
    async fn a_broker_that_never_went_away_gets_the_whole_backoff() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let (_stop, mut stopping) = watch::channel(false);
        let started = tokio::time::Instant::now();
        let stopped =
            wait_for_broker(Duration::from_millis(1500), Some(&address), &mut stopping).await;
        assert!(!stopped);
        assert!(started.elapsed() >= Duration::from_millis(1500));
    }
}

//! Prometheus metrics (OpenMetrics text at `/metrics`), with an explicit registry per
//! application instance. Names follow the Prometheus conventions: a `depot_` prefix,
//! the unit in the name (`_seconds`), `_total` on counters (added by the encoder).
//!
//! Two kinds: what the request paths count as they go ([`Metrics`]: HTTP requests,
//! tokens, messages, the TSA), and what is read at each scrape ([`Snapshot`]: the
//! outbox, the relay, the database pool), which no request path could keep current.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type HttpLabels = Vec<(&'static str, String)>;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GrantLabels {
    pub grant_type: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    pub reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenRefusalLabels {
    pub grant_type: &'static str,
    pub reason: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<HttpLabels, Histogram, fn() -> Histogram>,
    pub tokens_issued: Family<GrantLabels, Counter>,
    pub tokens_refused: Family<TokenRefusalLabels, Counter>,
    pub messages_accepted: Counter,
    pub messages_refused: Family<RefusalLabels, Counter>,
    pub tsa_duration: Histogram,
    pub tsa_failures: Family<RefusalLabels, Counter>,
}

/// Latency buckets from 100 µs to about 3.3 s.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("depot");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration: Family<HttpLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency);
        let tokens_issued = Family::default();
        let tokens_refused = Family::default();
        let messages_accepted = Counter::default();
        let messages_refused = Family::default();
        let tsa_duration = latency();
        let tsa_failures = Family::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route pattern and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency, by method, route pattern and status",
            http_duration.clone(),
        );
        registry.register(
            "tokens_issued",
            "Tokens issued by the token endpoint, by grant type",
            tokens_issued.clone(),
        );
        registry.register(
            "tokens_refused",
            "Token requests refused, by grant type and OAuth error code",
            tokens_refused.clone(),
        );
        registry.register(
            "messages_accepted",
            "Messages accepted by POST /depot/messages (idempotent replays included)",
            messages_accepted.clone(),
        );
        registry.register(
            "messages_refused",
            "Messages refused by POST /depot/messages after authorization, by problem type",
            messages_refused.clone(),
        );
        registry.register(
            "tsa_request_duration_seconds",
            "Time to obtain a proof of reception from the time-stamp authority, failures included",
            tsa_duration.clone(),
        );
        registry.register(
            "tsa_failures",
            "Proofs of reception that could not be obtained, by reason",
            tsa_failures.clone(),
        );
        Self {
            registry,
            http_requests,
            http_duration,
            tokens_issued,
            tokens_refused,
            messages_accepted,
            messages_refused,
            tsa_duration,
            tsa_failures,
        }
    }
}

/// What a scrape reads off the running service.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Notifications waiting in the outbox, and the age of the oldest; `None` when
    /// the database did not answer.
    pub outbox_pending: Option<u64>,
    pub outbox_oldest_age_seconds: Option<f64>,
    /// The relay's status; `None` when no relay runs in this process.
    pub relay: Option<queues::relay::RelayStatus>,
    /// The pool's open and idle connections, and its size limit.
    pub pool_open: u32,
    pub pool_idle: u32,
    pub pool_max: u32,
}

impl Snapshot {
    fn registry(&self) -> Registry {
        let mut registry = Registry::with_prefix("depot");
        if let Some(pending) = self.outbox_pending {
            registry.register(
                "outbox_pending",
                "Notifications committed and not yet confirmed by the broker",
                ConstGauge::new(i64::try_from(pending).unwrap_or(i64::MAX)),
            );
            registry.register(
                "outbox_oldest_age_seconds",
                "Age of the oldest notification waiting in the outbox (0 when none waits)",
                ConstGauge::new(self.outbox_oldest_age_seconds.unwrap_or(0.0)),
            );
        }
        if let Some(relay) = &self.relay {
            registry.register(
                "outbox_relay_connected",
                "1 when this instance's outbox relay is connected to the broker",
                ConstGauge::new(i64::from(relay.connected)),
            );
            registry.register(
                "outbox_published",
                "Notifications confirmed by the broker since this instance started",
                ConstCounter::new(relay.published),
            );
            registry.register(
                "outbox_relay_failures",
                "Relay connection, publishing and database errors since this instance started",
                ConstCounter::new(relay.failures),
            );
        }
        registry.register(
            "db_pool_connections_in_use",
            "Database connections lent to requests or jobs",
            ConstGauge::new(i64::from(self.pool_open.saturating_sub(self.pool_idle))),
        );
        registry.register(
            "db_pool_connections_idle",
            "Open database connections waiting in the pool",
            ConstGauge::new(i64::from(self.pool_idle)),
        );
        registry.register(
            "db_pool_connections_max",
            "The pool's size limit (DEPOT_DATABASE_MAX_CONNECTIONS)",
            ConstGauge::new(i64::from(self.pool_max)),
        );
        registry
    }
}

impl Metrics {
    /// The counters, then what `snapshot` read, in one exposition.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let mut out = String::new();
        let encoded = encode_registry(&mut out, &self.registry)
            .and_then(|()| encode_registry(&mut out, &snapshot.registry()))
            .and_then(|()| encode_eof(&mut out));
        if encoded.is_err() {
            out.clear();
        }
        out
    }
}

//! The injected clock. Every expiry decision asks it, never the system directly, so
//! tests can move time forward against a running server.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, DurationRound, Utc};

/// System time plus an adjustable offset (zero in production).
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_seconds: Arc<AtomicI64>,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    /// The current time, to the millisecond: the precision of every time the service
    /// states (RFC 3161 `genTime`, key validity, receipts), so that a key registered
    /// and used within one second compares exactly with the timestamp of its use, and
    /// a value read back from any database we support equals the value written.
    pub fn now(&self) -> DateTime<Utc> {
        let now = Utc::now() + Duration::seconds(self.offset_seconds.load(Ordering::Relaxed));
        now.duration_trunc(Duration::milliseconds(1)).unwrap_or(now)
    }

    /// Whether this clock was moved away from the system's (only ever in tests).
    pub fn is_moved(&self) -> bool {
        self.offset_seconds.load(Ordering::Relaxed) != 0
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, seconds: i64) {
        self.offset_seconds.fetch_add(seconds, Ordering::Relaxed);
    }
}

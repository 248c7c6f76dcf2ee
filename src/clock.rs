//! The injected clock. Every expiry decision asks it, never the system directly, so
//! tests can move time forward against a running server, or hold it still.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, DurationRound, Utc};

/// System time plus an adjustable offset (zero in production), or a held instant.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    moved: Arc<Moved>,
}

#[derive(Debug, Default)]
struct Moved {
    offset_millis: AtomicI64,
    /// Milliseconds since the epoch while held; 0 while the clock runs (the epoch
    /// itself is never a time this service lives at).
    held_millis: AtomicI64,
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
        let held = self.moved.held_millis.load(Ordering::Relaxed);
        if held != 0
            && let Some(at) = DateTime::from_timestamp_millis(held)
        {
            return at;
        }
        let now =
            Utc::now() + Duration::milliseconds(self.moved.offset_millis.load(Ordering::Relaxed));
        now.duration_trunc(Duration::milliseconds(1)).unwrap_or(now)
    }

    /// Whether this clock was moved away from the system's (only ever in tests).
    pub fn is_moved(&self) -> bool {
        self.moved.offset_millis.load(Ordering::Relaxed) != 0
            || self.moved.held_millis.load(Ordering::Relaxed) != 0
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, seconds: i64) {
        self.moved
            .offset_millis
            .fetch_add(seconds.saturating_mul(1_000), Ordering::Relaxed);
    }

    /// Stops this clock (and every clone of it) at `at`, to the millisecond, until
    /// [`Clock::run`]: for tests that need two events at chosen instants, such as two
    /// within one second whatever the machine's speed. Holding it at an instant before
    /// one it has already told makes time go back.
    pub fn hold_at(&self, at: DateTime<Utc>) {
        let millis = at.timestamp_millis();
        // 0 means "running"; no test holds the clock at the epoch.
        self.moved
            .held_millis
            .store(if millis == 0 { 1 } else { millis }, Ordering::Relaxed);
    }

    /// Lets a held clock run again, from the held instant when that is ahead of the
    /// running time (the clock never goes back), else from the running time.
    pub fn run(&self) {
        let held = self.moved.held_millis.swap(0, Ordering::Relaxed);
        let ahead = held - self.now().timestamp_millis();
        if held != 0 && ahead > 0 {
            self.moved.offset_millis.fetch_add(ahead, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_clock_says_the_held_instant_until_it_runs_again() {
        let clock = Clock::system();
        let copy = clock.clone();
        let at = DateTime::parse_from_rfc3339("2026-12-04T10:00:00.400Z")
            .unwrap()
            .with_timezone(&Utc);
        clock.hold_at(at);
        assert!(copy.is_moved());
        assert_eq!(copy.now(), at);
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(copy.now(), at);
        clock.run();
        assert!(!copy.is_moved());
        assert!(copy.now() > at);

        // Held ahead, it runs on from there: never back to the system's time.
        let ahead = clock.now() + Duration::seconds(30);
        clock.hold_at(ahead);
        clock.run();
        assert!(copy.now() >= ahead);
        assert!(copy.now() < ahead + Duration::seconds(5));
    }
}

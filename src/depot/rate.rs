//! The per-sender rate limit of `POST /depot/messages`: a token bucket per sender
//! (the person or client the token speaks for), refilled at `per_minute` and holding at
//! most `burst`, on the service's clock. It is kept per instance: behind N instances a
//! sender may send up to N times the rate. Retries answered from an `Idempotency-Key`
//! record are not counted.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// A sender's bucket: its tokens when last seen.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: DateTime<Utc>,
}

/// Buckets beyond this many make the next admission drop the full ones (a sender whose
/// bucket is full is the same as one never seen).
const TIDY_ABOVE: usize = 10_000;

pub struct SenderRate {
    /// Tokens per second; none when the limit is off.
    per_second: Option<f64>,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl SenderRate {
    /// `per_minute` 0 turns the limit off; `burst` is at least 1.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self {
            per_second: (per_minute > 0).then(|| f64::from(per_minute) / 60.0),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one message from `sender`'s bucket at `now`, or says in how many whole
    /// seconds the next one will be admitted.
    pub fn admit(&self, sender: &str, now: DateTime<Utc>) -> Result<(), u64> {
        let Some(per_second) = self.per_second else {
            return Ok(());
        };
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > TIDY_ABOVE {
            let burst = self.burst;
            buckets.retain(|_, b| refilled(b, now, per_second, burst) < burst);
        }
        let bucket = buckets.entry(sender.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let tokens = refilled(bucket, now, per_second, self.burst);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                at: now,
            };
            return Ok(());
        }
        *bucket = Bucket { tokens, at: now };
        Err(((1.0 - tokens) / per_second).ceil().max(1.0) as u64)
    }
}

/// The bucket's tokens at `now` (a clock moved back refills nothing).
fn refilled(bucket: &Bucket, now: DateTime<Utc>, per_second: f64, burst: f64) -> f64 {
    let elapsed = (now - bucket.at).num_milliseconds().max(0) as f64 / 1000.0;
    (bucket.tokens + elapsed * per_second).min(burst)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(1_800_000_000 + seconds)
    }

    #[test]
    fn a_burst_then_the_rate() {
        let rate = SenderRate::new(60, 3);
        for _ in 0..3 {
            assert_eq!(rate.admit("client:a", at(0)), Ok(()));
        }
        assert_eq!(rate.admit("client:a", at(0)), Err(1));
        assert_eq!(rate.admit("client:b", at(0)), Ok(()), "per sender");
        assert_eq!(rate.admit("client:a", at(1)), Ok(()), "one a second");
        assert_eq!(rate.admit("client:a", at(1)), Err(1));
        assert_eq!(rate.admit("client:a", at(100)), Ok(()));
        for _ in 0..2 {
            assert_eq!(rate.admit("client:a", at(100)), Ok(()));
        }
        assert_eq!(
            rate.admit("client:a", at(100)),
            Err(1),
            "never more than the burst"
        );
    }

    #[test]
    fn the_wait_is_told_in_whole_seconds() {
        let rate = SenderRate::new(6, 1);
        assert_eq!(rate.admit("s", at(0)), Ok(()));
        assert_eq!(rate.admit("s", at(0)), Err(10));
        assert_eq!(rate.admit("s", at(4)), Err(6));
    }

    #[test]
    fn off_admits_everything() {
        let rate = SenderRate::new(0, 1);
        for _ in 0..1000 {
            assert_eq!(rate.admit("s", at(0)), Ok(()));
        }
    }

    #[test]
    fn many_senders_do_not_grow_the_table_forever() {
        let rate = SenderRate::new(60, 1);
        for i in 0..=TIDY_ABOVE {
            assert_eq!(rate.admit(&format!("s{i}"), at(0)), Ok(()));
        }
        assert_eq!(rate.admit("late", at(10)), Ok(()));
        let held = rate.buckets.lock().unwrap().len();
        assert_eq!(held, 1, "the refilled buckets were dropped");
    }
}

//! A budget of memory for request bodies held at once: a body's buffer takes room from
//! it before it is allocated or grown, and gives the room back when the request is done
//! with the body and its copies (its [`Reservation`] dropped). A request finding no room
//! waits its turn, in arrival order (tokio's semaphore is fair), for at most the
//! budget's wait; then it is answered 503 with `Retry-After`.
//!
//! Room is counted in KiB: tokio counts permits in `u32`, which in bytes would stop at
//! 4 GiB. A body bigger than the whole budget takes all of it, and so waits until it is
//! alone rather than forever.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::problem::Problem;

/// The unit of room, in bytes.
const UNIT: u64 = 1024;

/// How many bodies' bytes may be held at once, and how long a body waits for room.
/// Its clones share the one budget.
#[derive(Clone)]
pub struct Budget {
    shared: Arc<Shared>,
}

struct Shared {
    room: Arc<Semaphore>,
    /// The whole budget, in units.
    units: u32,
    wait: Duration,
}

impl Budget {
    /// A budget of `bytes` (at least one KiB, at most 4 TiB), where a body waits at most
    /// `wait` for room.
    pub fn new(bytes: u64, wait: Duration) -> Self {
        let units = u32::try_from(bytes / UNIT).unwrap_or(u32::MAX).max(1);
        Self {
            shared: Arc::new(Shared {
                room: Arc::new(Semaphore::new(units as usize)),
                units,
                wait,
            }),
        }
    }

    /// A reservation holding no room yet, for one body.
    pub fn reservation(&self) -> Reservation {
        Reservation {
            budget: Some(self.shared.clone()),
            held: None,
        }
    }

    /// The bytes no body holds now.
    pub fn free_bytes(&self) -> u64 {
        self.shared.room.available_permits() as u64 * UNIT
    }
}

/// The room one body holds; given back when dropped.
pub struct Reservation {
    /// None: a body that asks no budget.
    budget: Option<Arc<Shared>>,
    held: Option<OwnedSemaphorePermit>,
}

impl Reservation {
    /// A reservation against no budget: it always has room.
    pub fn unbounded() -> Self {
        Self {
            budget: None,
            held: None,
        }
    }

    /// The bytes this reservation holds.
    pub fn bytes(&self) -> u64 {
        self.held_units() as u64 * UNIT
    }

    fn held_units(&self) -> u32 {
        self.held
            .as_ref()
            .map_or(0, |p| u32::try_from(p.num_permits()).unwrap_or(u32::MAX))
    }

    /// Holds room for `bytes` in all (the whole budget at most), waiting for it if need
    /// be; room already held counts.
    pub async fn grow_to(&mut self, bytes: usize) -> Result<(), Problem> {
        let Some(budget) = self.budget.clone() else {
            return Ok(());
        };
        let wanted = u32::try_from((bytes as u64).div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .min(budget.units);
        let held = self.held_units();
        if wanted <= held {
            return Ok(());
        }
        match budget.room.clone().try_acquire_many_owned(wanted - held) {
            Ok(more) => {
                self.add(more);
                return Ok(());
            }
            Err(TryAcquireError::Closed) => return Err(closed()),
            Err(TryAcquireError::NoPermits) => {}
        }
        // Waiting for more while holding some could deadlock with another body that
        // holds the rest and waits as well: give it back, and wait in line for all.
        self.held = None;
        let all = budget.room.clone().acquire_many_owned(wanted);
        match tokio::time::timeout(budget.wait, all).await {
            Ok(Ok(permit)) => {
                self.held = Some(permit);
                Ok(())
            }
            Ok(Err(_)) => Err(closed()),
            Err(_) => {
                tracing::warn!(
                    bytes,
                    waited_ms = budget.wait.as_millis() as u64,
                    "no room for a body among those in flight: refused"
                );
                Err(Problem::unavailable(
                    "the service holds as many message bodies as it may; retry shortly",
                )
                .with_header("Retry-After", RETRY_AFTER_SECONDS.to_owned()))
            }
        }
    }

    fn add(&mut self, more: OwnedSemaphorePermit) {
        match &mut self.held {
            Some(held) => held.merge(more),
            None => self.held = Some(more),
        }
    }
}

/// What a body refused for want of room is told to wait.
const RETRY_AFTER_SECONDS: &str = "5";

/// The budget's semaphore is never closed; were it, no body could be read.
fn closed() -> Problem {
    Problem::internal("E-BODY-BUDGET", &"the body budget is closed")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: usize = 1024;

    fn budget(kib: u64, wait_ms: u64) -> Budget {
        Budget::new(kib * UNIT, Duration::from_millis(wait_ms))
    }

    #[tokio::test]
    async fn room_is_held_in_whole_kib_and_given_back_when_dropped() {
        let budget = budget(64, 10);
        let mut first = budget.reservation();
        first.grow_to(1).await.unwrap();
        assert_eq!(first.bytes(), 1024);
        first.grow_to(10 * KIB + 1).await.unwrap();
        assert_eq!(first.bytes(), 11 * 1024);
        first.grow_to(3 * KIB).await.unwrap();
        assert_eq!(first.bytes(), 11 * 1024, "room only grows");
        assert_eq!(budget.free_bytes(), 53 * 1024);
        drop(first);
        assert_eq!(budget.free_bytes(), 64 * 1024);
        let mut unbounded = Reservation::unbounded();
        unbounded.grow_to(usize::MAX).await.unwrap();
        assert_eq!(unbounded.bytes(), 0);
    }

    #[tokio::test]
    async fn a_body_bigger_than_the_budget_takes_all_of_it() {
        let budget = budget(8, 10);
        let mut huge = budget.reservation();
        huge.grow_to(1 << 30).await.unwrap();
        assert_eq!(huge.bytes(), 8 * 1024);
        assert_eq!(budget.free_bytes(), 0);
    }

    #[tokio::test]
    async fn a_body_waits_for_room_and_gets_it_when_another_is_done() {
        let budget = budget(8, 5_000);
        let mut first = budget.reservation();
        first.grow_to(6 * KIB).await.unwrap();
        let mut second = budget.reservation();
        let waiting =
            tokio::spawn(async move { second.grow_to(4 * KIB).await.map(|()| second.bytes()) });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "no room yet");
        drop(first);
        assert_eq!(waiting.await.unwrap().unwrap(), 4 * 1024);
    }

    #[tokio::test]
    async fn without_room_in_time_the_answer_is_503_with_retry_after() {
        let budget = budget(8, 20);
        let mut first = budget.reservation();
        first.grow_to(8 * KIB).await.unwrap();
        let refused = budget.reservation().grow_to(1).await.unwrap_err();
        assert_eq!(refused.status, 503);
        assert!(
            refused
                .headers
                .iter()
                .any(|(name, _)| *name == "Retry-After")
        );
        assert_eq!(budget.free_bytes(), 0, "the first body keeps its room");
    }

    /// Two bodies of unknown length that each hold half and want more do not wait for
    /// each other forever: the one that cannot grow gives its room back and waits in
    /// line, so the other grows and finishes.
    #[tokio::test]
    async fn growing_bodies_never_deadlock() {
        let budget = budget(8, 5_000);
        let (mut a, mut b) = (budget.reservation(), budget.reservation());
        a.grow_to(4 * KIB).await.unwrap();
        b.grow_to(4 * KIB).await.unwrap();
        // b grows, is done and gives its room back.
        let growing_b = tokio::spawn(async move { b.grow_to(6 * KIB).await.map(|()| b.bytes()) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        a.grow_to(6 * KIB).await.unwrap();
        assert_eq!(a.bytes(), 6 * 1024);
        assert_eq!(growing_b.await.unwrap().unwrap(), 6 * 1024);
    }
}

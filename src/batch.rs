//! Coalescing of concurrent database work: requests that need the same kind of query
//! or insert at the same moment share one round trip (and, for writes, one commit).
//!
//! Under load a request's database round trip costs more than the query itself: two
//! system calls on each side, a wake-up of the backend and of the waiting task, and
//! PostgreSQL's per-statement work. So each kind of work has a [`Batcher`]: a request
//! hands in its item and waits for its answer; up to `max_in_flight` batches run at a
//! time, and whatever arrives while they all run is queued and goes into the next
//! batch, up to `max_batch` items. A lone request does not wait for company: when a
//! slot is free its batch starts at once, alone.
//!
//! There is no long-lived task: the request that finds a free slot spawns the batch's
//! task on its own runtime, which takes the queue and keeps draining it while there is
//! something to drain.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

type Run<Req, Resp> =
    dyn Fn(Vec<Req>) -> Pin<Box<dyn Future<Output = Vec<Resp>> + Send>> + Send + Sync;

/// Runs items of work in batches; see the module documentation.
pub struct Batcher<Req, Resp> {
    shared: Arc<Shared<Req, Resp>>,
}

impl<Req, Resp> Clone for Batcher<Req, Resp> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

struct Shared<Req, Resp> {
    run: Box<Run<Req, Resp>>,
    max_batch: usize,
    max_in_flight: usize,
    state: Mutex<Queue<Req, Resp>>,
}

struct Queue<Req, Resp> {
    waiting: VecDeque<(Req, oneshot::Sender<Resp>)>,
    in_flight: usize,
}

/// The batch's task ended without answering (it panicked, or its runtime shut down).
#[derive(Debug, thiserror::Error)]
#[error("the batch this request was part of did not finish")]
pub struct Unanswered;

impl<Req, Resp> Batcher<Req, Resp>
where
    Req: Send + 'static,
    Resp: Send + 'static,
{
    /// `run` answers a batch: one answer per item, in the items' order. An item left
    /// without an answer (a shorter vector) gets [`Unanswered`].
    pub fn new<F, Fut>(max_batch: usize, max_in_flight: usize, run: F) -> Self
    where
        F: Fn(Vec<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<Resp>> + Send + 'static,
    {
        Self {
            shared: Arc::new(Shared {
                run: Box::new(move |items| Box::pin(run(items))),
                max_batch: max_batch.max(1),
                max_in_flight: max_in_flight.max(1),
                state: Mutex::new(Queue {
                    waiting: VecDeque::new(),
                    in_flight: 0,
                }),
            }),
        }
    }

    /// Runs `item` in the next batch and answers its part of the result.
    pub async fn submit(&self, item: Req) -> Result<Resp, Unanswered> {
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut queue = self.shared.lock();
            queue.waiting.push_back((item, answer));
            let start = queue.in_flight < self.shared.max_in_flight;
            if start {
                queue.in_flight += 1;
            }
            start
        };
        if start {
            tokio::spawn(drain(self.shared.clone()));
        }
        answered.await.map_err(|_| Unanswered)
    }
}

impl<Req, R, E> Batcher<Req, Result<R, E>>
where
    Req: Send + 'static,
    R: Send + 'static,
    E: From<Unanswered> + Send + 'static,
{
    /// [`submit`](Self::submit) for work answered with results: one error either way,
    /// of the work's own type (a database error stays one, so that callers can tell an
    /// unreachable database from a failed statement).
    pub async fn ask(&self, item: Req) -> Result<R, E> {
        self.submit(item).await.map_err(E::from)?
    }
}

impl From<Unanswered> for sea_orm::DbErr {
    fn from(e: Unanswered) -> Self {
        sea_orm::DbErr::Custom(e.to_string())
    }
}

/// The answers of a batch that one query serves: each item's part of the query's
/// result or, when the query failed, its error for every item.
pub fn answer_each<Req, T, R, E: Clone>(
    items: &[Req],
    result: Result<T, E>,
    part: impl Fn(&Req, &T) -> R,
) -> Vec<Result<R, E>> {
    match result {
        Ok(all) => items.iter().map(|item| Ok(part(item, &all))).collect(),
        Err(e) => items.iter().map(|_| Err(e.clone())).collect(),
    }
}

impl<Req, Resp> Shared<Req, Resp> {
    /// The queue. A panic while it was held cannot leave it half-changed (every change
    /// is one push, pop or count), so a poisoned lock is taken as it is.
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue<Req, Resp>> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Gives the slot back if the draining task ends early (a panic in `run`); a normal
/// end gives it back under the same lock that saw the queue empty, so an item queued
/// meanwhile always finds either a running task or a free slot.
struct Slot<'a, Req, Resp> {
    shared: &'a Shared<Req, Resp>,
    held: bool,
}

impl<Req, Resp> Drop for Slot<'_, Req, Resp> {
    fn drop(&mut self) {
        if self.held {
            self.shared.lock().in_flight -= 1;
        }
    }
}

async fn drain<Req, Resp>(shared: Arc<Shared<Req, Resp>>) {
    let mut slot = Slot {
        shared: &shared,
        held: true,
    };
    loop {
        let (items, answers): (Vec<Req>, Vec<oneshot::Sender<Resp>>) = {
            let mut queue = shared.lock();
            if queue.waiting.is_empty() {
                queue.in_flight -= 1;
                slot.held = false;
                return;
            }
            let n = queue.waiting.len().min(shared.max_batch);
            queue.waiting.drain(..n).unzip()
        };
        let results = (shared.run)(items).await;
        for (answer, result) in answers.into_iter().zip(results) {
            // The request may have gone away (its client hung up); its work is done.
            let _ = answer.send(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_items_share_batches_and_each_gets_its_own_answer() {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let seen = batches.clone();
        let batcher = Batcher::new(8, 1, move |items: Vec<u32>| {
            seen.lock().unwrap().push(items.len());
            async move {
                tokio::task::yield_now().await;
                items.into_iter().map(|i| i * 10).collect::<Vec<_>>()
            }
        });
        let answers = futures_util::future::join_all((0..20).map(|i| batcher.submit(i))).await;
        let answers: Vec<u32> = answers.into_iter().map(Result::unwrap).collect();
        assert_eq!(answers, (0..20).map(|i| i * 10).collect::<Vec<_>>());
        let batches = batches.lock().unwrap().clone();
        assert_eq!(batches.iter().sum::<usize>(), 20);
        assert!(batches.iter().all(|&n| n <= 8), "{batches:?}");
        assert!(batches.len() < 20, "nothing was batched: {batches:?}");
    }

    #[tokio::test]
    async fn a_lone_item_runs_at_once_and_slots_are_given_back() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let batcher = Batcher::new(8, 2, move |items: Vec<u32>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move { items }
        });
        for i in 0..5 {
            assert_eq!(batcher.submit(i).await.unwrap(), i);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 5);
        assert_eq!(batcher.shared.lock().in_flight, 0);
    }

    #[tokio::test]
    async fn a_batch_that_panics_or_answers_short_leaves_its_items_unanswered() {
        let batcher = Batcher::new(8, 1, |items: Vec<u32>| async move {
            assert!(items[0] != 0, "boom");
            Vec::<u32>::new()
        });
        assert!(batcher.submit(0).await.is_err());
        assert!(batcher.submit(1).await.is_err());
        // The panicking batch gave its slot back: later work still runs.
        assert_eq!(batcher.shared.lock().in_flight, 0);
    }
}

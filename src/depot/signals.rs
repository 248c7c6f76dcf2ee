//! Waking the receivers that wait (`GET /depot/messages?wait=`) when a message lands in
//! one of their boxes, instead of having each of them query the database every few
//! hundred milliseconds: an idle waiter costs no query at all.
//!
//! Within an instance, the store tells [`BoxSignals`] of every commit (the boxes it
//! wrote to), and every waiter of one of those boxes looks again. Across instances on
//! PostgreSQL, the statement that stores messages also announces their boxes with
//! `pg_notify('depot_box', …)` ([`BoxSignals::announcement`]): PostgreSQL delivers it
//! when, and only when, that statement commits, so no commit goes unannounced, even
//! when its instance stops right after. Each instance `LISTEN`s on a connection of its
//! own and passes the other instances' announcements on to its waiters. When the
//! listening connection is lost and made again, every waiter looks again (what was
//! announced meanwhile is gone). Boxes are named in signals by a keyed
//! tag (HMAC under the master key, the same on every instance), never by the SSIN or
//! CBE they hold: a `NOTIFY` payload can end up in PostgreSQL's log.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::sync::broadcast;

use crate::crypto::MasterKey;

/// The PostgreSQL channel of the announcements.
pub const CHANNEL: &str = "depot_box";
/// A `NOTIFY` payload must stay under 8000 bytes; past this, "look, all of you".
const MAX_PAYLOAD: usize = 7_000;
/// What a payload names instead of boxes when it names them all.
const ANY: &str = "*";
/// Commits told to the waiters that have not looked yet; a waiter further behind
/// looks again (it lagged), so the bound costs a query, never a lost wake-up.
const BACKLOG: usize = 1_024;

#[derive(Debug, Clone)]
enum Signal {
    /// These boxes (by tag) received something.
    Boxes(Arc<[String]>),
    /// Anything may have changed: every waiter looks.
    Any,
}

#[derive(Clone)]
pub struct BoxSignals {
    sender: broadcast::Sender<Signal>,
    master: Arc<MasterKey>,
    /// This instance, so that it ignores its own announcements.
    instance: Arc<str>,
    /// Whether commits are announced to other instances (PostgreSQL).
    announces: bool,
}

impl BoxSignals {
    /// Signals within this process and, on PostgreSQL, announced to the others.
    pub fn new(db: &DatabaseConnection, master: Arc<MasterKey>) -> Self {
        let (sender, _) = broadcast::channel(BACKLOG);
        Self {
            sender,
            master,
            instance: uuid::Uuid::new_v4().simple().to_string().into(),
            announces: db.get_database_backend() == DbBackend::Postgres,
        }
    }

    /// The keyed tag of a box (16 hex digits).
    fn tag(&self, box_key: &str) -> String {
        let mac = self.master.pseudonym("box-signal", box_key.as_bytes());
        mac.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// The tags of these boxes, as [`BoxSignals::announcement`] and
    /// [`BoxSignals::committed`] take them.
    pub fn tags<'a>(&self, box_keys: impl IntoIterator<Item = &'a str>) -> Arc<[String]> {
        box_keys.into_iter().map(|k| self.tag(k)).collect()
    }

    /// The `NOTIFY` payload that tells the other instances of a commit to the boxes of
    /// these tags, for the committing statement to send ([`CHANNEL`]); `None` where
    /// there are no other instances (SQLite).
    pub fn announcement<'a>(&self, tags: impl IntoIterator<Item = &'a String>) -> Option<String> {
        self.announces
            .then(|| payload(&self.instance, &tags.into_iter().collect()))
    }

    /// Something was committed to the boxes of these tags: their waiters here look
    /// again now (those of the other instances, when the commit's announcement reaches
    /// them).
    pub fn committed(&self, tags: Arc<[String]>) {
        let _ = self.sender.send(Signal::Boxes(tags));
    }

    /// A waiter for these boxes. Subscribe before looking, so that a commit between
    /// the look and the wait is not missed.
    pub fn waiter<'a>(&self, box_keys: impl IntoIterator<Item = &'a str>) -> Waiter {
        let tags: HashSet<String> = box_keys.into_iter().map(|k| self.tag(k)).collect();
        Waiter {
            receiver: self.sender.subscribe(),
            tags,
        }
    }

    /// Passes the other instances' announcements on to this instance's waiters, until
    /// the process ends: on PostgreSQL only (SQLite is one instance).
    pub fn spawn_listener(&self, db: &DatabaseConnection) -> Option<tokio::task::JoinHandle<()>> {
        if db.get_database_backend() != DbBackend::Postgres {
            return None;
        }
        let pool = db.get_postgres_connection_pool().clone();
        let signals = self.clone();
        Some(tokio::spawn(async move {
            loop {
                match PgListener::connect_with(&pool).await {
                    Ok(mut listener) => {
                        if let Err(e) = listener.listen(CHANNEL).await {
                            tracing::warn!(error = %e, "LISTEN depot_box failed; retrying");
                        } else {
                            signals.listen(&mut listener).await;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "no connection to LISTEN on; retrying");
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }))
    }

    /// Until the listener fails: every (re)connection makes every waiter look, since
    /// what was announced while it was away is lost.
    async fn listen(&self, listener: &mut PgListener) {
        let _ = self.sender.send(Signal::Any);
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    if let Some(signal) = read_payload(&self.instance, notification.payload()) {
                        let _ = self.sender.send(signal);
                    }
                }
                // The connection was lost; the next call makes a new one.
                Ok(None) => {
                    let _ = self.sender.send(Signal::Any);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "listening for other instances' commits failed; reconnecting");
                    let _ = self.sender.send(Signal::Any);
                    return;
                }
            }
        }
    }
}

/// One waiting request's subscription.
pub struct Waiter {
    receiver: broadcast::Receiver<Signal>,
    tags: HashSet<String>,
}

impl Waiter {
    /// Returns when something may have arrived in one of the waiter's boxes.
    pub async fn changed(&mut self) {
        loop {
            match self.receiver.recv().await {
                Ok(Signal::Boxes(tags)) if !tags.iter().any(|t| self.tags.contains(t)) => {}
                Ok(Signal::Boxes(_) | Signal::Any)
                | Err(broadcast::error::RecvError::Lagged(_)) => {
                    return;
                }
                // Only when the store is gone, i.e. the process is ending.
                Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
            }
        }
    }
}

/// `instance`, then the tags, one a line (or `*` when they would not fit).
fn payload(instance: &str, tags: &HashSet<&String>) -> String {
    let mut text = format!("{instance}\n");
    let length: usize = tags.iter().map(|t| t.len() + 1).sum();
    if text.len() + length > MAX_PAYLOAD {
        text.push_str(ANY);
        return text;
    }
    let mut tags: Vec<&String> = tags.iter().copied().collect();
    tags.sort();
    for (i, tag) in tags.iter().enumerate() {
        if i > 0 {
            text.push('\n');
        }
        text.push_str(tag);
    }
    text
}

/// The signal of another instance's announcement; `None` for this instance's own.
fn read_payload(instance: &str, payload: &str) -> Option<Signal> {
    let (from, rest) = payload.split_once('\n').unwrap_or((payload, ANY));
    if from == instance {
        return None;
    }
    if rest == ANY {
        return Some(Signal::Any);
    }
    Some(Signal::Boxes(rest.lines().map(str::to_owned).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiter_wakes_for_its_own_boxes_only() {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        let master = Arc::new(MasterKey::from_bytes([7; 32]).unwrap());
        let signals = BoxSignals::new(&db, master);
        let mut waiter = signals.waiter(["ssin:85073003328"]);
        signals.committed(signals.tags(["ssin:85073003427", "cbe:0312345678"]));
        let quiet = tokio::time::timeout(Duration::from_millis(100), waiter.changed()).await;
        assert!(quiet.is_err(), "woken by other boxes");
        signals.committed(signals.tags(["cbe:0312345678", "ssin:85073003328"]));
        tokio::time::timeout(Duration::from_secs(5), waiter.changed())
            .await
            .expect("woken by its box");
        // A waiter that fell behind looks again rather than miss a commit.
        let mut behind = signals.waiter(["ssin:85073003328"]);
        for _ in 0..=BACKLOG {
            signals.committed(signals.tags(["cbe:0312345678"]));
        }
        tokio::time::timeout(Duration::from_secs(5), behind.changed())
            .await
            .expect("a lagging waiter looks again");
        // Tags name no box in clear, and are the same for the same key.
        let tag = signals.tag("ssin:85073003328");
        assert_eq!(tag.len(), 16);
        assert!(!tag.contains("85073003328"));
        assert_eq!(signals.tag("ssin:85073003328"), tag);
    }

    #[test]
    fn payloads_name_their_instance_and_tags_or_everything() {
        let (a, b) = ("a".to_owned(), "b".to_owned());
        let text = payload("me", &[&b, &a].into());
        assert_eq!(text, "me\na\nb");
        assert!(read_payload("me", &text).is_none(), "our own");
        match read_payload("other", &text) {
            Some(Signal::Boxes(tags)) => assert_eq!(&*tags, ["a", "b"]),
            other => panic!("{other:?}"),
        }
        let many: Vec<String> = (0..1_000).map(|i| format!("{i:016x}")).collect();
        let text = payload("me", &many.iter().collect());
        assert!(text.len() < 8_000);
        assert!(matches!(read_payload("other", &text), Some(Signal::Any)));
        assert!(matches!(
            read_payload("other", "garbage"),
            Some(Signal::Any)
        ));
    }
}

//! Storing an accepted message: the message, a box entry per recipient and one for
//! the sender, an outbox row per recipient, the idempotency record and the recipients'
//! box totals, all at once; and the [`Store`] through which concurrent requests share
//! their round trips.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use entity::{box_entry, idempotency_record, message};
use queues::MessageReceived;
use sea_orm::sea_query::{Alias, CommonTableExpression, Func, InsertStatement, Query, WithClause};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait, QueryTrait, Set,
    SqlErr, TransactionTrait,
};
use serde_json::Value;

use super::{
    BoxUsage, INBOX, IdempotencyRow, MessageRow, SENT, box_usage, next_stripe, usage_statement,
};
use crate::batch::{Batcher, answer_each};
use crate::depot::signals::{self, BoxSignals};

/// A recipient's box entry to create.
#[derive(Clone)]
pub struct Delivery {
    pub box_key: String,
    pub recipient: Value,
    /// For a substitute: the absent recipient it stands in for.
    pub substitute_for: Option<Value>,
    pub notification: MessageReceived,
}

#[derive(Clone)]
pub struct NewMessage {
    pub row: MessageRow,
    pub sent_box: String,
    pub deliveries: Vec<Delivery>,
    pub idempotency: Option<IdempotencyRow>,
}

#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    /// Another request with the same idempotency key committed first.
    #[error("the idempotency key was used meanwhile")]
    IdempotencyRace,
    #[error(transparent)]
    Db(#[from] DbErr),
}

fn entry(
    message: &MessageRow,
    box_key: &str,
    folder: &str,
    recipient: Option<Value>,
    substitute_for: Option<Value>,
    shared: bool,
) -> box_entry::ActiveModel {
    box_entry::ActiveModel {
        message_id: Set(message.id.clone()),
        box_key: Set(box_key.to_owned()),
        folder: Set(folder.to_owned()),
        application: Set(message.application.clone()),
        recipient: Set(recipient),
        size: Set(message.size),
        received_at: Set(message.received_at),
        fetched_at: Set(None),
        read_at: Set(None),
        deleted_at: Set(None),
        shared: Set(shared),
        substitute_for: Set(substitute_for),
        ..Default::default()
    }
}

/// Messages up to this size share statements with others (see [`Store`]); a bigger
/// one is stored alone, where its bytes, not the round trip, are the cost.
const SHARED_MESSAGE_MAX: i64 = 256 * 1024;
/// At most this many messages in one statement.
const MAX_BATCH: usize = 32;
/// At most this many of those statements running at a time.
const MAX_IN_FLIGHT: usize = 4;

/// The accept pipeline's work on the database, shared by the requests that need it at
/// the same moment (`crate::batch`): box totals are read in one query for them all, and
/// their messages stored in one statement, with one commit. When such a statement
/// fails, each of its messages is stored again on its own, so that one message's error
/// (an idempotency race) is that message's alone.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// Told of every commit, so that the receivers waiting on its boxes look again.
    signals: BoxSignals,
    writes: Batcher<Tagged, Result<(), InsertError>>,
    totals: Batcher<Vec<String>, Result<HashMap<String, BoxUsage>, DbErr>>,
}

impl Store {
    pub fn new(db: DatabaseConnection, signals: BoxSignals) -> Self {
        let (writing, reading) = (db.clone(), db.clone());
        let announcing = signals.clone();
        Self {
            db,
            signals,
            writes: Batcher::new(MAX_BATCH, MAX_IN_FLIGHT, move |batch| {
                insert_together(writing.clone(), announcing.clone(), batch)
            }),
            totals: Batcher::new(64, 2, move |wanted: Vec<Vec<String>>| {
                let db = reading.clone();
                async move {
                    let all: Vec<String> = wanted.iter().flatten().cloned().collect();
                    let usage = box_usage(&db, &all).await;
                    answer_each(&wanted, usage, |keys, usage| {
                        keys.iter()
                            .filter_map(|k| Some((k.clone(), *usage.get(k)?)))
                            .collect()
                    })
                }
            }),
        }
    }

    /// The answer first given to this (scope, key), while it is kept.
    pub async fn idempotent_answer(
        &self,
        scope: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<IdempotencyRow>, DbErr> {
        super::idempotent_answer(&self.db, scope, key, now).await
    }

    /// What each of these boxes holds now.
    pub async fn box_usage(
        &self,
        box_keys: Vec<String>,
    ) -> Result<HashMap<String, BoxUsage>, DbErr> {
        self.totals.ask(box_keys).await
    }

    /// Stores the message with everything that goes with it, or nothing; once it is
    /// committed, the receivers waiting on its boxes (and the sender's) look again.
    pub async fn insert(&self, new: NewMessage) -> Result<(), InsertError> {
        let boxes = new.deliveries.iter().map(|d| d.box_key.as_str());
        let tags = self.signals.tags(boxes.chain([new.sent_box.as_str()]));
        let tagged = Tagged {
            new,
            tags: Arc::clone(&tags),
        };
        let stored = if tagged.new.row.size > SHARED_MESSAGE_MAX {
            insert(&self.db, &self.signals, vec![tagged]).await
        } else {
            self.writes
                .submit(tagged)
                .await
                .unwrap_or_else(|e| Err(InsertError::Db(DbErr::Custom(e.to_string()))))
        };
        if stored.is_ok() {
            self.signals.committed(tags);
        }
        stored
    }

    /// The commit signals, for the receivers that wait.
    pub fn signals(&self) -> &BoxSignals {
        &self.signals
    }
}

/// A message to store, with the signal tags of its boxes.
#[derive(Clone)]
struct Tagged {
    new: NewMessage,
    tags: Arc<[String]>,
}

async fn insert_together(
    db: DatabaseConnection,
    signals: BoxSignals,
    batch: Vec<Tagged>,
) -> Vec<Result<(), InsertError>> {
    if batch.len() == 1 {
        return vec![insert(&db, &signals, batch).await];
    }
    match insert(&db, &signals, batch.clone()).await {
        Ok(()) => batch.iter().map(|_| Ok(())).collect(),
        Err(e) => {
            tracing::debug!(error = %e, messages = batch.len(), "a shared insert failed: one by one");
            let mut results = Vec::with_capacity(batch.len());
            for new in batch {
                results.push(insert(&db, &signals, vec![new]).await);
            }
            results
        }
    }
}

/// Stores messages with everything that goes with them, or nothing. On PostgreSQL it
/// is one statement, each insert a common table expression of it: atomic by itself,
/// and one round trip to the database instead of six (begin, four inserts, commit),
/// which was most of what an accepted message cost in system calls. The statement's
/// own result is the announcement of its boxes to the other instances
/// (`pg_notify`), which PostgreSQL delivers with its commit and never without. On
/// SQLite, one transaction.
async fn insert(
    db: &DatabaseConnection,
    signals: &BoxSignals,
    messages: Vec<Tagged>,
) -> Result<(), InsertError> {
    let idempotent = messages.iter().any(|m| m.new.idempotency.is_some());
    let announcement = signals.announcement(messages.iter().flat_map(|m| m.tags.iter()));
    let (steps_before, entries) = insert_statements(messages.into_iter().map(|m| m.new).collect())?;
    let stored = match (db.get_database_backend(), announcement) {
        (DatabaseBackend::Postgres, Some(announcement)) => {
            let mut steps = WithClause::new();
            for (i, statement) in steps_before.into_iter().chain([entries]).enumerate() {
                steps.cte(
                    CommonTableExpression::new()
                        .query(statement)
                        .table_name(Alias::new(format!("step{i}")))
                        .to_owned(),
                );
            }
            let announce = Query::select()
                .expr(
                    Func::cust("pg_notify")
                        .arg(signals::CHANNEL)
                        .arg(announcement),
                )
                .to_owned();
            db.execute(&announce.with(steps)).await.map(drop)
        }
        _ => {
            let mut statements = steps_before;
            statements.push(entries);
            in_transaction(db, &statements).await
        }
    };
    stored.map_err(|e| match e.sql_err() {
        // Another request with the same idempotency key committed first.
        Some(SqlErr::UniqueConstraintViolation(_)) if idempotent => InsertError::IdempotencyRace,
        _ => e.into(),
    })
}

/// The inserts that store accepted messages: the messages, their idempotency records,
/// their notifications and their recipients' box totals; then their box entries.
fn insert_statements(
    messages: Vec<NewMessage>,
) -> Result<(Vec<InsertStatement>, InsertStatement), DbErr> {
    let mut notifications = Vec::new();
    let mut entries = Vec::new();
    // One change per box: a statement may not update a row twice.
    let mut usage: Vec<(&str, BoxUsage)> = Vec::new();
    for new in &messages {
        let message = &new.row;
        entries.push(entry(message, &new.sent_box, SENT, None, None, false));
        // A message in more than one inbox: a reader of two of them counts it once.
        let shared = new
            .deliveries
            .iter()
            .any(|d| d.box_key != new.deliveries[0].box_key);
        let added = BoxUsage {
            bytes: message.size,
            messages: 1,
            unread: 1,
        };
        for delivery in &new.deliveries {
            notifications.push(delivery.notification.clone());
            entries.push(entry(
                message,
                &delivery.box_key,
                INBOX,
                Some(delivery.recipient.clone()),
                delivery.substitute_for.clone(),
                shared,
            ));
            match usage.iter_mut().find(|u| u.0 == delivery.box_key) {
                Some((_, total)) => total.add(added),
                None => usage.push((&delivery.box_key, added)),
            }
        }
    }
    let latest = messages.iter().map(|m| m.row.received_at).max();
    let outbox = match latest {
        Some(at) => queues::outbox::enqueue_statement(&notifications, at)?,
        None => None,
    };
    let usage = usage_statement(next_stripe(), &usage);
    let entries = box_entry::Entity::insert_many(entries).into_query();
    // Built last so that the rows move into their statement instead of being copied:
    // `sealed` can be megabytes. It still runs first.
    let mut rows = Vec::with_capacity(messages.len());
    let mut records = Vec::new();
    for new in messages {
        rows.push(message::ActiveModel::from(new.row));
        records.extend(new.idempotency.map(idempotency_record::ActiveModel::from));
    }
    let mut statements = vec![message::Entity::insert_many(rows).into_query()];
    if !records.is_empty() {
        statements.push(idempotency_record::Entity::insert_many(records).into_query());
    }
    statements.extend(outbox);
    statements.extend(usage);
    Ok((statements, entries))
}

async fn in_transaction(
    db: &DatabaseConnection,
    statements: &[InsertStatement],
) -> Result<(), DbErr> {
    let tx = db.begin().await?;
    for statement in statements {
        tx.execute(statement).await?;
    }
    tx.commit().await
}

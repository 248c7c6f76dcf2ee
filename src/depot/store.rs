//! Storage of the depot. The only depot code that sees sea-orm.
//!
//! An accepted message is stored all at once (one statement on PostgreSQL, one
//! transaction on SQLite): the message, a box entry per recipient and one for the
//! sender, an outbox row per recipient, the idempotency record, and the recipients' box
//! totals. These run side by side; the `listing` module says how a box is still
//! listed in an order no late commit can break.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Duration, Utc};
use entity::{box_entry, box_usage, idempotency_record, message};
use queues::MessageReceived;
use sea_orm::sea_query::{
    Alias, CommonTableExpression, Expr, ExprTrait, InsertStatement, OnConflict, WithClause,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set, SqlErr, Statement, TransactionTrait,
};
use serde_json::Value;

use crate::batch::Batcher;

pub use entity::box_entry::Model as EntryRow;
pub use entity::idempotency_record::Model as IdempotencyRow;
pub use entity::message::Model as MessageRow;

mod listing;

pub use listing::{Cursor, Listing, entries, held_back, listable_below};

pub const INBOX: &str = "inbox";
pub const SENT: &str = "sent";

/// How many rows a box's running totals are spread over.
const USAGE_STRIPES: u32 = 16;

/// The stripe the next message adds to (each process goes round them).
fn next_stripe() -> i32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    (NEXT.fetch_add(1, Ordering::Relaxed) % USAGE_STRIPES) as i32
}

/// A recipient's box entry to create.
#[derive(Clone)]
pub struct Delivery {
    pub box_key: String,
    pub recipient: Value,
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
        ..Default::default()
    }
}

/// Messages up to this size share statements with others (see [`Writer`]); a bigger
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
    writes: Batcher<NewMessage, Result<(), InsertError>>,
    totals: Batcher<Vec<String>, Result<HashMap<String, i64>, String>>,
}

impl Store {
    pub fn new(db: DatabaseConnection) -> Self {
        let (writing, reading) = (db.clone(), db.clone());
        Self {
            db,
            writes: Batcher::new(MAX_BATCH, MAX_IN_FLIGHT, move |batch| {
                insert_together(writing.clone(), batch)
            }),
            totals: Batcher::new(64, 2, move |wanted: Vec<Vec<String>>| {
                let db = reading.clone();
                async move {
                    let all: Vec<String> = wanted.iter().flatten().cloned().collect();
                    match box_bytes(&db, &all).await {
                        Ok(bytes) => wanted
                            .iter()
                            .map(|keys| {
                                Ok(keys
                                    .iter()
                                    .filter_map(|k| Some((k.clone(), *bytes.get(k)?)))
                                    .collect())
                            })
                            .collect(),
                        Err(e) => wanted.iter().map(|_| Err(e.to_string())).collect(),
                    }
                }
            }),
        }
    }

    /// The bytes each of these boxes holds now.
    pub async fn box_bytes(&self, box_keys: Vec<String>) -> Result<HashMap<String, i64>, DbErr> {
        self.totals
            .submit(box_keys)
            .await
            .map_err(|e| DbErr::Custom(e.to_string()))?
            .map_err(DbErr::Custom)
    }

    /// Stores the message with everything that goes with it, or nothing.
    pub async fn insert(&self, new: NewMessage) -> Result<(), InsertError> {
        if new.row.size > SHARED_MESSAGE_MAX {
            return insert(&self.db, vec![new]).await;
        }
        self.writes
            .submit(new)
            .await
            .unwrap_or_else(|e| Err(InsertError::Db(DbErr::Custom(e.to_string()))))
    }
}

async fn insert_together(
    db: DatabaseConnection,
    batch: Vec<NewMessage>,
) -> Vec<Result<(), InsertError>> {
    if batch.len() == 1 {
        return vec![insert(&db, batch).await];
    }
    match insert(&db, batch.clone()).await {
        Ok(()) => batch.iter().map(|_| Ok(())).collect(),
        Err(e) => {
            tracing::debug!(error = %e, messages = batch.len(), "a shared insert failed: one by one");
            let mut results = Vec::with_capacity(batch.len());
            for new in batch {
                results.push(insert(&db, vec![new]).await);
            }
            results
        }
    }
}

/// Stores messages with everything that goes with them, or nothing. On PostgreSQL it
/// is one statement, each insert a common table expression of it: atomic by itself,
/// and one round trip to the database instead of six (begin, four inserts, commit),
/// which was most of what an accepted message cost in system calls. On SQLite, one
/// transaction.
async fn insert(db: &DatabaseConnection, messages: Vec<NewMessage>) -> Result<(), InsertError> {
    let idempotent = messages.iter().any(|m| m.idempotency.is_some());
    let (steps_before, entries) = insert_statements(messages)?;
    let stored = match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            let mut steps = WithClause::new();
            for (i, statement) in steps_before.into_iter().enumerate() {
                steps.cte(
                    CommonTableExpression::new()
                        .query(statement)
                        .table_name(Alias::new(format!("step{i}")))
                        .to_owned(),
                );
            }
            db.execute(&entries.with(steps)).await.map(drop)
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
    let mut usage: Vec<(&str, i64, i64)> = Vec::new();
    for new in &messages {
        let message = &new.row;
        entries.push(entry(message, &new.sent_box, SENT, None));
        for delivery in &new.deliveries {
            notifications.push(delivery.notification.clone());
            entries.push(entry(
                message,
                &delivery.box_key,
                INBOX,
                Some(delivery.recipient.clone()),
            ));
            match usage.iter_mut().find(|u| u.0 == delivery.box_key) {
                Some(u) => {
                    u.1 += message.size;
                    u.2 += 1;
                }
                None => usage.push((&delivery.box_key, message.size, 1)),
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

pub async fn idempotent_answer(
    db: &impl ConnectionTrait,
    scope: &str,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<IdempotencyRow>, DbErr> {
    idempotency_record::Entity::find_by_id((scope.to_owned(), key.to_owned()))
        .filter(idempotency_record::Column::ExpiresAt.gt(now))
        .one(db)
        .await
}

/// The bytes each of these boxes holds now (the sums of their running totals).
async fn box_bytes(
    db: &impl ConnectionTrait,
    box_keys: &[String],
) -> Result<HashMap<String, i64>, DbErr> {
    let mut bytes = HashMap::new();
    for stripe in box_usage::Entity::find()
        .filter(box_usage::Column::BoxKey.is_in(box_keys.iter().map(String::as_str)))
        .all(db)
        .await?
    {
        *bytes.entry(stripe.box_key).or_default() += stripe.bytes;
    }
    Ok(bytes)
}

/// Adds to (or, with negative amounts, takes from) one stripe of boxes' running
/// totals, in one statement; each box at most once.
async fn count_in_boxes(
    db: &impl ConnectionTrait,
    stripe: i32,
    changes: &[(&str, i64, i64)],
) -> Result<(), DbErr> {
    if let Some(statement) = usage_statement(stripe, changes) {
        db.execute(&statement).await?;
    }
    Ok(())
}

/// The statement of `count_in_boxes` (none for no change).
fn usage_statement(stripe: i32, changes: &[(&str, i64, i64)]) -> Option<InsertStatement> {
    use box_usage::Column as C;
    if changes.is_empty() {
        return None;
    }
    let rows = changes
        .iter()
        .map(|(box_key, bytes, messages)| box_usage::ActiveModel {
            box_key: Set((*box_key).to_owned()),
            stripe: Set(stripe),
            bytes: Set(*bytes),
            messages: Set(*messages),
        });
    let excluded = |c: C| Expr::col((Alias::new("excluded"), c));
    Some(
        box_usage::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([C::BoxKey, C::Stripe])
                    .value(
                        C::Bytes,
                        Expr::col((box_usage::Entity, C::Bytes)).add(excluded(C::Bytes)),
                    )
                    .value(
                        C::Messages,
                        Expr::col((box_usage::Entity, C::Messages)).add(excluded(C::Messages)),
                    )
                    .to_owned(),
            )
            .into_query(),
    )
}

/// Takes live inbox entries out of their boxes' totals (they are being deleted).
async fn uncount(db: &impl ConnectionTrait, entries: &[EntryRow]) -> Result<(), DbErr> {
    let mut totals: HashMap<&str, (i64, i64)> = HashMap::new();
    for e in entries
        .iter()
        .filter(|e| e.folder == INBOX && e.deleted_at.is_none())
    {
        let t = totals.entry(e.box_key.as_str()).or_default();
        t.0 += e.size;
        t.1 += 1;
    }
    let changes: Vec<(&str, i64, i64)> = totals
        .into_iter()
        .map(|(box_key, (bytes, messages))| (box_key, -bytes, -messages))
        .collect();
    count_in_boxes(db, next_stripe(), &changes).await?;
    Ok(())
}

/// The messages' rows without their sealed content, for listings.
pub async fn summaries(
    db: &impl ConnectionTrait,
    ids: &[String],
    now: DateTime<Utc>,
) -> Result<HashMap<String, MessageRow>, DbErr> {
    use message::Column as C;
    let rows = message::Entity::find()
        .select_only()
        .columns([
            C::Id,
            C::Application,
            C::SenderOwner,
            C::Sender,
            C::SealedIsJson,
            C::Size,
            C::Recipients,
            C::Metadata,
            C::ReceivedAt,
            C::ExpiresAt,
        ])
        .column_as(Expr::val(""), "sealed")
        .column_as(Expr::val(Vec::<u8>::new()), "timestamp")
        .filter(C::Id.is_in(ids.iter().map(String::as_str)))
        .filter(C::ExpiresAt.gt(now))
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|m| (m.id.clone(), m)).collect())
}

/// Every box entry of these messages (for receipts).
pub async fn entries_of(db: &impl ConnectionTrait, ids: &[String]) -> Result<Vec<EntryRow>, DbErr> {
    box_entry::Entity::find()
        .filter(box_entry::Column::MessageId.is_in(ids.iter().map(String::as_str)))
        .order_by_asc(box_entry::Column::Xid)
        .order_by_asc(box_entry::Column::Seq)
        .all(db)
        .await
}

pub async fn message(
    db: &impl ConnectionTrait,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<MessageRow>, DbErr> {
    message::Entity::find_by_id(id.to_owned())
        .filter(message::Column::ExpiresAt.gt(now))
        .one(db)
        .await
}

/// Records the first fetch by a recipient on its live inbox entries.
pub async fn mark_fetched(
    db: &impl ConnectionTrait,
    seqs: &[i64],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    box_entry::Entity::update_many()
        .col_expr(box_entry::Column::FetchedAt, Expr::value(now))
        .filter(box_entry::Column::Seq.is_in(seqs.iter().copied()))
        .filter(box_entry::Column::FetchedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Records the reading (and, when it was not yet recorded, the fetch).
pub async fn mark_read(
    db: &DatabaseConnection,
    seqs: &[i64],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let tx = db.begin().await?;
    mark_fetched(&tx, seqs, now).await?;
    box_entry::Entity::update_many()
        .col_expr(box_entry::Column::ReadAt, Expr::value(now))
        .filter(box_entry::Column::Seq.is_in(seqs.iter().copied()))
        .filter(box_entry::Column::ReadAt.is_null())
        .exec(&tx)
        .await?;
    tx.commit().await
}

pub async fn remove_entries(
    db: &DatabaseConnection,
    entries: &[EntryRow],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let tx = db.begin().await?;
    // Only the entries this call marks are taken out of the totals, even when two
    // deletions race.
    let mut removed = Vec::new();
    for e in entries {
        let marked = box_entry::Entity::update_many()
            .col_expr(box_entry::Column::DeletedAt, Expr::value(now))
            .filter(box_entry::Column::Seq.eq(e.seq))
            .filter(box_entry::Column::DeletedAt.is_null())
            .exec(&tx)
            .await?
            .rows_affected;
        if marked == 1 {
            removed.push(e.clone());
        }
    }
    uncount(&tx, &removed).await?;
    tx.commit().await
}

/// A box's counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BoxCounts {
    pub messages: i64,
    pub unread: i64,
    pub bytes: i64,
}

pub async fn box_counts(
    db: &impl ConnectionTrait,
    boxes: &[String],
    now: DateTime<Utc>,
) -> Result<BoxCounts, DbErr> {
    let entries = box_entry::Entity::find()
        .filter(box_entry::Column::BoxKey.is_in(boxes.iter().map(String::as_str)))
        .filter(box_entry::Column::Folder.eq(INBOX))
        .filter(box_entry::Column::DeletedAt.is_null())
        .all(db)
        .await?;
    let ids: Vec<String> = entries.iter().map(|e| e.message_id.clone()).collect();
    let live = summaries(db, &ids, now).await?;
    let mut counts = BoxCounts::default();
    let mut seen = std::collections::HashSet::new();
    for e in entries.iter().filter(|e| live.contains_key(&e.message_id)) {
        if seen.insert(&e.message_id) {
            counts.messages += 1;
            counts.bytes += e.size;
            counts.unread += i64::from(e.read_at.is_none());
        }
    }
    Ok(counts)
}

/// Removes expired messages, messages no box holds any more, and idempotency records
/// past their time.
pub async fn purge(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let mut expired = 0;
    loop {
        let tx = db.begin().await?;
        let ids: Vec<String> = message::Entity::find()
            .select_only()
            .column(message::Column::Id)
            .filter(message::Column::ExpiresAt.lte(now))
            .limit(500)
            .into_tuple()
            .all(&tx)
            .await?;
        if ids.is_empty() {
            break;
        }
        uncount(&tx, &entries_of(&tx, &ids).await?).await?;
        expired += message::Entity::delete_many()
            .filter(message::Column::Id.is_in(ids.iter().map(String::as_str)))
            .exec(&tx)
            .await?
            .rows_affected;
        tx.commit().await?;
    }
    let orphans = db
        .execute_raw(Statement::from_string(
            db.get_database_backend(),
            "DELETE FROM message WHERE NOT EXISTS \
             (SELECT 1 FROM box_entry WHERE box_entry.message_id = message.id \
              AND box_entry.deleted_at IS NULL)",
        ))
        .await?
        .rows_affected();
    let records = idempotency_record::Entity::delete_many()
        .filter(idempotency_record::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?
        .rows_affected;
    let sent = queues::outbox::purge_sent(db, now - Duration::days(1)).await?;
    Ok(expired + orphans + records + sent)
}

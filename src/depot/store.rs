//! Storage of the depot. The only depot code that sees sea-orm.
//!
//! An accepted message is stored all at once (one statement on PostgreSQL, one
//! transaction on SQLite), and concurrent ones share statements: the `accepting`
//! module. These commit side by side; the `listing` module says how a box is still
//! listed in an order no late commit can break. This file keeps the rest: box totals,
//! reads, receipts, removal and the purge.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Duration, Utc};
use entity::{box_entry, box_usage, idempotency_record, message};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, InsertStatement, IntoCondition, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set, Statement, TransactionTrait,
};

pub use entity::box_entry::Model as EntryRow;
pub use entity::idempotency_record::Model as IdempotencyRow;
pub use entity::message::Model as MessageRow;

mod accepting;
mod listing;
#[cfg(test)]
mod totals_migration_tests;

pub use accepting::{Delivery, InsertError, NewMessage, Store};
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

/// What a box holds by its running totals (expired messages count until purged), or
/// a change to them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BoxUsage {
    pub bytes: i64,
    pub messages: i64,
    pub unread: i64,
}

impl BoxUsage {
    /// One inbox entry's part.
    fn of(entry: &EntryRow) -> Self {
        Self {
            bytes: entry.size,
            messages: 1,
            unread: i64::from(entry.read_at.is_none()),
        }
    }

    fn add(&mut self, other: Self) {
        self.bytes += other.bytes;
        self.messages += other.messages;
        self.unread += other.unread;
    }

    fn negated(self) -> Self {
        Self {
            bytes: -self.bytes,
            messages: -self.messages,
            unread: -self.unread,
        }
    }
}

/// What each of these boxes holds now (the sums of their running totals).
async fn box_usage(
    db: &impl ConnectionTrait,
    box_keys: &[String],
) -> Result<HashMap<String, BoxUsage>, DbErr> {
    let mut usage: HashMap<String, BoxUsage> = HashMap::new();
    for stripe in box_usage::Entity::find()
        .filter(box_usage::Column::BoxKey.is_in(box_keys.iter().map(String::as_str)))
        .all(db)
        .await?
    {
        usage.entry(stripe.box_key).or_default().add(BoxUsage {
            bytes: stripe.bytes,
            messages: stripe.messages,
            unread: stripe.unread,
        });
    }
    Ok(usage)
}

/// Adds to (or, with negative amounts, takes from) one stripe of boxes' running
/// totals, in one statement; each box at most once.
async fn count_in_boxes(
    db: &impl ConnectionTrait,
    stripe: i32,
    changes: &[(&str, BoxUsage)],
) -> Result<(), DbErr> {
    if let Some(statement) = usage_statement(stripe, changes) {
        db.execute(&statement).await?;
    }
    Ok(())
}

/// The statement of `count_in_boxes` (none for no change).
fn usage_statement(stripe: i32, changes: &[(&str, BoxUsage)]) -> Option<InsertStatement> {
    use box_usage::Column as C;
    if changes.is_empty() {
        return None;
    }
    let rows = changes
        .iter()
        .map(|(box_key, change)| box_usage::ActiveModel {
            box_key: Set((*box_key).to_owned()),
            stripe: Set(stripe),
            bytes: Set(change.bytes),
            messages: Set(change.messages),
            unread: Set(change.unread),
        });
    let sum = |c: C| Expr::col((box_usage::Entity, c)).add(Expr::col((Alias::new("excluded"), c)));
    Some(
        box_usage::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([C::BoxKey, C::Stripe])
                    .value(C::Bytes, sum(C::Bytes))
                    .value(C::Messages, sum(C::Messages))
                    .value(C::Unread, sum(C::Unread))
                    .to_owned(),
            )
            .into_query(),
    )
}

/// Takes inbox entries out of their boxes' totals (they have just been marked deleted).
async fn uncount(db: &impl ConnectionTrait, entries: &[EntryRow]) -> Result<(), DbErr> {
    let mut totals: HashMap<&str, BoxUsage> = HashMap::new();
    for e in entries.iter().filter(|e| e.folder == INBOX) {
        totals
            .entry(e.box_key.as_str())
            .or_default()
            .add(BoxUsage::of(e));
    }
    let changes: Vec<(&str, BoxUsage)> = totals
        .into_iter()
        .map(|(box_key, usage)| (box_key, usage.negated()))
        .collect();
    count_in_boxes(db, next_stripe(), &changes).await
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

/// Sets `column` to `now` on the live entries `which` selects where it is unset, and
/// answers the entries this changed, as they are after the change: of two requests
/// racing on an entry, only the one that changed it counts it (on PostgreSQL the
/// second one's condition is checked again once the first has committed).
async fn stamp(
    db: &impl ConnectionTrait,
    which: impl IntoCondition,
    column: box_entry::Column,
    now: DateTime<Utc>,
) -> Result<Vec<EntryRow>, DbErr> {
    let mut update = box_entry::Entity::update_many()
        .col_expr(column, Expr::value(now))
        .filter(which)
        .filter(column.is_null())
        .filter(box_entry::Column::DeletedAt.is_null())
        .into_query();
    update.returning_all();
    let statement = db.get_database_backend().build(&update);
    box_entry::Entity::find()
        .from_raw_sql(statement)
        .all(db)
        .await
}

/// Records the reading (and, when it was not yet recorded, the fetch).
pub async fn mark_read(
    db: &DatabaseConnection,
    seqs: &[i64],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let tx = db.begin().await?;
    mark_fetched(&tx, seqs, now).await?;
    let read = stamp(
        &tx,
        box_entry::Column::Seq.is_in(seqs.iter().copied()),
        box_entry::Column::ReadAt,
        now,
    )
    .await?;
    let mut changes: Vec<(&str, BoxUsage)> = Vec::new();
    for e in read.iter().filter(|e| e.folder == INBOX) {
        match changes.iter_mut().find(|(key, _)| *key == e.box_key) {
            Some((_, change)) => change.unread -= 1,
            None => changes.push((
                &e.box_key,
                BoxUsage {
                    unread: -1,
                    ..BoxUsage::default()
                },
            )),
        }
    }
    count_in_boxes(&tx, next_stripe(), &changes).await?;
    tx.commit().await
}

/// Removes these entries from their boxes (those still there).
pub async fn remove_entries(
    db: &DatabaseConnection,
    entries: &[EntryRow],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let tx = db.begin().await?;
    let seqs = entries.iter().map(|e| e.seq);
    let removed = stamp(
        &tx,
        box_entry::Column::Seq.is_in(seqs),
        box_entry::Column::DeletedAt,
        now,
    )
    .await?;
    uncount(&tx, &removed).await?;
    tx.commit().await
}

/// What a caller's boxes hold, from their running totals, corrected by the two kinds
/// of entries they still count: those of messages past their expiry but not yet
/// purged (at most a minute's worth, found through the messages' expiry), and a
/// message in two of the boxes, counted once (found through the boxes' shared
/// entries). Neither reads the boxes' other entries: the cost does not grow with a
/// box's size. A message is unread when one of its entries is.
pub async fn box_counts(
    db: &impl ConnectionTrait,
    boxes: &[String],
    now: DateTime<Utc>,
) -> Result<BoxUsage, DbErr> {
    if boxes.is_empty() {
        return Ok(BoxUsage::default());
    }
    // $1 is the time, $2… the boxes (numbered parameters on both backends).
    let keys = (2..boxes.len() + 2)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let unread = "CASE WHEN e.read_at IS NULL THEN 1 ELSE 0 END";
    // The joins name their order (CROSS JOIN): from the expired messages to their
    // entries, and from the shared entries to their messages.
    let sql = format!(
        "SELECT CAST(COALESCE(SUM(messages), 0) AS BIGINT) AS messages, \
                CAST(COALESCE(SUM(bytes), 0) AS BIGINT) AS bytes, \
                CAST(COALESCE(SUM(unread), 0) AS BIGINT) AS unread FROM ( \
           SELECT messages, bytes, unread FROM box_usage_stripe WHERE box_key IN ({keys}) \
           UNION ALL \
           SELECT -1, -e.size, -({unread}) FROM message m CROSS JOIN box_entry e \
            WHERE m.expires_at <= $1 AND e.message_id = m.id AND e.box_key IN ({keys}) \
              AND e.folder = 'inbox' AND e.deleted_at IS NULL \
           UNION ALL \
           SELECT 1 - COUNT(*), (1 - COUNT(*)) * MAX(e.size), MAX({unread}) - SUM({unread}) \
             FROM box_entry e CROSS JOIN message m \
            WHERE e.shared AND e.deleted_at IS NULL AND e.box_key IN ({keys}) \
              AND m.id = e.message_id AND m.expires_at > $1 \
            GROUP BY e.message_id HAVING COUNT(*) > 1 \
         ) parts"
    );
    let values = std::iter::once(sea_orm::Value::from(now))
        .chain(boxes.iter().map(|b| sea_orm::Value::from(b.as_str())));
    let statement = Statement::from_sql_and_values(db.get_database_backend(), sql, values);
    let row = db
        .query_one_raw(statement)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the box totals".into()))?;
    Ok(BoxUsage {
        messages: row.try_get("", "messages")?,
        unread: row.try_get("", "unread")?,
        bytes: row.try_get("", "bytes")?,
    })
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
        let removed = stamp(
            &tx,
            box_entry::Column::MessageId.is_in(ids.iter().map(String::as_str)),
            box_entry::Column::DeletedAt,
            now,
        )
        .await?;
        uncount(&tx, &removed).await?;
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

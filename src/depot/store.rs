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
use sea_orm::sea_query::{Alias, Expr, ExprTrait, InsertStatement, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set, Statement, TransactionTrait,
};

pub use entity::box_entry::Model as EntryRow;
pub use entity::idempotency_record::Model as IdempotencyRow;
pub use entity::message::Model as MessageRow;

mod accepting;
mod listing;

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

/// What a box holds by its running totals (expired messages count until purged).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BoxUsage {
    pub bytes: i64,
    pub messages: i64,
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
        let total = usage.entry(stripe.box_key).or_default();
        total.bytes += stripe.bytes;
        total.messages += stripe.messages;
    }
    Ok(usage)
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

/// The live messages of these boxes, counted by the database in one statement (a
/// message in two of them once; unread when one of its entries is), whatever their
/// number: no row comes back but the totals.
pub async fn box_counts(
    db: &impl ConnectionTrait,
    boxes: &[String],
    now: DateTime<Utc>,
) -> Result<BoxCounts, DbErr> {
    use box_entry::Column as E;
    let entry = |c: E| Expr::col((box_entry::Entity, c));
    let per_message = Query::select()
        .column((box_entry::Entity, E::MessageId))
        .expr_as(entry(E::Size).max(), Alias::new("size"))
        .expr_as(
            Expr::case(entry(E::ReadAt).is_null(), 1).finally(0).max(),
            Alias::new("unread"),
        )
        .from(box_entry::Entity)
        .inner_join(
            message::Entity,
            Expr::col((message::Entity, message::Column::Id))
                .equals((box_entry::Entity, E::MessageId)),
        )
        .and_where(entry(E::BoxKey).is_in(boxes.iter().map(String::as_str)))
        .and_where(entry(E::Folder).eq(INBOX))
        .and_where(entry(E::DeletedAt).is_null())
        .and_where(Expr::col((message::Entity, message::Column::ExpiresAt)).gt(now))
        .group_by_col((box_entry::Entity, E::MessageId))
        .to_owned();
    let totals = Query::select()
        .expr_as(Expr::cust("COUNT(*)"), Alias::new("messages"))
        .expr_as(
            Expr::cust("CAST(COALESCE(SUM(size), 0) AS BIGINT)"),
            Alias::new("bytes"),
        )
        .expr_as(
            Expr::cust("CAST(COALESCE(SUM(unread), 0) AS BIGINT)"),
            Alias::new("unread"),
        )
        .from_subquery(per_message, Alias::new("per_message"))
        .to_owned();
    let row = db
        .query_one_raw(db.get_database_backend().build(&totals))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the box totals".into()))?;
    Ok(BoxCounts {
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

//! The transactional outbox (table `outbox`): the depot writes each notification in the
//! same database transaction as the message it announces ([`enqueue`]), so a
//! notification exists if and only if the message was committed. The relay publishes
//! the rows and sets `sent_at` once the broker confirmed them; rows whose `sent_at` is
//! older than the retention are removed with [`purge_sent`].
//!
//! This module also holds the relay's queries (`claim_batch`, `mark_sent`): it is
//! the only code of the crate that knows the table.

use chrono::{DateTime, Utc};
use entity::outbox;
use sea_orm::sea_query::{Expr, InsertStatement, LockBehavior, LockType};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait,
};

use crate::{MessageReceived, routing_key};

/// At most this many ids in one `UPDATE … WHERE id IN (…)`.
const UPDATE_CHUNK: usize = 500;

/// Adds the notification to the outbox. Call it inside the transaction that stores the
/// message, then `RelayHandle::wake` after the commit.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    notification: &MessageReceived,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    enqueue_all(db, std::slice::from_ref(notification), now).await
}

/// Adds several notifications in one statement (a message's recipients).
pub async fn enqueue_all(
    db: &impl ConnectionTrait,
    notifications: &[MessageReceived],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if let Some(statement) = enqueue_statement(notifications, now)? {
        db.execute(&statement).await?;
    }
    Ok(())
}

/// The statement that adds these notifications (none for none), for a caller that
/// runs it with others, e.g. as one statement of common table expressions.
pub fn enqueue_statement(
    notifications: &[MessageReceived],
    now: DateTime<Utc>,
) -> Result<Option<InsertStatement>, DbErr> {
    let mut rows = Vec::with_capacity(notifications.len());
    for notification in notifications {
        let routing_key = routing_key(&notification.application);
        if routing_key.len() > 255 {
            // AMQP routing keys are short strings: such a row could never be published.
            return Err(DbErr::Custom(format!(
                "application label too long for an AMQP routing key ({} bytes)",
                notification.application.len()
            )));
        }
        let payload = serde_json::to_string(notification)
            .map_err(|e| DbErr::Custom(format!("cannot serialize the notification: {e}")))?;
        rows.push(outbox::ActiveModel {
            id: NotSet,
            routing_key: Set(routing_key),
            payload: Set(payload),
            created_at: Set(now),
            sent_at: Set(None),
        });
    }
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(outbox::Entity::insert_many(rows).into_query()))
}

/// How many notifications wait for the relay.
pub async fn pending(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    outbox::Entity::find()
        .filter(outbox::Column::SentAt.is_null())
        .count(db)
        .await
}

/// When the oldest notification still waiting was enqueued; `None` when none waits.
pub async fn oldest_pending(db: &impl ConnectionTrait) -> Result<Option<DateTime<Utc>>, DbErr> {
    let oldest = outbox::Entity::find()
        .filter(outbox::Column::SentAt.is_null())
        .order_by_asc(outbox::Column::Id)
        .one(db)
        .await?;
    Ok(oldest.map(|row| row.created_at))
}

/// Deletes the rows sent before `before`; returns how many.
pub async fn purge_sent(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, DbErr> {
    let result = outbox::Entity::delete_many()
        .filter(outbox::Column::SentAt.is_not_null())
        .filter(outbox::Column::SentAt.lt(before))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Up to `limit` unsent rows, oldest first. On PostgreSQL the rows are locked
/// `FOR UPDATE SKIP LOCKED` until the surrounding transaction ends, so concurrent
/// relays take disjoint batches; SQLite has no row locks and runs the plain query.
pub(crate) async fn claim_batch(
    db: &impl ConnectionTrait,
    limit: u64,
) -> Result<Vec<outbox::Model>, DbErr> {
    let query = outbox::Entity::find()
        .filter(outbox::Column::SentAt.is_null())
        .order_by_asc(outbox::Column::Id)
        .limit(limit);
    let query = match db.get_database_backend() {
        DbBackend::Postgres => query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked),
        _ => query,
    };
    query.all(db).await
}

/// Sets `sent_at` on the rows among `ids` that are still unsent; returns how many.
pub(crate) async fn mark_sent(
    db: &impl ConnectionTrait,
    ids: &[i64],
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let mut marked = 0;
    for chunk in ids.chunks(UPDATE_CHUNK) {
        let result = outbox::Entity::update_many()
            .col_expr(outbox::Column::SentAt, Expr::value(now))
            .filter(outbox::Column::Id.is_in(chunk.iter().copied()))
            .filter(outbox::Column::SentAt.is_null())
            .exec(db)
            .await?;
        marked += result.rows_affected;
    }
    Ok(marked)
}

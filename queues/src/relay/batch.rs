//! One batch: take unsent rows, publish each with a publisher confirm, mark the acked
//! ones sent.

use std::time::Duration;

use chrono::Utc;
use entity::outbox as row;
use lapin::options::BasicPublishOptions;
use lapin::types::ShortString;
use lapin::{BasicProperties, Channel, Confirmation};
use sea_orm::{DatabaseConnection, DbBackend, DbErr, TransactionTrait};

use crate::{EXCHANGE, Error, outbox};

/// How long the broker may take to confirm a whole batch before the connection is
/// deemed broken (the rows stay unsent).
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) struct Outcome {
    /// Rows taken from the outbox.
    pub fetched: u64,
    /// Rows the broker acked (and that are now marked sent).
    pub acked: u64,
    /// Rows the broker nacked (left unsent).
    pub nacked: u64,
}

pub(super) enum BatchError {
    /// The connection or channel failed: reconnect. Rows acked before the failure were
    /// still marked sent.
    Broker(Error),
    /// The database failed: nothing was marked; the rows go again.
    Db(DbErr),
}

impl From<DbErr> for BatchError {
    fn from(error: DbErr) -> Self {
        Self::Db(error)
    }
}

/// Publishes up to `limit` rows. On PostgreSQL the rows stay locked (`FOR UPDATE SKIP
/// LOCKED`) in one transaction from the select to the update, so that other relays skip
/// them; on SQLite no transaction spans the network round trips (see the module docs).
pub(super) async fn relay_batch(
    db: &DatabaseConnection,
    channel: &Channel,
    limit: u64,
) -> Result<Outcome, BatchError> {
    let (rows, published) = if db.get_database_backend() == DbBackend::Postgres {
        let txn = db.begin().await?;
        let rows = outbox::claim_batch(&txn, limit).await?;
        let published = publish(channel, &rows).await;
        outbox::mark_sent(&txn, &published.acked, Utc::now()).await?;
        txn.commit().await?;
        (rows, published)
    } else {
        let rows = outbox::claim_batch(db, limit).await?;
        let published = publish(channel, &rows).await;
        outbox::mark_sent(db, &published.acked, Utc::now()).await?;
        (rows, published)
    };
    if let Some(error) = published.error {
        return Err(BatchError::Broker(error));
    }
    Ok(Outcome {
        fetched: rows.len() as u64,
        acked: published.acked.len() as u64,
        nacked: published.nacked,
    })
}

struct Published {
    acked: Vec<i64>,
    nacked: u64,
    /// The first broker failure; publishing stopped there.
    error: Option<Error>,
}

/// Publishes every row, then awaits the confirms (pipelined, not one round trip each).
async fn publish(channel: &Channel, rows: &[row::Model]) -> Published {
    let mut error = None;
    let mut confirms = Vec::with_capacity(rows.len());
    for row in rows {
        let Ok(routing_key) = ShortString::try_new(row.routing_key.as_str()) else {
            tracing::error!(
                id = row.id,
                "outbox row with a routing key over 255 bytes; left unsent"
            );
            continue;
        };
        match channel
            .basic_publish(
                EXCHANGE.into(),
                routing_key,
                BasicPublishOptions::default(),
                row.payload.as_bytes(),
                properties(row),
            )
            .await
        {
            Ok(confirm) => confirms.push((row.id, confirm)),
            Err(e) => {
                error = Some(Error::from(e));
                break;
            }
        }
    }
    let mut acked = Vec::with_capacity(confirms.len());
    let mut nacked = 0;
    let deadline = tokio::time::Instant::now() + CONFIRM_TIMEOUT;
    for (id, confirm) in confirms {
        // `timeout_at` polls the confirm before looking at the clock: confirms that
        // already arrived count even once the deadline has passed.
        match tokio::time::timeout_at(deadline, confirm).await {
            Ok(Ok(Confirmation::Ack(_))) => acked.push(id),
            Ok(Ok(Confirmation::Nack(_))) => nacked += 1,
            Ok(Ok(Confirmation::NotRequested)) => {
                error.get_or_insert(Error::NotConfirmed);
            }
            Ok(Err(e)) => {
                error.get_or_insert(Error::from(e));
            }
            Err(_) => {
                error.get_or_insert(Error::Timeout("publisher confirms", CONFIRM_TIMEOUT));
            }
        }
    }
    Published {
        acked,
        nacked,
        error,
    }
}

/// Persistent JSON, `message_id` = the outbox row id (what receivers deduplicate on),
/// `timestamp` = when the notification was enqueued.
fn properties(row: &row::Model) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_message_id(row.id.to_string().into())
        .with_timestamp(u64::try_from(row.created_at.timestamp()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn rows_are_published_persistent_json_with_their_id() {
        let created_at = Utc.timestamp_opt(1_764_000_000, 0).unwrap();
        let properties = properties(&row::Model {
            id: 42,
            routing_key: "message.received.ehbox".into(),
            payload: "{}".into(),
            created_at,
            sent_at: None,
        });
        assert_eq!(properties.delivery_mode(), &Some(2));
        assert_eq!(
            properties.content_type().as_ref().map(ShortString::as_str),
            Some("application/json")
        );
        assert_eq!(
            properties.message_id().as_ref().map(ShortString::as_str),
            Some("42")
        );
        assert_eq!(properties.timestamp(), &Some(1_764_000_000));
    }
}

//! The broker topology the depot and its receivers share (AMQP 0-9-1, RabbitMQ).
//!
//! - `depot.events`: durable topic exchange; every notification is published to it with
//!   routing key `message.received.<application>`.
//! - `depot.events.dlx`: durable fanout dead-letter exchange, and `depot.events.dead`,
//!   the durable queue bound to it, where rejected (malformed, undeliverable)
//!   notifications end up for inspection.
//! - receiver queues ([`declare_queue`]): durable, `x-dead-letter-exchange =
//!   depot.events.dlx`, bound to `depot.events` with topic binding keys
//!   (`message.received.#`, `message.received.ehbox`, …).
//!
//! Every declaration is idempotent: declaring the same thing again with the same
//! properties is a no-op on the broker. Declaring an existing name with *different*
//! properties (say, a queue first made without the dead-letter argument) is refused by
//! the broker with `PRECONDITION_FAILED`, which also closes the channel.
//!
//! A topic exchange drops a message that matches no binding: a receiver must declare its
//! queue before the notifications it wants are published; from then on the durable
//! queue keeps persistent messages across broker restarts.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

use crate::error::short;
use crate::{EXCHANGE, Error};

/// Dead-letter exchange of every receiver queue (durable, fanout).
pub const DEAD_LETTER_EXCHANGE: &str = "depot.events.dlx";
/// The queue that holds dead-lettered notifications (durable).
pub const DEAD_LETTER_QUEUE: &str = "depot.events.dead";

/// Declares the exchanges and the dead-letter queue. Idempotent.
pub async fn declare(channel: &Channel) -> Result<(), Error> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(
            EXCHANGE.into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await?;
    channel
        .exchange_declare(
            DEAD_LETTER_EXCHANGE.into(),
            ExchangeKind::Fanout,
            durable,
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(
            DEAD_LETTER_QUEUE.into(),
            QueueDeclareOptions::durable(),
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            DEAD_LETTER_QUEUE.into(),
            DEAD_LETTER_EXCHANGE.into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

/// Declares a durable receiver queue that dead-letters to `depot.events.dlx`, bound to
/// `depot.events` with each of `bindings` (topic patterns). Idempotent; expects
/// [`declare`] to have run (it does not declare the exchanges itself).
pub async fn declare_queue(channel: &Channel, name: &str, bindings: &[&str]) -> Result<(), Error> {
    let queue = short(name)?;
    let keys = bindings
        .iter()
        .map(|b| short(b))
        .collect::<Result<Vec<_>, _>>()?;
    channel
        .queue_declare(
            queue.clone(),
            QueueDeclareOptions::durable(),
            queue_arguments(),
        )
        .await?;
    for key in keys {
        channel
            .queue_bind(
                queue.clone(),
                EXCHANGE.into(),
                key,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

/// The arguments of a receiver queue; they must be the same at every declaration.
fn queue_arguments() -> FieldTable {
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(LongString::from(DEAD_LETTER_EXCHANGE)),
    );
    arguments
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receiver_queues_dead_letter_to_the_dlx() {
        let arguments = queue_arguments();
        let value = arguments.inner().get("x-dead-letter-exchange");
        assert_eq!(
            value,
            Some(&AMQPValue::LongString(DEAD_LETTER_EXCHANGE.into()))
        );
    }
}

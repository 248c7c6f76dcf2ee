//! The crate's one error type.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("AMQP: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// Queue names, routing and binding keys are AMQP short strings.
    #[error("{0:?} is longer than the 255 bytes of an AMQP short string")]
    TooLong(String),
    #[error("cannot write a notification: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0} timed out after {1:?}")]
    Timeout(&'static str, Duration),
    #[error("the AMQP connection or channel is closed")]
    Closed,
    #[error("the broker answered a publish without a confirm (channel not in confirm mode)")]
    NotConfirmed,
}

/// An AMQP short string (queue name, routing or binding key), checked instead of
/// letting lapin's `From<&str>` panic on one longer than 255 bytes.
pub(crate) fn short(s: &str) -> Result<lapin::types::ShortString, Error> {
    lapin::types::ShortString::try_new(s).map_err(|_| Error::TooLong(s.to_owned()))
}

//! Storage of the authorization server: clients, signing keys, the assertion replay
//! store and revoked tokens. The only authz code that sees sea-orm.

mod clients;
mod replays;
mod revocations;
mod signing_keys;

pub use clients::*;
pub use replays::Replays;
pub use revocations::*;
pub use signing_keys::*;

use sea_orm::{DbErr, SqlErr};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("already exists")]
    Conflict,
    #[error("stored record is inconsistent: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

pub(crate) fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

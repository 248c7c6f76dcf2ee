//! Telling an unreachable database from a failure of ours. A request that failed
//! because no connection could be had, or the connection broke, decided nothing: it is
//! answered 503 with `Retry-After` (OAuth `temporarily_unavailable`), not 500. The
//! error is classified where its type is still known: a `DbErr`, an `anyhow::Error`
//! holding one, a store's error wrapping one, or a [`Fault`] that kept the answer.

use std::any::Any;
use std::error::Error;
use std::fmt;

use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr};

/// An internal failure carried as text, with whether it was the database being
/// unreachable (decided by [`Fault::of`], while the error's type was known).
#[derive(Debug, Clone)]
pub struct Fault {
    pub detail: String,
    pub database_unreachable: bool,
}

impl Fault {
    pub fn of<E: fmt::Display + Any>(error: &E) -> Self {
        Self {
            detail: error.to_string(),
            database_unreachable: database_unreachable(error),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

/// Whether `error` says the database cannot be reached now (no connection in time,
/// the connection broke, the server is shutting down or refusing connections, SQLite
/// busy) rather than that a statement failed.
pub fn database_unreachable(error: &dyn Any) -> bool {
    if let Some(fault) = error.downcast_ref::<Fault>() {
        return fault.database_unreachable;
    }
    if let Some(e) = error.downcast_ref::<anyhow::Error>() {
        return e.chain().any(cause_unreachable);
    }
    let mut cause = as_error(error);
    while let Some(e) = cause {
        if cause_unreachable(e) {
            return true;
        }
        cause = e.source();
    }
    false
}

/// The error types that may carry a database error, as errors (to walk their causes).
fn as_error(error: &dyn Any) -> Option<&(dyn Error + 'static)> {
    fn cast<'a, E: Error + 'static>(error: &'a dyn Any) -> Option<&'a (dyn Error + 'static)> {
        error
            .downcast_ref::<E>()
            .map(|e| e as &(dyn Error + 'static))
    }
    cast::<DbErr>(error)
        .or_else(|| cast::<crate::authz::store::StoreError>(error))
        .or_else(|| cast::<crate::authz::grants::store::StoreError>(error))
        .or_else(|| cast::<crate::authz::login::store::StoreError>(error))
        .or_else(|| cast::<crate::people::store::StoreError>(error))
        .or_else(|| cast::<crate::keys::error::KeysError>(error))
        .or_else(|| cast::<crate::keys::store::InsertError>(error))
        .or_else(|| cast::<crate::depot::store::InsertError>(error))
        .or_else(|| cast::<crate::secrets::SecretError>(error))
        .or_else(|| cast::<crate::authz::signing::SigningError>(error))
        .or_else(|| cast::<crate::tsa::authority::AuthorityError>(error))
}

/// One cause in an error's chain (a `transparent` wrapper shows a `DbErr`'s own
/// cause, not the `DbErr`).
fn cause_unreachable(cause: &(dyn Error + 'static)) -> bool {
    if let Some(e) = cause.downcast_ref::<DbErr>() {
        return match e {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
            DbErr::Exec(e) | DbErr::Query(e) => runtime_unreachable(e),
            _ => false,
        };
    }
    cause.downcast_ref::<ConnAcquireErr>().is_some()
        || cause
            .downcast_ref::<RuntimeErr>()
            .is_some_and(runtime_unreachable)
        || cause
            .downcast_ref::<sea_orm::sqlx::Error>()
            .is_some_and(sqlx_unreachable)
}

fn runtime_unreachable(error: &RuntimeErr) -> bool {
    match error {
        RuntimeErr::SqlxError(e) => sqlx_unreachable(e),
        _ => false,
    }
}

fn sqlx_unreachable(error: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error as E;
    match error {
        E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => true,
        // PostgreSQL: class 08 (connection exception), 57P01-57P03 (shutting down, cannot
        // connect now), 53300 (too many connections); SQLite: 5 and 6 (busy, locked).
        E::Database(e) => e.code().is_some_and(|code| {
            code.starts_with("08")
                || matches!(
                    code.as_ref(),
                    "57P01" | "57P02" | "57P03" | "53300" | "5" | "6"
                )
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn io() -> DbErr {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        DbErr::Query(RuntimeErr::SqlxError(Arc::new(sea_orm::sqlx::Error::Io(
            io,
        ))))
    }

    #[test]
    fn a_lost_connection_is_unreachable_however_it_is_wrapped() {
        assert!(database_unreachable(&io()));
        assert!(database_unreachable(&DbErr::ConnectionAcquire(
            ConnAcquireErr::Timeout
        )));
        assert!(database_unreachable(&anyhow::Error::from(io())));
        assert!(database_unreachable(&crate::authz::store::StoreError::Db(
            io()
        )));
        assert!(database_unreachable(&crate::people::store::StoreError::Db(
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)
        )));
        assert!(database_unreachable(&Fault::of(&io())));
    }

    #[test]
    fn a_failed_statement_or_anything_else_is_not() {
        let statement = DbErr::Query(RuntimeErr::Internal("syntax".into()));
        assert!(!database_unreachable(&statement));
        assert!(!database_unreachable(&DbErr::RecordNotFound("x".into())));
        assert!(!database_unreachable(&"no verifier"));
        assert!(!database_unreachable(&String::from("text")));
        assert!(!database_unreachable(&Fault::of(&statement)));
    }
}

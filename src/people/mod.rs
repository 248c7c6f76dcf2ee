//! The authentic source of persons and organizations. For now: the identifiers
//! (SSIN / SSIN-BIS, CBE, NIHII) as types that can only hold valid values.

pub mod identifiers;

pub use identifiers::{Cbe, Identifier, IdentifierError, Nihii, Ssin};

//! The authentic source of persons and organizations: identifiers (SSIN / SSIN-BIS,
//! CBE, NIHII), persons with the profiles they hold (citizen, professional, member of an
//! organization, mandatee), their credentials, the admin API and the JSON import.

pub mod credentials;
pub mod identifiers;
pub mod import;
pub mod model;
pub mod routes;
pub mod store;

pub use identifiers::{Cbe, Identifier, IdentifierError, Nihii, Ssin};
pub use model::{NewPerson, Person, PersonRegistration, Profile};

//! sea-orm entities: one file per table. Schema lives in `migration`; these types are
//! only ever used inside the service's `store` modules.

pub mod assertion_jti;
pub mod client;
pub mod organization;
pub mod revoked_token;
pub mod signing_key;

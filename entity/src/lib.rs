//! sea-orm entities: one file per table. Schema lives in `migration`; these types are
//! only ever used inside the service's `store` modules.

pub mod absence;
pub mod assertion_jti;
pub mod authorization_code;
pub mod authorization_request;
pub mod box_entry;
pub mod box_usage;
pub mod client;
pub mod consent;
pub mod delegation;
pub mod exchanged_token;
pub mod federated_session;
pub mod federation_pending;
pub mod idempotency_record;
pub mod key_log;
pub mod key_registration;
pub mod login_session;
pub mod login_throttle;
pub mod message;
pub mod organization;
pub mod outbox;
pub mod person;
pub mod public_key;
pub mod refresh_token;
pub mod revoked_token;
pub mod service_secret;
pub mod signing_key;
pub mod symkey_audit;
pub mod symmetric_key;

//! One file per grant type, each reading like its RFC's steps.

pub mod authorization_code;
pub mod client_credentials;
pub mod model;
pub mod person;
pub mod refresh_token;
pub mod store;
pub mod token_exchange;

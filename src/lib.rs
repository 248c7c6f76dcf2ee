//! eHealth depot: an asynchronous secure-messaging depot for health data, with the
//! authorities its flows need (OAuth 2 / OpenID Connect, keystore, symmetric keys,
//! time-stamp authority) co-hosted in one service. See `DESIGN.md` in the shared docs.

pub mod app;
pub mod authz;
pub mod batch;
pub mod body;
pub mod cache;
pub mod client;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod db;
pub mod depot;
pub mod fault;
pub mod files;
pub mod keys;
pub mod openapi;
pub mod operator;
pub mod ops;
pub mod people;
pub mod problem;
pub mod secrets;
pub mod service_client;
pub mod state;
pub mod symkeys;
pub mod tsa;

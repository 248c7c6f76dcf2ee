//! One file per grant type, each reading like its RFC's steps.

pub mod client_credentials;

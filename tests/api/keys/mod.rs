//! The keystore (`src/keys/`): the WebAuthn registration ceremony with authenticators
//! written by others and by our own openssl + CBOR authenticator, every algorithm and
//! attestation it accepts, a key's life after it, the administrator's keys and
//! certificate imports, and the JWKS search.

pub mod admin;
pub mod algorithms;
pub mod attestation;
pub mod authenticator;
mod ceremony;
mod certificates;

//! The built-in identity provider and the steps of an authorization: login (password,
//! TOTP, throttling, sessions), profile choice and consent. The HTTP side is in
//! `authz::routes::{authorize, login, account}`.

pub mod authenticate;
pub mod flow;
pub mod hash_gate;
pub mod i18n;
pub mod pages;
pub mod request;
pub mod store;

//! Upstream federation: the built-in identity provider delegates a login to an external
//! OpenID Provider (the seed's IDP → FAS chain) and carries on as after a local login.
//!
//! The login page offers "Sign in with <name>" (`POST /login/{id}/federation`, a plain
//! form with the interaction's CSRF token). The depot sends the browser to the upstream
//! authorization endpoint (authorization code flow, PKCE S256, a fresh `state` and
//! `nonce` bound to the interaction and to the browser, stored as [`store::Pending`]).
//! The callback (`GET /login/federation/callback`) uses the pending login up, redeems
//! the code ([`upstream`]), checks the ID token ([`id_token`]), maps its claims to a person of the
//! authentic source and an eIDAS level ([`mapping`]), opens a login session like a
//! local login does, and the interaction goes on to profile choice, consent and the
//! code. The HTTP side is `authz::routes::federation`.

pub mod config;
pub mod error;
pub mod http;
pub mod id_token;
pub mod mapping;
pub mod store;
pub mod upstream;

pub use config::{Federation, FederationSettings};
pub use error::FederationError;
pub use upstream::Upstream;

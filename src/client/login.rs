//! Logging in to the depot's authorization server, from the client's side.
//!
//! - A person, through a browser: the authorization code grant with PKCE (RFC 7636) of
//!   a native app, whose redirect URI is a loopback listener on an ephemeral port
//!   (RFC 8252 §7.3), the `iss` of the answer checked (RFC 9207), the id_token verified
//!   against the issuer's keys (OpenID Connect Core §3.1.3.7).
//! - A system, with no person: the client credentials grant, authenticated with
//!   `private_key_jwt` (RFC 7523 §2.2).
//! - Refreshing the tokens of a client that was given a refresh token (RFC 6749 §6).
//! - A system client of a supplier organization acting for a consumer organization
//!   that delegated to it: client credentials with `consumer=` (API.md "Organizations
//!   acting for organizations").
//! - Token exchange (RFC 8693): a person's token traded by their app for one in which
//!   the app acts, or for a SAML holder-of-key assertion, with an actor token signed
//!   by a key the service knows ([`ActorKey`]).
//!
//! A client with a DPoP key ([`ClientAuth::with_dpop`]) sends a proof by it with every
//! token request, and what is issued is bound to it (RFC 9449).
//!
//! Refusals name what the server said: the token endpoint's error object (RFC 6749
//! §5.2) and the error sent back to the redirect URI (§4.1.2.1) keep their `error` and
//! `error_description`. `ScriptedBrowser` fills the person-facing login pages when
//! no person is there to do it (the demo, tests; feature `client-tools`).

mod actor_token;
mod authorization_code;
mod client_auth;
mod client_credentials;
mod error;
pub mod id_token;
mod loopback;
mod pkce;
mod refresh_token;
#[cfg(feature = "client-tools")]
mod scripted_browser;
mod token_endpoint;
pub mod token_exchange;

pub use actor_token::{ActorKey, JWT_TOKEN_TYPE};
pub use authorization_code::{
    authorization_url, exchange_code, login_with_browser, open_system_browser,
};
pub use client_auth::{ClientAssertionKey, ClientAuth, JWT_BEARER};
pub use client_credentials::{client_credentials, client_credentials_for, client_credentials_with};
pub use error::LoginError;
pub use loopback::LoopbackRedirect;
pub use pkce::Pkce;
pub use refresh_token::refresh;
#[cfg(feature = "client-tools")]
pub use scripted_browser::{Consent, Credentials, ScriptedBrowser};
pub use token_endpoint::Tokens;
pub use token_exchange::{Exchange, Exchanged, Requested, exchange};

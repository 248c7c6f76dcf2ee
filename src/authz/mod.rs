//! The OpenID Provider / OAuth 2 authorization server: the client registry (API portal),
//! client authentication, grants, tokens and their verification by our resource servers.
//! Standards: RFC 6749, 7523, 7662, 7009, 8414, 8707, 9068, 6750, 9449; SAML 2.0
//! holder-of-key assertions (`saml`); OpenID Connect Core as a relying party of an upstream
//! provider (`federation`).

pub mod bearer;
pub mod client;
pub mod client_auth;
pub mod context;
pub mod delegation;
pub mod dpop;
pub mod error;
pub mod federation;
pub mod form;
pub mod grants;
pub mod guard;
pub mod id_token;
pub mod jose_openssl;
pub mod jwks;
pub mod login;
pub mod params;
pub mod pdp;
pub mod routes;
pub mod saml;
pub mod scope;
pub mod signing;
pub mod store;
pub mod tokens;

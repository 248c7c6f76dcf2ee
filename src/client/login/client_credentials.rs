//! The client credentials grant (RFC 6749 §4.4) of a system client, which acts for
//! itself: authenticated with `private_key_jwt` (RFC 7523 §2.2), no person involved;
//! or, a system client of a supplier organization, for a consumer organization that
//! delegated to it (`consumer=<CBE>`, API.md "Organizations acting for
//! organizations"): the token then speaks for the consumer, with the supplier in `act`.

use super::token_endpoint::{self, Tokens};
use super::{ClientAssertionKey, ClientAuth, LoginError};
use crate::people::Cbe;

/// The token request with `scope` (RFC 6749 §4.4.2) and a fresh assertion signed with
/// the client's key `kid` (a P-256 private key, PEM); the access token (§4.4.3), or
/// the server's refusal.
pub async fn client_credentials(
    http: &reqwest::Client,
    issuer: &str,
    client_id: &str,
    kid: &str,
    private_key_pem: &[u8],
    scope: &str,
) -> Result<Tokens, LoginError> {
    let key = ClientAssertionKey::from_pem(client_id, kid, private_key_pem)?;
    client_credentials_with(http, issuer, &ClientAuth::from(key), scope).await
}

/// The same for a client described by `client` (its assertion key, and the DPoP key
/// the token is to be bound to, if any).
pub async fn client_credentials_with(
    http: &reqwest::Client,
    issuer: &str,
    client: &ClientAuth,
    scope: &str,
) -> Result<Tokens, LoginError> {
    let grant = [("grant_type", "client_credentials"), ("scope", scope)];
    token_endpoint::request(http, issuer, &grant, client).await
}

/// The same for the consumer organization `consumer`, which delegated these scopes to
/// the client's organization; refused (`unauthorized_client`) without an active
/// delegation that covers them.
pub async fn client_credentials_for(
    http: &reqwest::Client,
    issuer: &str,
    client: &ClientAuth,
    scope: &str,
    consumer: &Cbe,
) -> Result<Tokens, LoginError> {
    let grant = [
        ("grant_type", "client_credentials"),
        ("scope", scope),
        ("consumer", consumer.as_str()),
    ];
    token_endpoint::request(http, issuer, &grant, client).await
}

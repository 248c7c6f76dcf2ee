//! The client credentials grant (RFC 6749 §4.4) of a system client, which acts for
//! itself: authenticated with `private_key_jwt` (RFC 7523 §2.2), no person involved.

use super::token_endpoint::{self, Tokens};
use super::{ClientAssertionKey, ClientAuth, LoginError};

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

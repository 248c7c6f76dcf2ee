//! The client credentials grant (RFC 6749 §4.4) of a system client, which acts for
//! itself: authenticated with `private_key_jwt` (RFC 7523 §2.2), no person involved.

use super::token_endpoint::{self, Tokens};
use super::{ClientAssertionKey, LoginError};

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
    let auth = key.form_params(&token_endpoint::token_endpoint(issuer))?;
    let grant = [("grant_type", "client_credentials"), ("scope", scope)];
    token_endpoint::request(http, issuer, &grant, &auth).await
}

//! Refreshing tokens (RFC 6749 §6). This server rotates refresh tokens (RFC 9700
//! §4.14.2): use the new `refresh_token` of the answer next time; the old one is spent,
//! and presenting it again revokes every token of the login. A public client refreshes
//! with its `client_id` ([`ClientAuth::public`]) and a DPoP proof by the key its
//! refresh token is bound to ([`ClientAuth::with_dpop`], the same as at the login: the
//! service gives a public client a refresh token only when bound), a confidential one
//! with its key.

use super::token_endpoint::{self, Tokens};
use super::{ClientAuth, LoginError};

pub async fn refresh(
    http: &reqwest::Client,
    issuer: &str,
    client: &ClientAuth,
    refresh_token: &str,
) -> Result<Tokens, LoginError> {
    let grant = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    token_endpoint::request(http, issuer, &grant, client).await
}

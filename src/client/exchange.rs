//! Token exchange (RFC 8693) for a logged-in [`Session`]: its access token is the
//! subject token, and when it is DPoP-bound the request carries a proof by its key (the
//! service exchanges a bound token only so). What an exchange gives back, an access
//! token in which the app acts, becomes a session of its own, held by the actor key.

use super::login::{self, ClientAuth, Exchange, Exchanged, LoginError, Tokens};
use super::{ClientError, DpopKey, Session};

impl Session {
    /// Exchanges this session's access token as `client` (the client it was issued
    /// to, authenticated as for its other grants) for what `request` asks.
    pub async fn exchange(
        &self,
        client: ClientAuth,
        request: &Exchange<'_>,
    ) -> Result<Exchanged, ClientError> {
        let client = match self.dpop_key() {
            Some(key) => client.with_dpop(key.clone()),
            None => client,
        };
        Ok(login::exchange(self.http(), &self.issuer, &client, &self.token(), request).await?)
    }

    /// A session for an access token an exchange issued: bound to `holder` when the
    /// answer says `DPoP` (the actor key, as a DPoP signer: for a device key,
    /// [`super::DeviceKey::dpop_key`]; without an actor token, this session's key).
    pub fn exchanged(&self, tokens: &Tokens, holder: Option<&DpopKey>) -> Session {
        Session::for_tokens(self.http().clone(), &self.issuer, tokens, holder)
    }
}

impl From<LoginError> for ClientError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::TokenEndpoint {
                status,
                error,
                description,
            } => ClientError::Refused {
                method: "POST",
                path: "/oauth2/token".into(),
                status,
                detail: match description {
                    Some(text) if !text.is_empty() => format!("{error} ({text})"),
                    _ => error,
                },
            },
            LoginError::Unreachable { url, reason } => ClientError::Unreachable {
                url,
                detail: reason,
            },
            LoginError::ClientKey(detail) | LoginError::Crypto(detail) => {
                ClientError::Crypto(detail)
            }
            other => ClientError::Protocol(other.to_string()),
        }
    }
}

//! The token endpoint as a client sees it (RFC 6749 §3.2): a form POST answered by a
//! token response (§5.1) or an error object (§5.2).

use std::fmt;

use reqwest::header::ACCEPT;
use serde::Deserialize;

use super::LoginError;

/// What the token endpoint issued (RFC 6749 §5.1). `Debug` shows no token.
#[derive(Clone, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// With scope `openid` (OpenID Connect Core §3.1.3.3).
    pub id_token: Option<String>,
    pub expires_in: i64,
    pub scope: Option<String>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let given = |t: &Option<String>| if t.is_some() { "…" } else { "none" };
        f.debug_struct("Tokens")
            .field("access_token", &"…")
            .field("refresh_token", &given(&self.refresh_token))
            .field("id_token", &given(&self.id_token))
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

/// RFC 6749 §5.2.
#[derive(Deserialize)]
struct ErrorObject {
    error: String,
    error_description: Option<String>,
}

/// `{issuer}{path}`: every endpoint of the server is under its issuer.
pub(super) fn endpoint(issuer: &str, path: &str) -> String {
    format!("{}{path}", issuer.trim_end_matches('/'))
}

/// The token endpoint's URL, also the `aud` of client assertions.
pub(super) fn token_endpoint(issuer: &str) -> String {
    endpoint(issuer, "/oauth2/token")
}

/// Sends a request that asks for JSON: the answer's status and body, or the service
/// could not be reached at `url`.
pub(super) async fn send_json(
    request: reqwest::RequestBuilder,
    url: &str,
) -> Result<(reqwest::StatusCode, Vec<u8>), LoginError> {
    let response = request
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| LoginError::unreachable(url, &e))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| LoginError::unreachable(url, &e))?;
    Ok((status, body.to_vec()))
}

/// POSTs the parameters of a grant and those that authenticate the client (see
/// `ClientAuth`) to the token endpoint of `issuer`.
pub(super) async fn request(
    http: &reqwest::Client,
    issuer: &str,
    grant: &[(&str, &str)],
    client: &[(&str, String)],
) -> Result<Tokens, LoginError> {
    let url = token_endpoint(issuer);
    let form: Vec<(&str, &str)> = grant
        .iter()
        .copied()
        .chain(client.iter().map(|(k, v)| (*k, v.as_str())))
        .collect();
    let (status, body) = send_json(http.post(&url).form(&form), &url).await?;
    let unexpected = |detail: String| LoginError::UnexpectedResponse {
        url: url.clone(),
        status: status.as_u16(),
        detail,
    };
    if status.is_success() {
        return serde_json::from_slice(&body)
            .map_err(|e| unexpected(format!("not a token response: {e}")));
    }
    match serde_json::from_slice::<ErrorObject>(&body) {
        Ok(refusal) => Err(LoginError::TokenEndpoint {
            status: status.as_u16(),
            error: refusal.error,
            description: refusal.error_description,
        }),
        Err(_) => Err(unexpected(excerpt(&body))),
    }
}

/// The start of a body that is not an error object, for the message.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_endpoint_is_under_the_issuer() {
        assert_eq!(
            token_endpoint("https://depot.example/"),
            "https://depot.example/oauth2/token"
        );
        assert_eq!(
            token_endpoint("https://depot.example/eu"),
            "https://depot.example/eu/oauth2/token"
        );
    }

    #[test]
    fn debug_shows_no_token() {
        let tokens = Tokens {
            access_token: "secret-access".into(),
            refresh_token: Some("secret-refresh".into()),
            id_token: None,
            expires_in: 300,
            scope: Some("openid".into()),
        };
        let shown = format!("{tokens:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("300"), "{shown}");
    }

    #[test]
    fn long_bodies_are_cut() {
        assert_eq!(excerpt(b"  short \n"), "short");
        assert_eq!(excerpt("é".repeat(300).as_bytes()).chars().count(), 201);
    }
}

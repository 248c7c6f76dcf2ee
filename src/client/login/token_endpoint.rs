//! The token endpoint as a client sees it (RFC 6749 §3.2): a form POST answered by a
//! token response (§5.1) or an error object (§5.2). A client with a DPoP key sends a
//! proof with every request (RFC 9449 §5), so that what is issued is bound to it, and
//! repeats a request once when the server asks for its nonce (`use_dpop_nonce`, §8).

use std::fmt;

use reqwest::header::ACCEPT;
use serde::{Deserialize, Serialize};

use super::{ClientAuth, LoginError};
use crate::client::dpop;

/// What the token endpoint issued (RFC 6749 §5.1). `Debug` shows no token.
/// `Serialize` writes it as the token endpoint answered it (tokens included).
#[derive(Clone, Deserialize, Serialize)]
pub struct Tokens {
    pub access_token: String,
    /// `DPoP` for a token bound to the key of the request's proof (RFC 9449 §5),
    /// `Bearer` otherwise.
    #[serde(default = "bearer")]
    pub token_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// What a token exchange issued (RFC 8693 §2.2.1): an access token, or a SAML
    /// assertion (then `token_type` is `N_A`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<String>,
    /// With scope `openid` (OpenID Connect Core §3.1.3.3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

fn bearer() -> String {
    "Bearer".to_owned()
}

impl Tokens {
    /// Whether the access token is DPoP-bound (used with `Authorization: DPoP` and a
    /// proof by the key).
    pub fn is_dpop(&self) -> bool {
        self.token_type.eq_ignore_ascii_case(dpop::TOKEN_TYPE)
    }
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let given = |t: &Option<String>| if t.is_some() { "…" } else { "none" };
        f.debug_struct("Tokens")
            .field("access_token", &"…")
            .field("token_type", &self.token_type)
            .field("refresh_token", &given(&self.refresh_token))
            .field("issued_token_type", &self.issued_token_type)
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
    let (status, _, body) = send_json_with_headers(request, url).await?;
    Ok((status, body))
}

async fn send_json_with_headers(
    request: reqwest::RequestBuilder,
    url: &str,
) -> Result<(reqwest::StatusCode, reqwest::header::HeaderMap, Vec<u8>), LoginError> {
    let response = request
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| LoginError::unreachable(url, &e))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|e| LoginError::unreachable(url, &e))?;
    Ok((status, headers, body.to_vec()))
}

/// POSTs the parameters of a grant and those that authenticate `client` to the token
/// endpoint of `issuer`, with a DPoP proof when the client has a key; once more, with
/// a fresh client assertion and proof, when the server asks for its DPoP nonce.
pub(super) async fn request(
    http: &reqwest::Client,
    issuer: &str,
    grant: &[(&str, &str)],
    client: &ClientAuth,
) -> Result<Tokens, LoginError> {
    let fixed = || {
        Ok(grant
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect())
    };
    request_fresh(http, issuer, &fixed, client).await
}

/// The same for a grant whose parameters are made afresh for each attempt (one that
/// carries a single-use JWT of its own, as a token exchange's actor token).
pub(super) async fn request_fresh(
    http: &reqwest::Client,
    issuer: &str,
    grant: &(dyn Fn() -> Result<Vec<(String, String)>, LoginError> + Sync),
    client: &ClientAuth,
) -> Result<Tokens, LoginError> {
    let url = token_endpoint(issuer);
    let mut repeated = false;
    loop {
        let auth = client.form_params(&url)?;
        let params = grant()?;
        let form: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(auth.iter().map(|(k, v)| (*k, v.as_str())))
            .collect();
        let mut post = http.post(&url).form(&form);
        if let Some(key) = client.dpop() {
            let proof = key
                .proof("POST", &url, None)
                .map_err(|e| LoginError::Crypto(e.to_string()))?;
            post = post.header(dpop::HEADER, proof);
        }
        let (status, headers, body) = send_json_with_headers(post, &url).await?;
        let unexpected = |detail: String| LoginError::UnexpectedResponse {
            url: url.clone(),
            status: status.as_u16(),
            detail,
        };
        let refusal = (!status.is_success())
            .then(|| serde_json::from_slice::<ErrorObject>(&body).ok())
            .flatten();
        if let Some(key) = client.dpop() {
            let error = refusal.as_ref().map(|r| r.error.as_str());
            if key.answered(&url, status, &headers, error) == dpop::Retry::Once && !repeated {
                repeated = true;
                continue;
            }
        }
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| unexpected(format!("not a token response: {e}")));
        }
        return match refusal {
            Some(refusal) => Err(LoginError::TokenEndpoint {
                status: status.as_u16(),
                error: refusal.error,
                description: refusal.error_description,
            }),
            None => Err(unexpected(excerpt(&body))),
        };
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
            token_type: "DPoP".into(),
            refresh_token: Some("secret-refresh".into()),
            issued_token_type: None,
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

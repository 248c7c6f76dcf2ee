//! Why a login failed, in words a person at a terminal can act on. What the
//! authorization server said is kept as it said it: `error` and `error_description`.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The token endpoint answered an error object (RFC 6749 §5.2).
    #[error("the token endpoint refused the request (HTTP {status}): {error}{detail}", detail = described(.description))]
    TokenEndpoint {
        status: u16,
        error: String,
        description: Option<String>,
    },
    /// The authorization server sent the browser back with an error (RFC 6749 §4.1.2.1).
    #[error("the authorization server refused the login: {error}{detail}", detail = described(.description))]
    Authorization {
        error: String,
        description: Option<String>,
    },
    /// RFC 6749 §10.12: an answer at the redirect URI that this login did not ask for.
    #[error(
        "the answer at the redirect URI does not carry this login's state: refused (a forged or stale request)"
    )]
    StateMismatch,
    /// RFC 9207 §2.4: the answer names another issuer, or none.
    #[error("the answer at the redirect URI comes from issuer {found:?}, not {expected}: refused")]
    IssuerMismatch {
        expected: String,
        found: Option<String>,
    },
    /// RFC 6749 §3.1: response parameters must not be included more than once.
    #[error("the answer at the redirect URI carries {0} more than once: refused")]
    RepeatedParameter(String),
    #[error("the answer at the redirect URI carries neither a code nor an error")]
    MissingCode,
    #[error("no answer from the browser within {0:?}")]
    Timeout(Duration),
    #[error("cannot listen on 127.0.0.1 for the redirect: {0}")]
    Loopback(std::io::Error),
    #[error("could not open a browser ({0}); open the URL by hand")]
    OpenBrowser(String),
    #[error("{url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("unexpected answer from {url} (HTTP {status}): {detail}")]
    UnexpectedResponse {
        url: String,
        status: u16,
        detail: String,
    },
    /// OpenID Connect Core §3.1.3.7: the id_token is not the issuer's, not for this
    /// client, expired, or not of this login.
    #[error("the id_token is refused: {0}")]
    IdToken(String),
    #[error("the client's private key: {0}")]
    ClientKey(String),
    #[error("cryptography failed: {0}")]
    Crypto(String),
    #[error("cannot set up the HTTP client: {0}")]
    HttpClient(String),
    /// A login page answered with a message for the person (a wrong password, an
    /// unknown client, …); `message` is the page's text.
    #[error("the login page says (HTTP {status}): {message}")]
    Page { status: u16, message: String },
    /// The scripted browser met a page it cannot fill.
    #[error("the scripted browser is stuck at {url}: {reason}")]
    Scripted { url: String, reason: String },
}

impl LoginError {
    /// The OAuth `error` code the server sent, from the token endpoint or the redirect.
    pub fn oauth_error(&self) -> Option<&str> {
        match self {
            Self::TokenEndpoint { error, .. } | Self::Authorization { error, .. } => {
                Some(error.as_str())
            }
            _ => None,
        }
    }

    /// A transport failure at `url`, with the whole chain of causes (reqwest's own
    /// message leaves out why the connection failed).
    pub(super) fn unreachable(url: &str, error: &reqwest::Error) -> Self {
        let mut reason = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            reason.push_str(": ");
            reason.push_str(&cause.to_string());
            source = cause.source();
        }
        Self::Unreachable {
            url: url.to_owned(),
            reason,
        }
    }
}

fn described(description: &Option<String>) -> String {
    match description {
        Some(text) if !text.is_empty() => format!(" ({text})"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_what_the_server_said() {
        let refused = LoginError::TokenEndpoint {
            status: 401,
            error: "invalid_client".into(),
            description: Some("unknown key".into()),
        };
        assert_eq!(
            refused.to_string(),
            "the token endpoint refused the request (HTTP 401): invalid_client (unknown key)"
        );
        assert_eq!(refused.oauth_error(), Some("invalid_client"));
        let denied = LoginError::Authorization {
            error: "access_denied".into(),
            description: None,
        };
        assert_eq!(
            denied.to_string(),
            "the authorization server refused the login: access_denied"
        );
        assert_eq!(LoginError::StateMismatch.oauth_error(), None);
    }
}

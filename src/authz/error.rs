//! RFC 6749 §5.2 error objects of the OAuth endpoints.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use super::dpop::{DpopError, NONCE_HEADER};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    /// RFC 8707 §2.
    InvalidTarget,
    /// RFC 9449 §5: the DPoP proof failed, or a proof was required.
    InvalidDpopProof,
    /// RFC 9449 §8: the proof must carry the server nonce given in `DPoP-Nonce`.
    UseDpopNonce,
    ServerError,
    /// The database cannot be reached now (503 with `Retry-After`).
    TemporarilyUnavailable,
}

impl OAuthErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[error("{error:?}: {error_description}")]
pub struct OAuthError {
    pub error: OAuthErrorCode,
    pub error_description: String,
    /// A body over the size limit is answered 413, still with an OAuth error object.
    #[serde(skip)]
    pub too_large: bool,
    /// A nonce for the client's next DPoP proof (the `DPoP-Nonce` header, RFC 9449 §8).
    #[serde(skip)]
    pub dpop_nonce: Option<String>,
}

impl OAuthError {
    pub fn new(error: OAuthErrorCode, description: impl Into<String>) -> Self {
        Self {
            error,
            error_description: description.into(),
            too_large: false,
            dpop_nonce: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, description)
    }

    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidClient, description)
    }

    /// A failure of ours, logged with a stable code; when the database cannot be
    /// reached, `temporarily_unavailable` (503 with `Retry-After`) instead.
    pub fn server_error<E: std::fmt::Display + std::any::Any>(
        code: &'static str,
        error: &E,
    ) -> Self {
        if crate::fault::database_unreachable(error) {
            tracing::warn!(code, error = %error, "database unreachable at an OAuth endpoint");
            return Self::new(
                OAuthErrorCode::TemporarilyUnavailable,
                "the service's database cannot be reached now; retry shortly",
            );
        }
        tracing::error!(code, error = %error, "internal error at an OAuth endpoint");
        Self::new(
            OAuthErrorCode::ServerError,
            format!("internal error {code}; the operator's log has the details"),
        )
    }
}

impl From<DpopError> for OAuthError {
    fn from(e: DpopError) -> Self {
        match e {
            DpopError::Invalid(reason) => Self::new(OAuthErrorCode::InvalidDpopProof, reason),
            DpopError::UseNonce(nonce) => Self {
                dpop_nonce: Some(nonce),
                ..Self::new(
                    OAuthErrorCode::UseDpopNonce,
                    "the DPoP proof must carry the server's nonce given in the DPoP-Nonce header",
                )
            },
            DpopError::Internal(e) => Self::server_error("E-DPOP", &e),
        }
    }
}

impl From<sea_orm::DbErr> for OAuthError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::server_error("E-DB", &e)
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        if self.too_large {
            return StatusCode::PAYLOAD_TOO_LARGE;
        }
        match self.error {
            // RFC 6749 §5.2: 401 for a failed client authentication.
            OAuthErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            OAuthErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            OAuthErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
        if self.error == OAuthErrorCode::TemporarilyUnavailable {
            response.insert_header((header::RETRY_AFTER, crate::problem::RETRY_AFTER_SECONDS));
        }
        if let Some(nonce) = &self.dpop_nonce {
            response.insert_header((NONCE_HEADER, nonce.as_str()));
        }
        response.json(self)
    }
}

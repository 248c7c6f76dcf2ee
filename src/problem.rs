//! RFC 9457 problem details: the one error shape of every resource API.
//!
//! Each context converts its own error enum into a [`Problem`] at the edge. Internal
//! failures get a stable code in the log and a generic answer: no internals leak.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

pub const CONTENT_TYPE: &str = "application/problem+json";

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// Serialized as the `type` URI `urn:depot:problem:{slug}`.
    #[serde(rename = "type", serialize_with = "type_uri")]
    pub slug: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// The request field at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Extension members (RFC 9457 §3.2), e.g. the keys that block a registration.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub members: Option<Box<serde_json::Map<String, serde_json::Value>>>,
    /// Extra response headers, such as `WWW-Authenticate` (RFC 6750).
    #[serde(skip)]
    pub headers: Vec<(&'static str, String)>,
}

fn type_uri<S: serde::Serializer>(slug: &&'static str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&format_args!("urn:depot:problem:{slug}"))
}

impl Problem {
    pub fn new(status: StatusCode, slug: &'static str, detail: impl Into<String>) -> Self {
        Self {
            slug,
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
            members: None,
            headers: Vec::new(),
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    /// 422 naming the field at fault.
    pub fn invalid_field(field: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        let field = field.into();
        let mut p = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-field",
            format!("{field}: {detail}"),
        );
        p.field = Some(field);
        p
    }

    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", detail)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }

    /// 503: the database cannot be reached now; retry in a second.
    pub fn database_unreachable() -> Self {
        Self::unavailable("the service's database cannot be reached now; retry shortly")
            .with_header("Retry-After", RETRY_AFTER_SECONDS.to_owned())
    }

    /// A failure of ours: logged with a stable code, answered without detail. When the
    /// database cannot be reached, a 503 with `Retry-After` instead: nothing was decided,
    /// and the same request may be sent again.
    pub fn internal<E: std::fmt::Display + std::any::Any>(code: &'static str, error: &E) -> Self {
        if crate::fault::database_unreachable(error) {
            tracing::warn!(code, error = %error, "database unreachable");
            return Self::database_unreachable();
        }
        tracing::error!(code, error = %error, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("internal error {code}; the operator's log has the details"),
        )
    }

    /// Adds an extension member.
    pub fn with_member(mut self, name: &str, value: serde_json::Value) -> Self {
        self.members
            .get_or_insert_default()
            .insert(name.to_owned(), value);
        self
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE)));
        response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        for (name, value) in &self.headers {
            response.append_header((*name, value.as_str()));
        }
        response.json(self)
    }
}

/// The `Retry-After` of a 503 for an unreachable dependency.
pub const RETRY_AFTER_SECONDS: &str = "1";

/// A database failure as an internal problem with the stable code `code`, for
/// `map_err` on a store call.
pub fn db_error(code: &'static str) -> impl Fn(sea_orm::DbErr) -> Problem {
    move |e| Problem::internal(code, &e)
}

impl From<sea_orm::DbErr> for Problem {
    fn from(e: sea_orm::DbErr) -> Self {
        Problem::internal("E-DB", &e)
    }
}

/// Body-extractor errors of the JSON APIs, as problems: malformed JSON is 400, JSON of
/// the wrong shape 422 (serde names the field), too large 413, wrong type 415.
pub fn json_error(err: actix_web::error::JsonPayloadError, limit: usize) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let problem = match &err {
        E::Overflow { .. } | E::OverflowKnownLength { .. } => Problem::payload_too_large(limit),
        E::ContentType => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "the body must be application/json",
        ),
        E::Deserialize(e) if e.is_data() => Problem::unprocessable(e.to_string()),
        E::Deserialize(e) => Problem::bad_request(format!("malformed JSON: {e}")),
        other => Problem::bad_request(other.to_string()),
    };
    problem.into()
}

/// Path and query extractor errors, as problems.
pub fn query_error(err: actix_web::error::QueryPayloadError) -> actix_web::Error {
    Problem::bad_request(err.to_string()).into()
}

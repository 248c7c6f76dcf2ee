//! The root span of every request, without personal data: the route's pattern
//! (`/admin/persons/{ssin}`) stands for the path, and the query string, which carries
//! identifiers (`/keys/jwks?identity_value=…`), is never recorded. The client's
//! address is the one the trusted proxies name (`DEPOT_TRUSTED_PROXIES`), never what
//! a forwarding header from anyone else claims. The rest is what `tracing-actix-web`'s
//! default span holds.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage as _, web};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};

use super::forwarded;
use crate::state::AppState;

pub struct PrivateSpans;

impl RootSpanBuilder for PrivateSpans {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "(no route)".to_owned());
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        let client_ip = request
            .app_data::<web::Data<AppState>>()
            .map(|state| {
                forwarded::origin_of(&state.config.trusted_proxies, request.request())
                    .address_text()
            })
            .unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %route,
            http.client_ip = %client_ip,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            request_id = %request_id,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

//! The time-stamp authority's HTTP surface (API.md, Time-stamp authority; RFC 3161
//! § 3.4): `POST /tsa` and `GET /tsa/certs`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};

use super::authority;
use crate::authz::guard::{Authorized, needs};
use crate::body;
use crate::problem::Problem;
use crate::state::AppState;

/// A TimeStampReq is a few hundred bytes; anything far larger is not one.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(stamp).service(certificates);
}

#[utoipa::path(post, path = "/tsa", tag = "tsa",
    request_body(content_type = "application/timestamp-query", description = "RFC 3161 TimeStampReq (DER); SHA-256, SHA-384 or SHA-512 imprint"),
    responses((status = 200, description = "application/timestamp-reply: a TimeStampResp, granted, or rejected with badDataFormat, badAlg, unacceptedPolicy or unacceptedExtension"),
        (status = 401, description = "no valid token"), (status = 403, description = "no tsa scope or audience"),
        (status = 413, description = "body over 8 KiB"), (status = 415, description = "not application/timestamp-query"),
        (status = 503, description = "no serial number could be allocated (database unavailable)")))]
#[post("/tsa")]
pub async fn stamp(
    state: web::Data<AppState>,
    _: Authorized<needs::Timestamp>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    if !body::media_type(&req).eq_ignore_ascii_case("application/timestamp-query") {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "the body must be application/timestamp-query (an RFC 3161 TimeStampReq)",
        ));
    }
    let body = body::read(payload, MAX_REQUEST_BYTES).await?;
    let tsa = &state.tsa;
    let reply = match tsa.check(&body) {
        Err(refusal) => {
            tracing::info!(failure = ?refusal.failure, reason = %refusal.text, "timestamp request refused");
            authority::refuse(&refusal)
        }
        Ok(request) => {
            let serial = state.tsa_serials.next().await.map_err(|e| {
                tracing::error!(error = %e, "no TSA serial number");
                Problem::unavailable("the time-stamp authority cannot allocate a serial number")
                    .with_header("Retry-After", "5".into())
            })?;
            tsa.sign(&request, serial, state.clock.now())
        }
    }
    .map_err(|e| Problem::internal("tsa-sign", &e))?;
    Ok(HttpResponse::Ok()
        .content_type("application/timestamp-reply")
        .body(reply))
}

#[utoipa::path(get, path = "/tsa/certs", tag = "tsa",
    responses((status = 200, description = "application/pem-certificate-chain: the TSA certificate, then its issuers up to the root")))]
#[get("/tsa/certs")]
pub async fn certificates(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/pem-certificate-chain")
        .body(state.tsa.chain_pem().to_owned())
}

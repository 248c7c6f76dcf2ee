//! `GET /saml/metadata` (API.md, Token exchange): where SOAP services find the
//! certificate that verifies the assertions of the token exchange.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpResponse, get, web};

use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(metadata);
}

#[utoipa::path(get, path = "/saml/metadata", tag = "oauth",
    responses((status = 200, description = "application/samlmetadata+xml: the SAML 2.0 EntityDescriptor (entityID = the issuer) whose signing KeyDescriptor holds the certificate of the token exchange's assertions")))]
#[get("/saml/metadata")]
pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/samlmetadata+xml")
        .insert_header((CACHE_CONTROL, "public, max-age=3600"))
        .body(state.saml.metadata())
}

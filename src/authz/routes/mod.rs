//! The authorization server's HTTP surface; the only authz code that sees actix.

pub mod admin;
pub mod discovery;
pub mod introspect;
pub mod revoke;
pub mod token;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(discovery::openid_configuration)
        .service(discovery::oauth_authorization_server)
        .service(discovery::jwks)
        .service(token::token)
        .service(introspect::introspect)
        .service(revoke::revoke)
        .service(admin::create_organization)
        .service(admin::get_organization)
        .service(admin::create_client)
        .service(admin::get_client)
        .service(admin::delete_client);
}

/// The `Authorization` header as text, if any.
pub(crate) fn authorization(req: &actix_web::HttpRequest) -> Option<&str> {
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

/// Reads an OAuth form body under the configured limit.
pub(crate) async fn read_form(
    req: &actix_web::HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<crate::authz::form::OAuthForm, crate::authz::error::OAuthError> {
    use crate::authz::error::OAuthError;
    let body = crate::body::read(payload, limit)
        .await
        .map_err(|p| OAuthError {
            too_large: p.status == 413,
            ..OAuthError::invalid_request(p.detail)
        })?;
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    crate::authz::form::OAuthForm::parse(content_type, &body)
}

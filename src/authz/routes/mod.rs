//! The authorization server's HTTP surface; the only authz code that sees actix.

pub mod account;
pub mod account_absences;
pub mod admin;
pub mod authorize;
pub mod delegations;
pub mod discovery;
pub mod federation;
pub mod html;
pub mod interaction;
pub mod introspect;
pub mod login;
pub mod revoke;
pub mod token;
pub mod userinfo;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(discovery::openid_configuration)
        .service(discovery::oauth_authorization_server)
        .service(discovery::jwks)
        .service(token::token)
        .service(introspect::introspect)
        .service(revoke::revoke)
        .service(crate::people::routes::create_organization)
        .service(crate::people::routes::get_organization)
        .service(admin::create_client)
        .service(admin::get_client)
        .service(admin::delete_client)
        .service(delegations::create_delegation)
        .service(delegations::list_delegations)
        .service(delegations::get_delegation)
        .service(delegations::end_delegation)
        .service(crate::people::routes::create_person)
        .service(crate::people::routes::get_person)
        .service(authorize::authorize_get)
        .service(authorize::authorize_post)
        .service(federation::start)
        .service(federation::callback)
        .service(login::show)
        .service(login::take_login)
        .service(login::take_profile)
        .service(login::take_consent)
        .service(account::login_start)
        .service(account::account)
        .service(account::revoke_consent)
        .service(account::revoke_exchange)
        .service(account::keys)
        .service(account::rename_key)
        .service(account::revoke_key)
        .service(account::logout)
        .service(account_absences::absences)
        .service(account_absences::set_absence)
        .service(account_absences::end_absence)
        .service(userinfo::userinfo_get)
        .service(userinfo::userinfo_post);
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

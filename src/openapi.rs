//! `GET /openapi.json`, generated from the handlers' annotations.

use actix_web::{HttpResponse, get};
use utoipa::OpenApi;

use crate::authz;
use crate::ops;

#[derive(OpenApi)]
#[openapi(
    info(title = "eHealth depot", description = "Secure-messaging depot with its co-hosted authorities. The contract is API.md."),
    paths(
        authz::routes::discovery::openid_configuration,
        authz::routes::discovery::oauth_authorization_server,
        authz::routes::discovery::jwks,
        authz::saml::routes::metadata,
        authz::routes::token::token,
        authz::routes::introspect::introspect,
        authz::routes::revoke::revoke,
        crate::people::routes::create_organization,
        crate::people::routes::get_organization,
        authz::routes::admin::create_client,
        authz::routes::admin::get_client,
        authz::routes::admin::delete_client,
        authz::routes::delegations::create_delegation,
        authz::routes::delegations::list_delegations,
        authz::routes::delegations::get_delegation,
        authz::routes::delegations::end_delegation,
        crate::people::routes::create_person,
        crate::people::routes::get_person,
        authz::routes::authorize::authorize_get,
        authz::routes::userinfo::userinfo_get,
        crate::keys::routes::start_registration,
        crate::keys::routes::finish_registration,
        crate::keys::routes::own_keys,
        crate::keys::routes::revoke_own_key,
        crate::keys::routes::jwks,
        crate::keys::routes::admin::add_key,
        crate::keys::routes::admin::revoke_key,
        crate::keys::routes::log::tree_head,
        crate::keys::routes::log::inclusion,
        crate::keys::routes::log::consistency,
        crate::keys::routes::log::entries,
        crate::depot::routes::send,
        crate::depot::routes::list,
        crate::depot::routes::fetch,
        crate::depot::routes::read,
        crate::depot::routes::remove,
        crate::depot::routes::box_summary,
        crate::depot::absences::routes::set,
        crate::depot::absences::routes::list,
        crate::depot::absences::routes::remove,
        crate::depot::absences::routes::lookup,
        crate::symkeys::routes::create,
        crate::symkeys::routes::fetch,
        crate::symkeys::routes::remove,
        crate::symkeys::routes::audit_log,
        crate::tsa::routes::stamp,
        crate::tsa::routes::certificates,
        ops::routes::live,
        ops::routes::ready,
        ops::routes::metrics,
    ),
    tags(
        (name = "oauth", description = "OAuth 2 / OpenID Connect endpoints"),
        (name = "admin", description = "API portal: organizations, clients, persons and delegations (scope admin)"),
        (name = "keys", description = "Keystore: WebAuthn registration, the owner's keys, JWKS search, the transparency log"),
        (name = "depot", description = "Sealed messages: send, list, fetch, receipts, delete; absences and substitutes"),
        (name = "symkeys", description = "Symmetric keys with access policies, for unknown addressees (KGSS)"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

#[get("/openapi.json")]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

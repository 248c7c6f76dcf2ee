//! Authorization server metadata (RFC 8414) at both well-known paths, and the JWKS.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpResponse, get, web};
use serde_json::{Value, json};

use crate::authz::jwks::SigAlg;
use crate::authz::scope::{Acr, Scope};
use crate::problem::Problem;
use crate::state::AppState;

fn metadata(state: &AppState) -> Value {
    let url = |path: &str| state.config.url(path);
    let assertion_algs: Vec<&str> = SigAlg::ALL.iter().map(|a| a.as_str()).collect();
    let scopes: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
    let acrs: Vec<&str> = Acr::ALL.iter().map(|a| a.as_str()).collect();
    json!({
        "issuer": state.config.issuer,
        "authorization_endpoint": url("/oauth2/authorize"),
        "token_endpoint": url("/oauth2/token"),
        "jwks_uri": url("/oauth2/jwks"),
        "introspection_endpoint": url("/oauth2/introspect"),
        "revocation_endpoint": url("/oauth2/revoke"),
        "userinfo_endpoint": url("/oauth2/userinfo"),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": crate::authz::routes::token::SUPPORTED,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "none"],
        "dpop_signing_alg_values_supported": crate::authz::dpop::ALGS,
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "introspection_endpoint_auth_methods_supported": ["private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "revocation_endpoint_auth_methods_supported": ["private_key_jwt", "none"],
        "revocation_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "code_challenge_methods_supported": ["S256"],
        "acr_values_supported": acrs,
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "at_hash", "name", "identity", "permissions", "keys"],
        "claim_types_supported": ["normal"],
        "prompt_values_supported": ["none", "login", "consent"],
        "ui_locales_supported": ["en", "nl", "fr"],
        "userinfo_signing_alg_values_supported": [],
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "resource_indicators_supported": true,
    })
}

fn cached_json(body: &Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "public, max-age=60"))
        .json(body)
}

/// OpenID Connect Discovery 1.0.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "oauth", responses((status = 200, description = "provider metadata")))]
#[get("/.well-known/openid-configuration")]
pub async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    cached_json(&metadata(&state))
}

/// RFC 8414 metadata (the same document).
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth", responses((status = 200, description = "authorization server metadata")))]
#[get("/.well-known/oauth-authorization-server")]
pub async fn oauth_authorization_server(state: web::Data<AppState>) -> HttpResponse {
    cached_json(&metadata(&state))
}

/// The public keys that verify our tokens, including retired keys whose tokens may
/// still be alive.
#[utoipa::path(get, path = "/oauth2/jwks", tag = "oauth", responses((status = 200, description = "JWK Set (RFC 7517)")))]
#[get("/oauth2/jwks")]
pub async fn jwks(state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let ring = state
        .keys
        .ring()
        .await
        .map_err(|e| Problem::internal("E-KEYS", &e))?;
    Ok(HttpResponse::Ok()
        .content_type("application/jwk-set+json")
        .insert_header((CACHE_CONTROL, "public, max-age=60"))
        .json(ring.jwks()))
}

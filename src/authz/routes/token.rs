//! `POST /oauth2/token` (RFC 6749 §3.2).

use actix_web::http::header::{CACHE_CONTROL, PRAGMA};
use actix_web::{HttpRequest, HttpResponse, post, web};

use super::{authorization, read_form};
use crate::authz::client_auth::authenticate;
use crate::authz::dpop;
use crate::authz::error::{OAuthError, OAuthErrorCode};
use crate::authz::grants::{authorization_code, client_credentials, refresh_token, token_exchange};
use crate::authz::tokens::{TokenResponse, mint};
use crate::ops::metrics::{GrantLabels, TokenRefusalLabels};
use crate::state::AppState;

/// The grant types of this endpoint.
pub const SUPPORTED: [&str; 4] = [
    "authorization_code",
    "refresh_token",
    "client_credentials",
    token_exchange::GRANT_TYPE,
];

/// Issues an access token.
#[utoipa::path(
    post, path = "/oauth2/token", tag = "oauth",
    params(("DPoP" = Option<String>, Header, description = "a DPoP proof (RFC 9449): the token is then bound to its key")),
    request_body(content_type = "application/x-www-form-urlencoded", description = "grant_type; client_assertion_type and client_assertion (or client_id for a public client); scope, resource; code, redirect_uri, code_verifier; refresh_token; for token exchange (RFC 8693) subject_token, subject_token_type, actor_token, actor_token_type, requested_token_type, audience"),
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, description = "RFC 6749 error object"),
        (status = 401, description = "invalid_client"),
    )
)]
#[post("/oauth2/token")]
pub async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    // One of SUPPORTED, never what the client wrote (labels are a closed set).
    let mut grant_type = "unknown";
    let result = issue(&state, &req, payload, &mut grant_type).await;
    match &result {
        Ok(_) => state
            .metrics
            .tokens_issued
            .get_or_create(&GrantLabels { grant_type })
            .inc(),
        Err(e) => state
            .metrics
            .tokens_refused
            .get_or_create(&TokenRefusalLabels {
                grant_type,
                reason: e.error.as_str(),
            })
            .inc(),
    };
    let response = result?;
    let mut ok = HttpResponse::Ok();
    ok.insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((PRAGMA, "no-cache"));
    // RFC 9449 §8.2: the nonce for the client's next proof.
    if let Some(nonce) = state.verifier.dpop.fresh_nonce() {
        ok.insert_header((dpop::NONCE_HEADER, nonce));
    }
    Ok(ok.json(response))
}

async fn issue(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    label: &mut &'static str,
) -> Result<TokenResponse, OAuthError> {
    let form = read_form(req, payload, state.config.settings.service.body_limit_bytes).await?;
    let grant_type = form.require("grant_type")?;
    // An unsupported grant is refused before authentication, so that it consumes no jti.
    let Some(supported) = SUPPORTED.iter().find(|g| **g == grant_type) else {
        *label = "unsupported";
        return Err(OAuthError::new(
            OAuthErrorCode::UnsupportedGrantType,
            format!("the grant type {grant_type:?} is not supported"),
        ));
    };
    *label = supported;
    let endpoint = state.config.url("/oauth2/token");
    // RFC 9449 §5: a proof of possession binds what is issued to its key. It is checked
    // before the client, so that a bad proof does not use up the client assertion.
    let proof = match dpop::proof_of(req)? {
        Some(proof) => {
            let target = dpop::Target {
                method: "POST",
                url: &endpoint,
                access_token: None,
                bound_to: None,
            };
            Some(state.verifier.dpop.check(proof, &target).await?)
        }
        None => None,
    };
    let client = authenticate(&state.authz, authorization(req), &form).await?;
    if client.client.dpop_bound_access_tokens && proof.is_none() {
        return Err(OAuthError::new(
            OAuthErrorCode::InvalidDpopProof,
            "this client's tokens must be DPoP-bound: send a DPoP proof",
        ));
    }
    let jkt = proof.as_ref().map(|p| p.jkt.as_str());
    match grant_type {
        "authorization_code" => {
            authorization_code::exchange(&state.authz, &client, &form, jkt).await
        }
        "refresh_token" => refresh_token::refresh(&state.authz, &client, &form, jkt).await,
        token_exchange::GRANT_TYPE => {
            let decided =
                token_exchange::decide(&state.authz, &state.verifier, &client, &form, jkt).await?;
            let now = state.clock.now();
            match decided.requested {
                token_exchange::Requested::AccessToken => {
                    token_exchange::issue_access(&state.authz, decided, now).await
                }
                token_exchange::Requested::Saml2 => {
                    token_exchange::assertion::issue(&state.authz, &state.saml, decided, now).await
                }
            }
        }
        _ => {
            let mut grant = client_credentials::grant(&state.authz, &client.client, &form).await?;
            grant.keys = state
                .keystore
                .references(
                    &state.db,
                    &format!("client:{}", client.client.id),
                    client.client.id.as_str(),
                    state.clock.now(),
                )
                .await
                .map_err(|e| OAuthError::server_error("E-KEYS-CLAIM", &e))?;
            grant.jkt = jkt.map(str::to_owned);
            let ring = state
                .keys
                .ring()
                .await
                .map_err(|e| OAuthError::server_error("E-KEYS", &e))?;
            let ttl = i64::from(state.config.settings.authz.access_token_ttl_seconds);
            mint(&ring, &state.config.issuer, state.clock.now(), ttl, grant)
                .map(|m| m.response)
                .map_err(|e| OAuthError::server_error("E-SIGN", &e))
        }
    }
}

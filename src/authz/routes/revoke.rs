//! `POST /oauth2/revoke` (RFC 7009): a client revokes one of its own tokens. Our
//! resource modules refuse a revoked token at once, and introspection says inactive.

use actix_web::{HttpRequest, HttpResponse, post, web};

use super::{authorization, read_form};
use crate::authz::bearer::TokenError;
use crate::authz::client_auth::authenticate;
use crate::authz::error::{OAuthError, OAuthErrorCode};
use crate::authz::grants::person::access_expiry;
use crate::authz::grants::store as grant_store;
use crate::authz::store;
use crate::state::AppState;

/// Revokes an access token or a refresh token.
#[utoipa::path(
    post, path = "/oauth2/revoke", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", description = "token, token_type_hint, client authentication"),
    responses((status = 200, description = "revoked, or the token was not valid anyway"), (status = 400, description = "a token of another client"), (status = 401, description = "invalid_client"))
)]
#[post("/oauth2/revoke")]
pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let form = read_form(
        &req,
        payload,
        state.config.settings.service.body_limit_bytes,
    )
    .await?;
    let caller = authenticate(&state.authz, authorization(&req), &form).await?;
    let token = form.require("token")?;
    // Our refresh tokens are opaque (no dots); revoking one revokes its family and the
    // access tokens issued with it (RFC 7009 §2.1).
    if !token.contains('.') {
        return revoke_refresh(&state, caller.client.id.as_str(), token).await;
    }
    let claims = match state.verifier.verify(token).await {
        Ok(claims) => claims,
        Err(TokenError::Internal(e)) => return Err(OAuthError::server_error("E-TOKEN", &e)),
        // RFC 7009 §2.2: an invalid, expired or already revoked token is no error.
        Err(_) => return Ok(HttpResponse::Ok().finish()),
    };
    if claims.client_id != caller.client.id.as_str() {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "the token was not issued to this client",
        ));
    }
    // Kept while the verifier could still accept it: until exp plus the leeway.
    let keep_until = claims.exp + i64::from(state.config.settings.authz.clock_leeway_seconds);
    let expires_at =
        chrono::DateTime::from_timestamp(keep_until, 0).unwrap_or_else(|| state.clock.now());
    store::revoke_token(
        &state.db,
        &claims.jti,
        &claims.client_id,
        state.clock.now(),
        expires_at,
    )
    .await
    .map_err(|e| OAuthError::server_error("E-REVOKE", &e))?;
    tracing::info!(jti = %claims.jti, client_id = %claims.client_id, "access token revoked");
    Ok(HttpResponse::Ok().finish())
}

async fn revoke_refresh(
    state: &AppState,
    client_id: &str,
    token: &str,
) -> Result<HttpResponse, OAuthError> {
    let digest = crate::crypto::token_digest(token);
    let Some(stored) = grant_store::find_refresh(&state.db, &digest)
        .await
        .map_err(|e| OAuthError::server_error("E-REVOKE", &e))?
    else {
        return Ok(HttpResponse::Ok().finish());
    };
    if stored.client_id != client_id {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "the token was not issued to this client",
        ));
    }
    grant_store::revoke_family(
        &state.db,
        &stored.family,
        state.clock.now(),
        access_expiry(&state.authz),
    )
    .await
    .map_err(|e| OAuthError::server_error("E-REVOKE", &e))?;
    tracing::info!(client_id, "refresh token family revoked by its client");
    Ok(HttpResponse::Ok().finish())
}

//! `POST /oauth2/introspect` (RFC 7662), open to confidential and system clients.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse, post, web};
use serde_json::{Value, json};

use super::{authorization, read_form};
use crate::authz::bearer::TokenError;
use crate::authz::client_auth::{AuthMethod, authenticate};
use crate::authz::error::{OAuthError, OAuthErrorCode};
use crate::state::AppState;

/// Tells whether a token is active, and what it says.
#[utoipa::path(
    post, path = "/oauth2/introspect", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", description = "token, token_type_hint, client authentication"),
    responses((status = 200, description = "{\"active\": …} (RFC 7662 §2.2)"), (status = 401, description = "invalid_client"))
)]
#[post("/oauth2/introspect")]
pub async fn introspect(
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
    if caller.method != AuthMethod::PrivateKeyJwt {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "introspection is open to confidential and system clients only",
        ));
    }
    let token = form.require("token")?;
    let answer = match state.verifier.verify(token).await {
        Ok(claims) => {
            // A token of a client that no longer exists is no longer active.
            let issuer_client = state
                .authz
                .clients
                .get(&claims.client_id)
                .await
                .map_err(|e| OAuthError::server_error("E-CLIENT", &e))?;
            match (issuer_client, serde_json::to_value(&claims)) {
                (Some(_), Ok(Value::Object(mut map))) => {
                    map.insert("active".into(), json!(true));
                    map.insert("token_type".into(), json!(claims.token_type()));
                    Value::Object(map)
                }
                _ => json!({"active": false}),
            }
        }
        Err(TokenError::Internal(e)) => return Err(OAuthError::server_error("E-TOKEN", &e)),
        Err(_) => json!({"active": false}),
    };
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(answer))
}

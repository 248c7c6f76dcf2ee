//! `GET|POST /oauth2/userinfo` (OpenID Connect Core §5.3): who the access token's
//! person is. Any of our valid access tokens with scope `openid`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde_json::json;

use crate::authz::bearer::{TokenError, challenge_realm};
use crate::authz::scope::Scope;
use crate::people::{self, Ssin};
use crate::problem::Problem;
use crate::state::AppState;

const REALM: &str = "userinfo";

#[utoipa::path(get, path = "/oauth2/userinfo", tag = "oauth",
    responses((status = 200, description = "sub, name and identity of the person"), (status = 401, description = "no valid token"), (status = 403, description = "no openid scope")))]
#[get("/oauth2/userinfo")]
pub async fn userinfo_get(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    userinfo(&state, &req).await
}

#[post("/oauth2/userinfo")]
pub async fn userinfo_post(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    userinfo(&state, &req).await
}

async fn userinfo(state: &AppState, req: &HttpRequest) -> Result<HttpResponse, Problem> {
    let fail = |e: TokenError| challenge_realm(e, REALM);
    let presented = state.verifier.authenticate(req).await.map_err(fail)?;
    let claims = presented.claims;
    if !claims.scopes().contains(Scope::Openid) {
        return Err(fail(TokenError::Failed {
            scheme: presented.scheme,
            error: Box::new(TokenError::Scope(Scope::Openid)),
        }));
    }
    let name = match Ssin::parse(&claims.sub) {
        Ok(ssin) => people::store::get_person(&state.db, &ssin)
            .await
            .map_err(|e| Problem::internal("E-USERINFO", &e))?
            .map(|p| p.name),
        Err(_) => None,
    };
    let mut body = json!({"sub": claims.sub, "identity": claims.identity});
    if let Some(name) = name {
        body["name"] = json!(name);
    }
    Ok(HttpResponse::build(StatusCode::OK)
        .insert_header(("cache-control", "no-store"))
        .json(body))
}

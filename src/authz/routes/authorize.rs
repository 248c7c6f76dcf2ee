//! `GET|POST /oauth2/authorize` (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2).
//! Errors before the client and its redirect URI are trusted are a 400 page; after,
//! they go back to the client. When the browser's session, the profile and the consent
//! already suffice, the code is issued at once; otherwise the person is sent to
//! `/login/{id}`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};

use super::html::{
    self as page, BROWSER_COOKIE, current_session, error_page, internal_page, see_other,
};
use super::interaction::{Decision, decide, new_interaction, session_person};
use crate::authz::login::flow::Step;
use crate::authz::login::i18n::Lang;
use crate::authz::login::request::{
    AuthorizeError, AuthorizeParams, check, client_and_redirect, redirect_to_client,
    trusted_redirect,
};
use crate::authz::login::store::{self, Purpose};
use crate::authz::params::Params;
use crate::authz::store as client_store;
use crate::state::AppState;

/// Starts an authorization (query parameters).
#[utoipa::path(get, path = "/oauth2/authorize", tag = "oauth",
    params(("response_type" = String, Query, description = "code"), ("client_id" = String, Query), ("redirect_uri" = String, Query),
        ("scope" = String, Query), ("state" = Option<String>, Query), ("nonce" = Option<String>, Query),
        ("code_challenge" = String, Query), ("code_challenge_method" = String, Query, description = "S256"),
        ("resource" = Option<String>, Query), ("prompt" = Option<String>, Query), ("max_age" = Option<u32>, Query),
        ("acr_values" = Option<String>, Query), ("ui_locales" = Option<String>, Query)),
    responses((status = 303, description = "to the login pages, or back to the client with a code or an error"),
        (status = 400, description = "HTML page: unknown client or unregistered redirect URI")))]
#[get("/oauth2/authorize")]
pub async fn authorize_get(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match Params::parse(req.query_string().as_bytes()) {
        Ok(raw) => handle(&state, &req, raw).await,
        Err(e) => refused_unread(&req, StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

/// Starts an authorization (form body, OpenID Connect Core §3.1.2.1).
#[post("/oauth2/authorize")]
pub async fn authorize_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let limit = state.config.settings.service.body_limit_bytes;
    let body = match crate::body::read(payload, limit).await {
        Ok(body) => body,
        Err(problem) => {
            let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_REQUEST);
            return refused_unread(&req, status, &problem.detail);
        }
    };
    match Params::parse(&body) {
        Ok(raw) => handle(&state, &req, raw).await,
        Err(e) => refused_unread(&req, StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

/// A request refused before its parameters are read (too large, too many): a page,
/// since no redirect URI can be trusted yet.
fn refused_unread(req: &HttpRequest, status: StatusCode, reason: &str) -> HttpResponse {
    tracing::info!(reason, "authorization request refused unread");
    error_page(page::lang(req, None), status, reason)
}

async fn handle(state: &AppState, req: &HttpRequest, raw: Params) -> HttpResponse {
    let lang = page::lang(req, raw.get("ui_locales"));
    // Until the redirect URI is trusted, a refusal is a page, never a redirect.
    let refuse = |e: AuthorizeError| {
        let text = match e {
            AuthorizeError::Page(text) => text,
            AuthorizeError::Redirect { description, .. } => description,
        };
        tracing::info!(reason = %text, "authorization request refused before the redirect URI is trusted");
        error_page(lang, StatusCode::BAD_REQUEST, &text)
    };
    let (client_id, redirect) = match client_and_redirect(&raw) {
        Ok(named) => named,
        Err(e) => return refuse(e),
    };
    let client = match client_store::get_client(&state.db, client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => return refuse(AuthorizeError::Page("unknown client_id".into())),
        Err(e) => return internal_page(lang, "E-CLIENT", &e),
    };
    let redirect_uri = match trusted_redirect(&client, redirect) {
        Ok(uri) => uri,
        Err(e) => return refuse(e),
    };
    let params = match check(
        &raw,
        &client,
        redirect_uri.clone(),
        &state.config.issuer,
        &state.policy,
    ) {
        Ok(params) => params,
        Err(AuthorizeError::Redirect { error, description }) => {
            tracing::info!(client_id = %client.id, error, "authorization request refused");
            let url = redirect_to_client(
                &redirect_uri,
                &state.config.issuer,
                raw.get("state"),
                &[("error", error), ("error_description", &description)],
            );
            return see_other(&url).finish();
        }
        Err(AuthorizeError::Page(text)) => return error_page(lang, StatusCode::BAD_REQUEST, &text),
    };
    start(state, req, lang, params)
        .await
        .unwrap_or_else(|e| internal_page(lang, "E-AUTHORIZE", &e))
}

async fn start(
    state: &AppState,
    req: &HttpRequest,
    _lang: Lang,
    params: AuthorizeParams,
) -> anyhow::Result<HttpResponse> {
    let (browser, new_cookie) = page::browser(req)?;
    let who = session_person(state, current_session(state, req).await?).await?;
    let interaction =
        new_interaction(state, browser, Purpose::Authorize(Box::new(params.clone())))?;
    let mut response = match decide(state, &interaction, &params, who.as_ref(), false).await? {
        Decision::Finish(url) => see_other(&url),
        Decision::Show(step) if params.prompt.none => {
            // OpenID Connect Core §3.1.2.6: nothing may be shown.
            let (error, description) = match step {
                Step::Login { .. } => (
                    "login_required",
                    "the person is not logged in at the level required",
                ),
                Step::ChooseProfile => ("interaction_required", "the person must choose a profile"),
                _ => (
                    "consent_required",
                    "the person has not consented to these scopes",
                ),
            };
            see_other(&redirect_to_client(
                &params.redirect_uri,
                &state.config.issuer,
                params.state.as_deref(),
                &[("error", error), ("error_description", description)],
            ))
        }
        Decision::Show(_) => {
            store::insert_interaction(&state.db, &interaction, state.clock.now()).await?;
            see_other(&format!("/login/{}", interaction.id))
        }
    };
    if let Some(value) = new_cookie {
        response.cookie(page::cookie(state, req, BROWSER_COOKIE, value));
    }
    Ok(response.finish())
}

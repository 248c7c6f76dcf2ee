//! The upstream login's two steps (see `authz::federation`): `POST /login/{id}/federation`
//! sends the browser to the upstream OpenID Provider, `GET /login/federation/callback`
//! takes its answer. Every refusal is an error page, and a refused callback stores
//! nothing (its pending login is used up: a state is good for one callback).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::Duration;
use serde::Deserialize;

use super::html::{self as page, browser_digest, error_page, internal_page, see_other};
use super::login::{interaction_for_form, lang_of, login_action, new_session};
use crate::authz::federation::mapping::{allows, map_claims};
use crate::authz::federation::store::{self as fed_store, FederatedSession, Pending};
use crate::authz::federation::{FederationError, Upstream};
use crate::authz::login::i18n::Lang;
use crate::authz::login::request::redirect_to_client;
use crate::authz::login::store::{self, Purpose};
use crate::authz::scope::Acr;
use crate::crypto::{random_token, secrets_equal, token_digest};
use crate::people;
use crate::state::AppState;

/// The purpose under which the PKCE verifier is sealed at rest.
const VERIFIER_PURPOSE: &str = "federation-pkce-verifier";
/// How long the person has at the upstream provider.
const PENDING_TTL_SECONDS: i64 = 10 * 60;

fn refusal(lang: Lang, error: &FederationError) -> HttpResponse {
    tracing::info!(code = error.code(), reason = %error, "upstream login refused");
    error_page(lang, error.status(), &error.text(lang))
}

fn not_configured(lang: Lang) -> HttpResponse {
    error_page(lang, StatusCode::NOT_FOUND, lang.texts().expired)
}

#[derive(Debug, Deserialize)]
pub struct StartForm {
    csrf: Option<String>,
}

/// "Sign in with <name>": to the upstream authorization endpoint.
#[post("/login/{id}/federation")]
pub async fn start(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<StartForm>,
) -> HttpResponse {
    let interaction = match interaction_for_form(&state, &req, &id, form.csrf.as_deref()).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    let lang = lang_of(&req, Some(&interaction));
    let Some(upstream) = state.federation.clone() else {
        return not_configured(lang);
    };
    let level = match &interaction.purpose {
        Purpose::Authorize(params) => params.required_acr,
        Purpose::Account => Acr::Low,
    };
    let result = async {
        let state_token = random_token()?;
        let nonce = random_token()?;
        let outgoing = match upstream.authorization(&state_token, &nonce, level).await {
            Ok(o) => o,
            Err(e) => return Ok(refusal(lang, &e)),
        };
        let now = state.clock.now();
        let pending = Pending {
            state_digest: token_digest(&state_token),
            interaction_id: interaction.id.clone(),
            browser: interaction.browser.clone(),
            nonce,
            sealed_verifier: state
                .master
                .seal(outgoing.pkce_verifier.as_bytes(), VERIFIER_PURPOSE)?,
            expires_at: (now + Duration::seconds(PENDING_TTL_SECONDS)).min(interaction.expires_at),
        };
        fed_store::insert_pending(&state.db, &pending, now).await?;
        tracing::info!("login sent to the upstream provider");
        anyhow::Ok(see_other(&outgoing.url).finish())
    };
    result
        .await
        .unwrap_or_else(|e| internal_page(lang, "E-FEDERATION-START", &e))
}

#[derive(Debug, Deserialize)]
pub struct Callback {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

/// The upstream's answer (OAuth 2 §4.1.2 / §4.1.2.1, with RFC 9207's `iss`).
#[get("/login/federation/callback")]
pub async fn callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<Callback>,
) -> HttpResponse {
    let lang = page::lang(&req, None);
    let Some(upstream) = state.federation.clone() else {
        return not_configured(lang);
    };
    match finish(&state, &req, &upstream, &query).await {
        Ok(Ok(response)) => response,
        Ok(Err(refused)) => refusal(lang, &refused),
        Err(e) => internal_page(lang, "E-FEDERATION-CALLBACK", &e),
    }
}

async fn finish(
    state: &AppState,
    req: &HttpRequest,
    upstream: &Upstream,
    query: &Callback,
) -> anyhow::Result<Result<HttpResponse, FederationError>> {
    let now = state.clock.now();
    let Some(state_token) = query.state.as_deref() else {
        return Ok(Err(FederationError::UnknownState));
    };
    let digest = token_digest(state_token);
    let Some(pending) = fed_store::pending(&state.db, &digest, now).await? else {
        return Ok(Err(FederationError::UnknownState));
    };
    // Only the browser that started the login may finish it (login CSRF).
    if !browser_digest(req).is_some_and(|b| secrets_equal(&b, &pending.browser)) {
        return Ok(Err(FederationError::OtherBrowser));
    }
    if !fed_store::take(&state.db, &digest).await? {
        return Ok(Err(FederationError::UnknownState));
    }
    if let Some(error) = &query.error {
        return Ok(Err(FederationError::Upstream(error.clone())));
    }
    // RFC 9207: an `iss` that is not the upstream's is an answer from another provider.
    if query
        .iss
        .as_deref()
        .is_some_and(|iss| iss != upstream.config.issuer)
    {
        return Ok(Err(FederationError::IdToken(
            "the callback's iss is not the upstream issuer".into(),
        )));
    }
    let Some(code) = query.code.as_deref().filter(|c| !c.is_empty()) else {
        return Ok(Err(FederationError::MissingCode));
    };
    let Some(interaction) =
        store::live_interaction(&state.db, &pending.interaction_id, now).await?
    else {
        return Ok(Err(FederationError::UnknownState));
    };
    let verifier = String::from_utf8(
        state
            .master
            .open(&pending.sealed_verifier, VERIFIER_PURPOSE)?,
    )?;
    let claims = match upstream.redeem(code, &verifier, &pending.nonce, now).await {
        Ok(claims) => claims,
        Err(refused) => return Ok(Err(refused)),
    };
    let mapped = match map_claims(&upstream.config, &claims) {
        Ok(mapped) => mapped,
        Err(refused) => return Ok(Err(refused)),
    };
    let Some(person) = people::store::get_person(&state.db, &mapped.ssin).await? else {
        return Ok(Err(FederationError::UnknownPerson));
    };
    if let Some(allowed) = &mapped.profiles
        && !person.profiles.iter().any(|p| allows(allowed, p))
    {
        return Ok(Err(FederationError::NoProfile));
    }
    // A level below what the client requires: said to the client, as for a local login
    // that cannot reach it (the upstream was asked for it with `acr_values`).
    if let Purpose::Authorize(params) = &interaction.purpose
        && mapped.acr < params.required_acr
    {
        store::delete_interaction(&state.db, &interaction.id).await?;
        let url = redirect_to_client(
            &params.redirect_uri,
            &state.config.issuer,
            params.state.as_deref(),
            &[
                ("error", "access_denied"),
                (
                    "error_description",
                    "the upstream login's level of assurance is below what this application requires",
                ),
            ],
        );
        return Ok(Ok(see_other(&url).finish()));
    }
    let amr: Vec<String> = match claims.get("amr") {
        Some(serde_json::Value::Array(values)) => values
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let (session, cookie, expires) = new_session(state, req, &person.ssin, mapped.acr, amr).await?;
    let subject = claims
        .get("sub")
        .and_then(|s| s.as_str())
        .unwrap_or_default();
    // The session and what its upstream login allows, together or not at all.
    fed_store::open_session(
        &state.db,
        &session,
        &interaction.id,
        &FederatedSession {
            session_id: &session.id,
            issuer: &upstream.config.issuer,
            subject,
            profiles: mapped.profiles.as_deref(),
            expires_at: expires,
        },
        now,
    )
    .await?;
    tracing::info!(acr = mapped.acr.as_str(), "upstream login succeeded");
    Ok(Ok(see_other(&login_action(&interaction.id))
        .cookie(cookie)
        .finish()))
}

//! The steps between `/oauth2/authorize` and the redirect back: `/login/{id}` shows
//! what the interaction needs next (login, profile, consent) and takes each form.
//! Every form carries the interaction's CSRF token, and only the browser that started
//! the interaction can continue it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::Duration;
use serde::Deserialize;

use super::html::{
    self as page, SESSION_COOKIE, browser_digest, current_session, error_page, internal_page,
    see_other,
};
use super::interaction::{Decision, decide, session_person};
use crate::authz::login::authenticate::{Attempt, Failure, check};
use crate::authz::login::flow::{Session, Step};
use crate::authz::login::i18n::Lang;
use crate::authz::login::pages::{self, LoginPage, Message};
use crate::authz::login::request::redirect_to_client;
use crate::authz::login::store::{self, Interaction, Purpose};
use crate::authz::store as client_store;
use crate::crypto::{random_token, secrets_equal, token_digest};
use crate::state::AppState;

pub(super) fn lang_of(req: &HttpRequest, interaction: Option<&Interaction>) -> Lang {
    let ui_locales = interaction.and_then(|i| match &i.purpose {
        Purpose::Authorize(p) => p.ui_locales.as_deref(),
        Purpose::Account => None,
    });
    page::lang(req, ui_locales)
}

/// The interaction of a form or page: live, and started by this browser.
async fn interaction_for(
    state: &AppState,
    req: &HttpRequest,
    id: &str,
) -> Result<Interaction, HttpResponse> {
    let lang = lang_of(req, None);
    let t = lang.texts();
    let interaction = store::live_interaction(&state.db, id, state.clock.now())
        .await
        .map_err(|e| internal_page(lang, "E-INTERACTION", &e))?
        .ok_or_else(|| error_page(lang, StatusCode::BAD_REQUEST, t.expired))?;
    match browser_digest(req) {
        Some(digest) if secrets_equal(&digest, &interaction.browser) => Ok(interaction),
        _ => Err(error_page(lang, StatusCode::FORBIDDEN, t.forged)),
    }
}

/// The same, for a form: its CSRF token must be the interaction's.
pub(super) async fn interaction_for_form(
    state: &AppState,
    req: &HttpRequest,
    id: &str,
    csrf: Option<&str>,
) -> Result<Interaction, HttpResponse> {
    let interaction = interaction_for(state, req, id).await?;
    match csrf {
        Some(csrf) if secrets_equal(csrf, &interaction.csrf) => Ok(interaction),
        _ => {
            let lang = lang_of(req, Some(&interaction));
            Err(error_page(lang, StatusCode::FORBIDDEN, lang.texts().forged))
        }
    }
}

async fn client_name(state: &AppState, client_id: &str) -> anyhow::Result<String> {
    Ok(client_store::get_client(&state.db, client_id)
        .await?
        .map(|c| c.name)
        .unwrap_or_else(|| client_id.to_owned()))
}

/// The login form of an interaction, with the upstream identity provider's button
/// when one is configured.
fn login_markup(
    state: &AppState,
    lang: Lang,
    interaction: &Interaction,
    client_name: Option<&str>,
    username: Option<&str>,
    message: Option<Message<'_>>,
) -> maud::Markup {
    let action = login_action(&interaction.id);
    let upstream_action = format!("{action}/federation");
    let page = LoginPage {
        action: &action,
        csrf: &interaction.csrf,
        client_name,
        username,
        message,
        upstream: state
            .federation
            .as_ref()
            .map(|u| (upstream_action.as_str(), u.config.name.as_str())),
    };
    pages::login(lang, &page)
}

pub(super) fn login_action(id: &str) -> String {
    format!("/login/{id}")
}

/// Shows what the interaction needs next.
#[get("/login/{id}")]
pub async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    let interaction = match interaction_for(&state, &req, &id).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    let lang = lang_of(&req, Some(&interaction));
    match render(&state, &req, &interaction, lang, None).await {
        Ok(response) => response,
        Err(e) => internal_page(lang, "E-LOGIN-PAGE", &e),
    }
}

async fn render(
    state: &AppState,
    req: &HttpRequest,
    interaction: &Interaction,
    lang: Lang,
    message: Option<Message<'_>>,
) -> anyhow::Result<HttpResponse> {
    let t = lang.texts();
    let who = session_person(state, current_session(state, req).await?).await?;
    let action = login_action(&interaction.id);
    let params = match &interaction.purpose {
        Purpose::Account => {
            let here = who
                .as_ref()
                .is_some_and(|(s, _)| interaction.session_id.as_deref() == Some(s.id.as_str()));
            if here {
                store::delete_interaction(&state.db, &interaction.id).await?;
                return Ok(see_other("/account").finish());
            }
            let markup = login_markup(state, lang, interaction, None, None, message);
            return Ok(page::html(StatusCode::OK, markup).finish());
        }
        Purpose::Authorize(params) => params,
    };
    let name = client_name(state, &params.client_id).await?;
    let step = match decide(state, interaction, params, who.as_ref(), true).await? {
        Decision::Finish(url) => return Ok(see_other(&url).finish()),
        Decision::Show(step) => step,
    };
    let markup = match (step, &who) {
        (Step::ChooseProfile, Some((_, person))) => {
            let error = match &message {
                Some(Message::Error(e)) => Some(*e),
                _ => None,
            };
            pages::choose_profile(
                lang,
                &format!("{action}/profile"),
                &interaction.csrf,
                &name,
                person,
                error,
            )
        }
        (Step::Consent, Some(_)) => {
            let scopes = params.scopes();
            let scopes: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
            pages::consent(
                lang,
                &format!("{action}/consent"),
                &interaction.csrf,
                &name,
                &scopes,
            )
        }
        (step, _) => {
            let step_up = matches!(step, Step::Login { step_up: true });
            let message = match message {
                Some(m) => Some(m),
                None if step_up => Some(Message::Notice(t.step_up)),
                None => None,
            };
            let username = who
                .as_ref()
                .filter(|_| step_up)
                .map(|(s, _)| s.ssin.as_str());
            login_markup(state, lang, interaction, Some(&name), username, message)
        }
    };
    Ok(page::html(StatusCode::OK, markup).finish())
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    csrf: Option<String>,
    username: Option<String>,
    password: Option<String>,
    totp: Option<String>,
}

/// Takes the login form: throttling, password, TOTP, then a new session.
#[post("/login/{id}")]
pub async fn take_login(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    let interaction = match interaction_for_form(&state, &req, &id, form.csrf.as_deref()).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    let lang = lang_of(&req, Some(&interaction));
    match authenticate(&state, &req, &interaction, lang, &form).await {
        Ok(response) => response,
        Err(e) => internal_page(lang, "E-LOGIN", &e),
    }
}

async fn authenticate(
    state: &AppState,
    req: &HttpRequest,
    interaction: &Interaction,
    lang: Lang,
    form: &LoginForm,
) -> anyhow::Result<HttpResponse> {
    let t = lang.texts();
    let username = form.username.as_deref().unwrap_or_default().trim();
    let attempt = Attempt {
        username,
        password: form.password.as_deref().unwrap_or_default(),
        totp: form.totp.as_deref(),
        address: &page::client_address(state, req),
    };
    let (person, acr, amr) = match check(&state.authz, &attempt).await? {
        Ok(ok) => ok,
        Err(failure) => {
            let (status, text) = match failure {
                Failure::Throttled => (StatusCode::TOO_MANY_REQUESTS, t.throttled),
                Failure::BadCredentials => (StatusCode::UNAUTHORIZED, t.bad_credentials),
                Failure::Busy => (StatusCode::SERVICE_UNAVAILABLE, t.busy),
            };
            tracing::info!(?failure, "login refused");
            let name = match &interaction.purpose {
                Purpose::Authorize(p) => Some(client_name(state, &p.client_id).await?),
                Purpose::Account => None,
            };
            let markup = login_markup(
                state,
                lang,
                interaction,
                name.as_deref(),
                Some(username),
                Some(Message::Error(text)),
            );
            let mut response = page::html(status, markup).finish();
            if failure == Failure::Busy {
                response.headers_mut().insert(
                    actix_web::http::header::RETRY_AFTER,
                    actix_web::http::header::HeaderValue::from_static("1"),
                );
            }
            return Ok(response);
        }
    };
    // A level this person can never reach: say so to the client instead of looping.
    if let Purpose::Authorize(params) = &interaction.purpose
        && acr < params.required_acr
        && !person.has_totp()
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
                    "this application requires a level of assurance the account cannot reach (no second factor)",
                ),
            ],
        );
        return Ok(see_other(&url).finish());
    }
    let (session, cookie, expires) = new_session(state, req, &person.ssin, acr, amr).await?;
    let now = state.clock.now();
    store::insert_session(&state.db, &session, now, expires).await?;
    store::mark_authenticated(&state.db, &interaction.id, &session.id, now).await?;
    tracing::info!(acr = session.acr.as_str(), "login succeeded");
    Ok(see_other(&login_action(&interaction.id))
        .cookie(cookie)
        .finish())
}

/// A new session at every login (no fixation: the browser's old one ends now); answers
/// it, its cookie and its end, for the caller to store with the interaction's
/// authentication.
pub(super) async fn new_session(
    state: &AppState,
    req: &HttpRequest,
    ssin: &crate::people::Ssin,
    acr: crate::authz::scope::Acr,
    amr: Vec<String>,
) -> anyhow::Result<(
    Session,
    actix_web::cookie::Cookie<'static>,
    chrono::DateTime<chrono::Utc>,
)> {
    let now = state.clock.now();
    if let Some(old) = req.cookie(SESSION_COOKIE) {
        store::delete_session(&state.db, &token_digest(old.value())).await?;
    }
    let cookie_value = random_token()?;
    let session = Session {
        id: token_digest(&cookie_value),
        ssin: ssin.clone(),
        acr,
        amr,
        auth_time: now,
        csrf: random_token()?,
    };
    let ttl = state.config.settings.authz.session_ttl_seconds;
    let expires = now + Duration::seconds(i64::from(ttl));
    let cookie = page::cookie(state, req, SESSION_COOKIE, cookie_value);
    Ok((session, cookie, expires))
}

#[derive(Debug, Deserialize)]
pub struct ProfileForm {
    csrf: Option<String>,
    profile: Option<String>,
}

/// Takes the profile choice.
#[post("/login/{id}/profile")]
pub async fn take_profile(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<ProfileForm>,
) -> HttpResponse {
    let interaction = match interaction_for_form(&state, &req, &id, form.csrf.as_deref()).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    let lang = lang_of(&req, Some(&interaction));
    let result = async {
        let Some((_, person)) =
            session_person(&state, current_session(&state, &req).await?).await?
        else {
            return Ok(see_other(&login_action(&interaction.id)).finish());
        };
        let chosen = form
            .profile
            .as_deref()
            .and_then(|value| person.profile_by_form_value(value));
        let Some(chosen) = chosen else {
            let mut response = render(
                &state,
                &req,
                &interaction,
                lang,
                Some(Message::Error("profile: not one of your profiles")),
            )
            .await?;
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return Ok(response);
        };
        store::set_profile(&state.db, &interaction.id, chosen).await?;
        anyhow::Ok(see_other(&login_action(&interaction.id)).finish())
    };
    result
        .await
        .unwrap_or_else(|e| internal_page(lang, "E-PROFILE", &e))
}

#[derive(Debug, Deserialize)]
pub struct ConsentForm {
    csrf: Option<String>,
    decision: Option<String>,
}

/// Takes the consent decision: `allow` is stored, `deny` ends the authorization with
/// `access_denied`.
#[post("/login/{id}/consent")]
pub async fn take_consent(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<ConsentForm>,
) -> HttpResponse {
    let interaction = match interaction_for_form(&state, &req, &id, form.csrf.as_deref()).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    let lang = lang_of(&req, Some(&interaction));
    let Purpose::Authorize(params) = &interaction.purpose else {
        return error_page(lang, StatusCode::BAD_REQUEST, lang.texts().expired);
    };
    let result = async {
        let Some((session, _)) =
            session_person(&state, current_session(&state, &req).await?).await?
        else {
            return Ok(see_other(&login_action(&interaction.id)).finish());
        };
        match form.decision.as_deref() {
            Some("allow") => {
                store::grant_consent(
                    &state.db,
                    &session.ssin,
                    &params.client_id,
                    &params.scopes(),
                    state.clock.now(),
                )
                .await?;
                store::set_consented(&state.db, &interaction.id).await?;
                tracing::info!(client_id = %params.client_id, scope = %params.scope, "consent given");
                anyhow::Ok(see_other(&login_action(&interaction.id)).finish())
            }
            Some("deny") => {
                store::delete_interaction(&state.db, &interaction.id).await?;
                tracing::info!(client_id = %params.client_id, "consent refused");
                let url = redirect_to_client(
                    &params.redirect_uri,
                    &state.config.issuer,
                    params.state.as_deref(),
                    &[
                        ("error", "access_denied"),
                        ("error_description", "the person refused consent"),
                    ],
                );
                Ok(see_other(&url).finish())
            }
            _ => Ok(error_page(
                lang,
                StatusCode::BAD_REQUEST,
                "decision must be allow or deny",
            )),
        }
    };
    result
        .await
        .unwrap_or_else(|e| internal_page(lang, "E-CONSENT", &e))
}

//! The account service: `/account` lists the person's consents and revokes them
//! (which also revokes that client's refresh tokens for the person); `/account/keys`
//! lists, renames and revokes their device keys; `/login` alone logs in to it;
//! `/account/logout` ends the session.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

use super::html::{
    self as page, BROWSER_COOKIE, SESSION_COOKIE, current_session, error_page, internal_page,
    see_other,
};
use super::interaction::{new_interaction, session_person};
use crate::authz::grants::person::access_expiry;
use crate::authz::grants::store as grant_store;
use crate::authz::login::flow::Session;
use crate::authz::login::pages::{self, ConsentRow};
use crate::authz::login::store::{self, Purpose};
use crate::authz::scope::Scope;
use crate::authz::store as client_store;
use crate::crypto::secrets_equal;
use crate::keys::Status;
use crate::keys::service::{revoke, valid_name};
use crate::keys::store as key_store;
use crate::people::Person;
use crate::state::AppState;

/// Starts a login to the account pages.
async fn to_login(state: &AppState, req: &HttpRequest) -> anyhow::Result<HttpResponse> {
    let (browser, new_cookie) = page::browser(req)?;
    let interaction = new_interaction(state, browser, Purpose::Account)?;
    store::insert_interaction(&state.db, &interaction, state.clock.now()).await?;
    let mut response = see_other(&format!("/login/{}", interaction.id));
    if let Some(value) = new_cookie {
        response.cookie(page::cookie(state, req, BROWSER_COOKIE, value));
    }
    Ok(response.finish())
}

/// The display names of clients (the id when a client is gone; empty for none).
async fn client_names(
    state: &AppState,
    ids: impl Iterator<Item = Option<&str>>,
) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for id in ids {
        names.push(match id {
            Some(id) => client_store::get_client(&state.db, id)
                .await?
                .map_or_else(|| id.to_owned(), |c| c.name),
            None => String::new(),
        });
    }
    Ok(names)
}

/// The login page of the account service.
#[get("/login")]
pub async fn login_start(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let lang = page::lang(&req, None);
    to_login(&state, &req)
        .await
        .unwrap_or_else(|e| internal_page(lang, "E-LOGIN-START", &e))
}

/// A page of the account service for the person logged in (the login when nobody
/// is): `render` makes it from their session and person, and a failure is the internal
/// error page with `code`.
pub(super) async fn person_page(
    state: &AppState,
    req: &HttpRequest,
    code: &'static str,
    render: impl AsyncFnOnce(&Session, &Person) -> anyhow::Result<maud::Markup>,
) -> HttpResponse {
    let lang = page::lang(req, None);
    let result = async {
        let Some((session, person)) =
            session_person(state, current_session(state, req).await?).await?
        else {
            return to_login(state, req).await;
        };
        let markup = render(&session, &person).await?;
        anyhow::Ok(page::html(StatusCode::OK, markup).finish())
    };
    result
        .await
        .unwrap_or_else(|e| internal_page(lang, code, &e))
}

/// The person's account: who they are and the applications they allowed.
#[get("/account")]
pub async fn account(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let lang = page::lang(&req, None);
    person_page(&state, &req, "E-ACCOUNT", async |session, person| {
        let consents = store::consents_of(&state.db, &person.ssin).await?;
        let names =
            client_names(&state, consents.iter().map(|c| Some(c.client_id.as_str()))).await?;
        let rows: Vec<ConsentRow> = consents
            .iter()
            .zip(&names)
            .map(|(c, name)| ConsentRow {
                client_id: &c.client_id,
                client_name: name,
                scopes: c.scopes.iter().map(|s| s.as_str()).collect(),
                granted_at: c.granted_at,
            })
            .collect();
        Ok(pages::account(lang, person, &session.csrf, &rows))
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub(super) csrf: Option<String>,
}

/// The session of an account form, whose CSRF token must be the session's.
pub(super) async fn session_for_form(
    state: &AppState,
    req: &HttpRequest,
    csrf: Option<&str>,
) -> Result<(Session, Person), HttpResponse> {
    let lang = page::lang(req, None);
    let t = lang.texts();
    let who = async { session_person(state, current_session(state, req).await?).await }
        .await
        .map_err(|e| internal_page(lang, "E-ACCOUNT", &e))?;
    match (who, csrf) {
        (Some((session, person)), Some(csrf)) if secrets_equal(csrf, &session.csrf) => {
            Ok((session, person))
        }
        _ => Err(error_page(lang, StatusCode::FORBIDDEN, t.forged)),
    }
}

/// Revokes a consent, the client's refresh tokens for the person and what it
/// obtained by exchange.
#[post("/account/consents/{client_id}/revoke")]
pub async fn revoke_consent(
    state: web::Data<AppState>,
    req: HttpRequest,
    client_id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    withdraw(&state, &req, &client_id, &form, Withdrawal::Consent).await
}

/// Withdraws the consent to `exchange` alone: no exchange of the person's tokens by
/// this client from now on, and the tokens it obtained by exchange are revoked. What
/// else the person allowed the client stays.
#[post("/account/consents/{client_id}/exchange/revoke")]
pub async fn revoke_exchange(
    state: web::Data<AppState>,
    req: HttpRequest,
    client_id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    withdraw(&state, &req, &client_id, &form, Withdrawal::Exchange).await
}

/// What a person withdraws from an application at the account page.
#[derive(Debug, Clone, Copy)]
enum Withdrawal {
    /// The whole consent.
    Consent,
    /// The consent to `exchange` only.
    Exchange,
}

async fn withdraw(
    state: &AppState,
    req: &HttpRequest,
    client_id: &str,
    form: &CsrfForm,
    what: Withdrawal,
) -> HttpResponse {
    let (_, person) = match session_for_form(state, req, form.csrf.as_deref()).await {
        Ok(ok) => ok,
        Err(page) => return page,
    };
    let lang = page::lang(req, None);
    let ssin = person.ssin.as_str();
    let now = state.clock.now();
    let result = async {
        let found = match what {
            Withdrawal::Consent => {
                store::delete_consent(&state.db, &person.ssin, client_id).await?
            }
            Withdrawal::Exchange => {
                store::withdraw_scope(&state.db, &person.ssin, client_id, Scope::Exchange).await?
            }
        };
        if !found {
            return Ok(error_page(lang, StatusCode::NOT_FOUND, "no such consent"));
        }
        let refresh_tokens = match what {
            Withdrawal::Consent => {
                let expiry = access_expiry(&state.authz);
                grant_store::revoke_person_client(&state.db, ssin, client_id, now, expiry).await?
            }
            Withdrawal::Exchange => 0,
        };
        let exchanged = grant_store::revoke_exchanged(&state.db, ssin, client_id, now).await?;
        tracing::info!(
            client_id,
            ?what,
            refresh_tokens,
            exchanged,
            "consent withdrawn by the person"
        );
        anyhow::Ok(see_other("/account").finish())
    };
    result.await.unwrap_or_else(|e| {
        let code = match what {
            Withdrawal::Consent => "E-REVOKE-CONSENT",
            Withdrawal::Exchange => "E-REVOKE-EXCHANGE",
        };
        internal_page(lang, code, &e)
    })
}

/// The person's device keys, every application, with their history.
#[get("/account/keys")]
pub async fn keys(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let lang = page::lang(&req, None);
    person_page(&state, &req, "E-ACCOUNT-KEYS", async |session, person| {
        let now = state.clock.now();
        let policy = &state.keystore.policy;
        let rows = key_store::keys_of(&state.db, &format!("ssin:{}", person.ssin), None).await?;
        let names = client_names(&state, rows.iter().map(|k| k.client_id.as_deref())).await?;
        let statuses: Vec<Status> = rows
            .iter()
            .map(|k| key_store::status(k, policy, now))
            .collect();
        let view: Vec<pages::KeyRow> = rows
            .iter()
            .zip(&names)
            .zip(&statuses)
            .map(|((k, client_name), status)| pages::KeyRow {
                kid: &k.kid,
                name: &k.name,
                client_name,
                key_use: &k.key_use,
                status: status.as_str(),
                last_used_at: k.last_used_at,
                not_after: k.not_after,
                live: matches!(status, Status::Active | Status::Pending),
            })
            .collect();
        Ok(pages::keys(lang, person, &session.csrf, &view))
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct RenameForm {
    csrf: Option<String>,
    name: String,
}

/// Renames one of the person's keys.
#[post("/account/keys/{kid}/rename")]
pub async fn rename_key(
    state: web::Data<AppState>,
    req: HttpRequest,
    kid: web::Path<String>,
    form: web::Form<RenameForm>,
) -> HttpResponse {
    let (_, person) = match session_for_form(&state, &req, form.csrf.as_deref()).await {
        Ok(ok) => ok,
        Err(page) => return page,
    };
    let lang = page::lang(&req, None);
    let Ok(name) = valid_name(&form.name) else {
        return error_page(
            lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            "a name of 1 to 100 printable characters is required",
        );
    };
    let owner = format!("ssin:{}", person.ssin);
    match key_store::rename(&state.db, &kid, &owner, name).await {
        Ok(true) => see_other("/account/keys").finish(),
        Ok(false) => error_page(lang, StatusCode::NOT_FOUND, "no such key"),
        Err(e) => internal_page(lang, "E-ACCOUNT-RENAME", &e),
    }
}

/// Revokes one of the person's keys.
#[post("/account/keys/{kid}/revoke")]
pub async fn revoke_key(
    state: web::Data<AppState>,
    req: HttpRequest,
    kid: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let (_, person) = match session_for_form(&state, &req, form.csrf.as_deref()).await {
        Ok(ok) => ok,
        Err(page) => return page,
    };
    let lang = page::lang(&req, None);
    let owner = format!("ssin:{}", person.ssin);
    let row = match key_store::get(&state.db, &kid).await {
        Ok(Some(row)) if row.owner == owner => row,
        Ok(_) => return error_page(lang, StatusCode::NOT_FOUND, "no such key"),
        Err(e) => return internal_page(lang, "E-ACCOUNT-REVOKE-KEY", &e),
    };
    match revoke(&state.db, &row, &owner, state.clock.now()).await {
        Ok(_) => see_other("/account/keys").finish(),
        Err(e) => internal_page(lang, "E-ACCOUNT-REVOKE-KEY", &e),
    }
}

/// Ends the session.
#[post("/account/logout")]
pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let (session, _) = match session_for_form(&state, &req, form.csrf.as_deref()).await {
        Ok(ok) => ok,
        Err(page) => return page,
    };
    let lang = page::lang(&req, None);
    if let Err(e) = store::delete_session(&state.db, &session.id).await {
        return internal_page(lang, "E-LOGOUT", &e);
    }
    let t = lang.texts();
    page::html(
        StatusCode::OK,
        pages::notice(lang, t.logout, t.logged_out, false),
    )
    .cookie(page::removal(&state, &req, SESSION_COOKIE))
    .finish()
}

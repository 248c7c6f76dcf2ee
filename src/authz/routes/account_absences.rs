//! The account's absence page: a person sets an out-of-office for their own boxes
//! (their SSIN and, as a professional, their NIHII) with substitutes, sees the ones
//! planned and ends them. The same absences as `POST /depot/absences`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{NaiveDateTime, SecondsFormat};
use serde::Deserialize;
use serde_json::{Value, json};

use super::account::{CsrfForm, person_page, session_for_form};
use super::html::{self as page, error_page, internal_page, see_other};
use crate::authz::login::pages::{self, AbsenceRow};
use crate::depot::absences::{AbsenceError, AbsenceRequest, Holder};
use crate::people::model::identifier_parts;
use crate::state::AppState;

/// What an absence set at the account pages records as its client.
pub const ACCOUNT_PAGES: &str = "account";

/// The person's absences that have not ended, and the form to set one.
#[get("/account/absences")]
pub async fn absences(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let lang = page::lang(&req, None);
    person_page(
        &state,
        &req,
        "E-ACCOUNT-ABSENCES",
        async |session, person| {
            let holder = Holder::of_person(person);
            let planned = state
                .absences
                .of_owner(&holder.owner, state.clock.now())
                .await?;
            let rows: Vec<AbsenceRow> = planned
                .iter()
                .map(|a| AbsenceRow {
                    id: &a.id,
                    from: a.from,
                    until: a.until,
                    substitutes: a
                        .substitutes
                        .iter()
                        .map(|s| {
                            let (kind, value) = identifier_parts(s);
                            format!("{kind}:{value}")
                        })
                        .collect(),
                })
                .collect();
            Ok(pages::absences(lang, person, &session.csrf, &rows))
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct AbsenceForm {
    csrf: Option<String>,
    from: Option<String>,
    until: String,
    /// `type:value`, one per line (or separated by commas or spaces).
    substitutes: String,
}

/// A time from the form: RFC 3339, or a `datetime-local` value (`2026-12-24T08:00`,
/// seconds optional), read as UTC.
fn form_time(text: &str) -> String {
    let text = text.trim();
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map_or_else(
            || text.to_owned(),
            |t| t.and_utc().to_rfc3339_opts(SecondsFormat::Millis, true),
        )
}

/// The form as the API's request: each `type:value` an identifier object (what is not
/// one is left for the check to name).
fn request_of(form: &AbsenceForm) -> AbsenceRequest {
    let substitutes: Vec<Value> = form
        .substitutes
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| match s.split_once(':') {
            Some((kind, value)) => json!({"type": kind, "value": value}),
            None => json!(s),
        })
        .collect();
    AbsenceRequest {
        from: form
            .from
            .as_deref()
            .filter(|f| !f.trim().is_empty())
            .map(form_time),
        until: form_time(&form.until),
        substitutes,
    }
}

/// Sets an absence of the person's boxes.
#[post("/account/absences")]
pub async fn set_absence(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AbsenceForm>,
) -> HttpResponse {
    let (_, person) = match session_for_form(&state, &req, form.csrf.as_deref()).await {
        Ok(ok) => ok,
        Err(page) => return page,
    };
    let lang = page::lang(&req, None);
    let holder = Holder::of_person(&person);
    // No client set it: the person, at the account pages.
    let set = state
        .absences
        .set(
            &holder,
            ACCOUNT_PAGES,
            &request_of(&form),
            state.clock.now(),
        )
        .await;
    match set {
        Ok(absence) => {
            crate::ops::audit::record("absence set", &holder.owner, &absence.id);
            see_other("/account/absences").finish()
        }
        Err(e @ AbsenceError::Field { .. }) => {
            error_page(lang, StatusCode::UNPROCESSABLE_ENTITY, &e.to_string())
        }
        Err(e @ AbsenceError::Overlap(_)) => error_page(lang, StatusCode::CONFLICT, &e.to_string()),
        Err(AbsenceError::Db(e)) => internal_page(lang, "E-ACCOUNT-ABSENCE", &e),
    }
}

/// Ends one of the person's absences.
#[post("/account/absences/{id}/end")]
pub async fn end_absence(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let (_, person) = match session_for_form(&state, &req, form.csrf.as_deref()).await {
        Ok(ok) => ok,
        Err(page) => return page,
    };
    let lang = page::lang(&req, None);
    let holder = Holder::of_person(&person);
    match state.absences.remove(&holder.owner, &id).await {
        Ok(true) => {
            crate::ops::audit::record("absence ended", &holder.owner, &id);
            see_other("/account/absences").finish()
        }
        Ok(false) => error_page(lang, StatusCode::NOT_FOUND, "no such absence"),
        Err(e) => internal_page(lang, "E-ACCOUNT-END-ABSENCE", &e),
    }
}

//! The absences' HTTP surface: a box's holder sets, lists and ends its absences
//! (`depot:read`, the scope of every call on one's own boxes); a sender looks a
//! recipient up (`depot:send`).

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, LOCATION};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use serde::Deserialize;
use serde_json::json;

use super::{AbsenceError, AbsenceRequest, Holder, parse_time};
use crate::authz::guard::{Authorized, needs};
use crate::depot::boxes::box_key;
use crate::people::Identifier;
use crate::problem::{Problem, db_error as db_problem};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(lookup)
        .service(set)
        .service(list)
        .service(remove);
}

/// Largest accepted body of `POST /depot/absences`.
const BODY_LIMIT: usize = 16 * 1024;

fn holder_of<N>(who: &Authorized<N>) -> Result<Holder, Problem> {
    Holder::of(&who.claims.identity).ok_or_else(|| {
        Problem::new(
            StatusCode::FORBIDDEN,
            "no-box",
            "this token's identity holds no box to be absent from",
        )
    })
}

impl From<AbsenceError> for Problem {
    fn from(e: AbsenceError) -> Self {
        match e {
            AbsenceError::Field { field, detail } => Problem::invalid_field(field, detail),
            AbsenceError::Overlap(_) => Problem::conflict(e.to_string()),
            AbsenceError::Db(e) => db_problem("E-ABSENCE")(e),
        }
    }
}

/// Sets an absence of the caller's boxes.
#[utoipa::path(post, path = "/depot/absences", tag = "depot", request_body = AbsenceRequest,
    responses((status = 201, description = "{id, boxes, from, until, substitutes, createdAt}"),
        (status = 401, description = "no valid token"), (status = 403, description = "no depot:read scope, or no box to be absent from"),
        (status = 409, description = "overlaps another absence of the caller's"),
        (status = 422, description = "a bad time or substitute; `field` names it")))]
#[post("/depot/absences")]
pub async fn set(
    state: web::Data<AppState>,
    who: Authorized<needs::DepotRead>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let holder = holder_of(&who)?;
    let request: AbsenceRequest = crate::body::read_json(&req, payload, BODY_LIMIT).await?;
    let absence = state
        .absences
        .set(&holder, &who.claims.client_id, &request, state.clock.now())
        .await?;
    crate::ops::audit::record("absence set", &holder.owner, &absence.id);
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/depot/absences/{}", absence.id)))
        .json(absence.view()))
}

/// The caller's absences that have not ended.
#[utoipa::path(get, path = "/depot/absences", tag = "depot",
    responses((status = 200, description = "{absences: [{id, boxes, from, until, substitutes, createdAt}]}"),
        (status = 401, description = "no valid token"), (status = 403, description = "no depot:read scope, or no box")))]
#[get("/depot/absences")]
pub async fn list(
    state: web::Data<AppState>,
    who: Authorized<needs::DepotRead>,
) -> Result<HttpResponse, Problem> {
    let holder = holder_of(&who)?;
    let absences = state
        .absences
        .of_owner(&holder.owner, state.clock.now())
        .await
        .map_err(db_problem("E-ABSENCE-LIST"))?;
    let views: Vec<_> = absences.iter().map(super::Absence::view).collect();
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(json!({"absences": views})))
}

/// Ends one of the caller's absences (removes it, whether it has begun or not).
#[utoipa::path(delete, path = "/depot/absences/{id}", tag = "depot", params(("id" = String, Path)),
    responses((status = 204, description = "ended"), (status = 404, description = "not an absence of the caller's")))]
#[delete("/depot/absences/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    who: Authorized<needs::DepotRead>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let holder = holder_of(&who)?;
    let removed = state
        .absences
        .remove(&holder.owner, &path)
        .await
        .map_err(db_problem("E-ABSENCE-END"))?;
    if !removed {
        return Err(Problem::not_found("you have no such absence"));
    }
    crate::ops::audit::record("absence ended", &holder.owner, &path);
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LookupQuery {
    /// `ssin`, `nihii` or `cbe`.
    pub identity_type: Option<String>,
    pub identity_value: Option<String>,
    /// RFC 3339; default now.
    pub at: Option<String>,
}

/// Whether a recipient is absent (now, or at `at`), until when, and who substitutes.
#[utoipa::path(get, path = "/depot/absence", tag = "depot", params(LookupQuery),
    responses((status = 200, description = "{recipient, absent, from?, until?, substitutes}"),
        (status = 401, description = "no valid token"), (status = 403, description = "no depot:send scope"),
        (status = 422, description = "a bad parameter, named")))]
#[get("/depot/absence")]
pub async fn lookup(
    state: web::Data<AppState>,
    _: Authorized<needs::DepotSend>,
    query: web::Query<LookupQuery>,
) -> Result<HttpResponse, Problem> {
    let recipient: Identifier = Identifier::from_query(
        query.identity_type.as_deref(),
        query.identity_value.as_deref(),
    )
    .map_err(|(field, why)| Problem::invalid_field(field, why))?
    .ok_or_else(|| Problem::invalid_field("identity_type", "name the recipient"))?;
    let at = match &query.at {
        Some(text) => parse_time("at", text)?,
        None => state.clock.now(),
    };
    let key = box_key(&recipient);
    let found = state
        .absences
        .at(std::slice::from_ref(&key), at)
        .await
        .map_err(db_problem("E-ABSENCE-LOOKUP"))?;
    let answer = match found.get(&key) {
        Some(absence) => absence.for_sender(&recipient),
        None => json!({"recipient": recipient, "absent": false, "substitutes": []}),
    };
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(answer))
}

//! The API portal's delegations (API.md "Organizations acting for organizations"),
//! for tokens with scope `admin` and audience `{issuer}/admin`: record that a consumer
//! organization delegates to a supplier organization, list, read and end them.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Value, json};

use crate::authz::delegation::store::{self, StoreError};
use crate::authz::delegation::{Delegation, DelegationRequest};
use crate::authz::guard::{Authorized, needs};
use crate::body;
use crate::people::Cbe;
use crate::problem::Problem;
use crate::state::AppState;

/// A delegation as the admin API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DelegationView {
    pub id: String,
    /// `{"type": "cbe", "value": "…"}`.
    #[schema(value_type = Object)]
    pub consumer: Value,
    /// `{"type": "cbe", "value": "…"}`.
    #[schema(value_type = Object)]
    pub supplier: Value,
    pub scopes: Vec<String>,
    /// Absent: in force until ended.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_millis"
    )]
    #[schema(value_type = Option<String>)]
    pub not_after: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(serialize_with = "millis")]
    #[schema(value_type = String)]
    pub created_at: DateTime<Utc>,
    /// Present once an administrator ended it.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_millis"
    )]
    #[schema(value_type = Option<String>)]
    pub ended_at: Option<DateTime<Utc>>,
}

/// RFC 3339 UTC with milliseconds (API.md).
fn millis<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn optional_millis<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => millis(at, s),
        None => s.serialize_none(),
    }
}

fn cbe(cbe: &Cbe) -> Value {
    json!({"type": "cbe", "value": cbe})
}

impl From<&Delegation> for DelegationView {
    fn from(d: &Delegation) -> Self {
        Self {
            id: d.id.clone(),
            consumer: cbe(&d.consumer),
            supplier: cbe(&d.supplier),
            scopes: d.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            not_after: d.not_after,
            source: d.source.clone(),
            created_at: d.created_at,
            ended_at: d.ended_at,
        }
    }
}

/// `GET /admin/delegations` answers `{"delegations": […]}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DelegationList {
    pub delegations: Vec<DelegationView>,
}

fn store_problem(e: StoreError) -> Problem {
    Problem::internal("E-DELEGATION-STORE", &e)
}

/// Records that a consumer organization delegates scopes to a supplier organization.
/// Both must be registered (`POST /admin/organizations`); the scopes are those a
/// system client may have, never `admin`; `notAfter`, when given, is in the future.
#[utoipa::path(
    post, path = "/admin/delegations", tag = "admin", request_body = DelegationRequest,
    responses(
        (status = 201, body = DelegationView, description = "recorded; `Location` names it"),
        (status = 401, description = "no valid token"),
        (status = 403, description = "not an administrator"),
        (status = 422, description = "a rule is broken; `field` names it (consumer, supplier, scopes, notAfter, source)"),
    )
)]
#[post("/admin/delegations")]
pub async fn create_delegation(
    state: web::Data<AppState>,
    who: Authorized<needs::Admin>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let request: DelegationRequest = body::read_json(
        &req,
        payload,
        state.config.settings.service.body_limit_bytes,
    )
    .await?;
    let delegation = request
        .validate(state.clock.now())
        .map_err(|e| Problem::invalid_field(e.field, e.reason))?;
    for (field, org) in [
        ("consumer", &delegation.consumer),
        ("supplier", &delegation.supplier),
    ] {
        if crate::people::store::get_organization(&state.db, org)
            .await
            .map_err(|e| Problem::internal("E-DELEGATION-STORE", &e))?
            .is_none()
        {
            return Err(Problem::invalid_field(
                field,
                format!("no organization {org} is registered"),
            ));
        }
    }
    store::insert(&state.db, &delegation)
        .await
        .map_err(store_problem)?;
    tracing::info!(
        delegation = %delegation.id,
        consumer = %delegation.consumer,
        supplier = %delegation.supplier,
        scopes = %delegation.scopes,
        by = %who.claims.client_id,
        "delegation recorded"
    );
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/admin/delegations/{}", delegation.id)))
        .json(DelegationView::from(&delegation)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DelegationQuery {
    /// The consumer's CBE number.
    pub consumer: Option<String>,
    /// The supplier's CBE number.
    pub supplier: Option<String>,
}

/// Lists the delegations, oldest first, of a consumer and/or a supplier (every one
/// without filters): those in force and those ended, an ended one with its `endedAt`
/// (one past its `notAfter` is no longer in force either, and keeps no `endedAt`).
#[utoipa::path(
    get, path = "/admin/delegations", tag = "admin", params(DelegationQuery),
    responses(
        (status = 200, body = DelegationList),
        (status = 422, description = "a malformed CBE number; `field` names the parameter"),
    )
)]
#[get("/admin/delegations")]
pub async fn list_delegations(
    state: web::Data<AppState>,
    _: Authorized<needs::Admin>,
    query: web::Query<DelegationQuery>,
) -> Result<HttpResponse, Problem> {
    let parse = |field: &'static str, value: &Option<String>| {
        value
            .as_deref()
            .map(Cbe::parse)
            .transpose()
            .map_err(|e| Problem::invalid_field(field, e))
    };
    let consumer = parse("consumer", &query.consumer)?;
    let supplier = parse("supplier", &query.supplier)?;
    let found = store::list(&state.db, consumer.as_ref(), supplier.as_ref())
        .await
        .map_err(store_problem)?;
    Ok(HttpResponse::Ok().json(DelegationList {
        delegations: found.iter().map(DelegationView::from).collect(),
    }))
}

/// Reads a delegation (in force or ended).
#[utoipa::path(
    get, path = "/admin/delegations/{id}", tag = "admin",
    responses((status = 200, body = DelegationView), (status = 404, description = "unknown"))
)]
#[get("/admin/delegations/{id}")]
pub async fn get_delegation(
    state: web::Data<AppState>,
    _: Authorized<needs::Admin>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let found = store::get(&state.db, &path)
        .await
        .map_err(store_problem)?
        .ok_or_else(|| Problem::not_found(format!("no delegation {}", path.as_str())))?;
    Ok(HttpResponse::Ok().json(DelegationView::from(&found)))
}

/// Ends a delegation: no token is issued under it any more, and the tokens issued
/// under it are refused, at once by this instance and within seconds by every other.
/// It stays on record (listed with `endedAt`). Ending an ended delegation changes
/// nothing and answers 204 again (DELETE is idempotent, RFC 9110 §9.2.2); an unknown
/// id is 404.
#[utoipa::path(
    delete, path = "/admin/delegations/{id}", tag = "admin",
    responses((status = 204, description = "ended (or ended already)"), (status = 404, description = "unknown"))
)]
#[delete("/admin/delegations/{id}")]
pub async fn end_delegation(
    state: web::Data<AppState>,
    who: Authorized<needs::Admin>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let ended = store::end(&state.db, &path, state.clock.now())
        .await
        .map_err(store_problem)?
        .ok_or_else(|| Problem::not_found(format!("no delegation {}", path.as_str())))?;
    state.verifier.delegations.forget(&ended.id);
    tracing::info!(delegation = %ended.id, by = %who.claims.client_id, "delegation ended");
    Ok(HttpResponse::NoContent().finish())
}

//! The API portal: clients, for tokens with scope `admin` and
//! audience `{issuer}/admin`.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::authz::client::{Client, ClientRegistration};
use crate::authz::guard::{Authorized, needs};
use crate::authz::store::{self, StoreError};
use crate::body;
use crate::problem::Problem;
use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClientView {
    pub client_id: String,
    #[serde(rename = "type")]
    pub client_type: String,
    pub name: String,
    pub organization: Option<String>,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    #[schema(value_type = Object)]
    pub claims: Map<String, Value>,
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    pub min_acr: Option<String>,
    pub attestation: Option<String>,
    pub dpop_bound_access_tokens: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&Client> for ClientView {
    fn from(c: &Client) -> Self {
        Self {
            client_id: c.id.to_string(),
            client_type: c.client_type.as_str().to_owned(),
            name: c.name.clone(),
            organization: c.organization.as_ref().map(ToString::to_string),
            redirect_uris: c.redirect_uris.clone(),
            scopes: c.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            claims: c.claims.clone(),
            jwks: c.jwks.as_ref().map(|j| j.to_value()),
            min_acr: c.min_acr.map(|a| a.as_str().to_owned()),
            attestation: c.allow_none_attestation.then(|| "none".to_owned()),
            dpop_bound_access_tokens: c.dpop_bound_access_tokens,
            created_at: c.created_at,
        }
    }
}

fn store_problem(e: StoreError) -> Problem {
    match e {
        StoreError::Conflict => Problem::conflict("it exists already"),
        other => Problem::internal("E-ADMIN-STORE", &other),
    }
}

/// Registers a client.
#[utoipa::path(
    post, path = "/admin/clients", tag = "admin", request_body = ClientRegistration,
    responses((status = 201, body = ClientView), (status = 409, description = "client_id taken"), (status = 422, description = "a rule is broken; `field` names it"))
)]
#[post("/admin/clients")]
pub async fn create_client(
    state: web::Data<AppState>,
    _: Authorized<needs::Admin>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let registration: ClientRegistration = body::read_json(
        &req,
        payload,
        state.config.settings.service.body_limit_bytes,
    )
    .await?;
    let client = registration
        .validate(state.clock.now())
        .map_err(|e| Problem::invalid_field(e.field, e.reason))?;
    if let Some(cbe) = &client.organization
        && crate::people::store::get_organization(&state.db, cbe)
            .await
            .map_err(|e| Problem::internal("E-ADMIN-STORE", &e))?
            .is_none()
    {
        return Err(Problem::invalid_field(
            "organization",
            format!("no organization {cbe} is registered"),
        ));
    }
    for key in client.jwks.iter().flat_map(|set| set.keys.iter()) {
        if crate::keys::store::get(&state.db, &key.kid)
            .await
            .map_err(|e| Problem::internal("E-KEYS-GET", &e))?
            .is_some()
        {
            return Err(Problem::conflict(format!(
                "a key with kid {} is registered already",
                key.kid
            )));
        }
    }
    store::insert_client(&state.db, &client)
        .await
        .map_err(|e| match e {
            StoreError::Conflict => {
                Problem::conflict(format!("client {} exists already", client.id))
            }
            other => store_problem(other),
        })?;
    crate::keys::service::record_client_keys(
        &state.db,
        &client,
        &state.keystore.policy,
        state.clock.now(),
    )
    .await
    .map_err(|e| Problem::internal("E-KEYS-RECORD", &e))?;
    tracing::info!(client_id = %client.id, client_type = client.client_type.as_str(), "client registered");
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/admin/clients/{}", client.id)))
        .json(ClientView::from(&client)))
}

/// Reads a client's registration.
#[utoipa::path(get, path = "/admin/clients/{client_id}", tag = "admin", responses((status = 200, body = ClientView), (status = 404, description = "unknown")))]
#[get("/admin/clients/{client_id}")]
pub async fn get_client(
    state: web::Data<AppState>,
    _: Authorized<needs::Admin>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let client = store::get_client(&state.db, &path)
        .await
        .map_err(store_problem)?
        .ok_or_else(|| Problem::not_found(format!("no client {}", path.as_str())))?;
    Ok(HttpResponse::Ok().json(ClientView::from(&client)))
}

/// Removes a client: it can no longer authenticate, its access tokens are refused
/// everywhere within seconds, its refresh tokens are revoked, and its codes, consents
/// and authorizations in progress are dropped; a client registered again under its id
/// inherits none of them.
#[utoipa::path(delete, path = "/admin/clients/{client_id}", tag = "admin", responses((status = 204, description = "deleted"), (status = 404, description = "unknown")))]
#[delete("/admin/clients/{client_id}")]
pub async fn delete_client(
    state: web::Data<AppState>,
    who: Authorized<needs::Admin>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let caller = who.claims;
    if caller.client_id == *path {
        return Err(Problem::conflict("a client cannot delete itself"));
    }
    if !store::delete_client(&state.db, &path)
        .await
        .map_err(store_problem)?
    {
        return Err(Problem::not_found(format!("no client {}", path.as_str())));
    }
    // What it was granted goes with it, so that a client registered again under this id
    // starts with nothing: refresh tokens revoked, codes, consents and authorizations in
    // progress dropped. Its access tokens are refused by the token check (at once
    // here, within `cache::registry::WATCH_PERIOD` at the other instances).
    let now = state.clock.now();
    crate::authz::grants::store::forget_client(&state.db, &path, now)
        .await
        .map_err(|e| Problem::internal("E-CLIENT-GRANTS", &e))?;
    crate::authz::login::store::forget_client(&state.db, &path)
        .await
        .map_err(|e| Problem::internal("E-CLIENT-GRANTS", &e))?;
    // Its keys stay in history, revoked: nothing may be encrypted to them any more.
    crate::keys::store::revoke_client_keys(
        &state.db,
        &path,
        &format!("admin:{}", caller.client_id),
        state.clock.now(),
    )
    .await
    .map_err(|e| Problem::internal("E-KEYS-REVOKE", &e))?;
    tracing::info!(client_id = %path, by = %caller.client_id, "client deleted");
    Ok(HttpResponse::NoContent().finish())
}

//! `POST /admin/persons` and `GET /admin/persons/{ssin}`: the authentic source's admin
//! API, for tokens with scope `admin` and audience `{issuer}/admin`.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::{InvalidPerson, NewPerson, Organization, Person, PersonRegistration, Profile};
use super::store::{self, PersonRow, StoreError};
use super::{Cbe, Ssin, credentials};
use crate::authz::guard::{Authorized, needs};
use crate::body;
use crate::problem::Problem;
use crate::state::AppState;

/// A person as the admin API shows them: never the password hash or the TOTP secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PersonView {
    pub ssin: String,
    pub name: String,
    pub password: bool,
    pub totp: bool,
    #[schema(value_type = Vec<Object>)]
    pub profiles: Vec<Profile>,
    pub created_at: DateTime<Utc>,
}

impl From<&Person> for PersonView {
    fn from(p: &Person) -> Self {
        Self {
            ssin: p.ssin.to_string(),
            name: p.name.clone(),
            password: p.password_hash.is_some(),
            totp: p.has_totp(),
            profiles: p.profiles.clone(),
            created_at: p.created_at,
        }
    }
}

/// Every organization named by an organization profile must be registered.
pub async fn check_organizations(
    state: &AppState,
    person: &NewPerson,
) -> Result<(), InvalidPerson> {
    for (i, profile) in person.profiles.iter().enumerate() {
        if let Profile::Organization { cbe } = profile {
            let known = store::get_organization(&state.db, cbe)
                .await
                .map_err(|e| InvalidPerson {
                    field: "profiles".into(),
                    reason: format!("cannot check the organization: {e}"),
                })?
                .is_some();
            if !known {
                return Err(InvalidPerson {
                    field: format!("profiles[{i}].cbe"),
                    reason: format!("no organization {cbe} is registered"),
                });
            }
        }
    }
    Ok(())
}

/// Registers a person with their credentials and profiles.
#[utoipa::path(
    post, path = "/admin/persons", tag = "admin", request_body = PersonRegistration,
    responses((status = 201, body = PersonView), (status = 409, description = "SSIN taken"), (status = 422, description = "a rule is broken; `field` names it"))
)]
#[post("/admin/persons")]
pub async fn create_person(
    state: web::Data<AppState>,
    _: Authorized<needs::Admin>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let registration: PersonRegistration = body::read_json(
        &req,
        payload,
        state.config.settings.service.body_limit_bytes,
    )
    .await?;
    let person = registration
        .validate()
        .map_err(|e| Problem::invalid_field(e.field, e.reason))?;
    check_organizations(&state, &person)
        .await
        .map_err(|e| Problem::invalid_field(e.field, e.reason))?;
    let master = state.master.clone();
    let protected = person.clone();
    let (password_hash, sealed_totp_secret) =
        web::block(move || credentials::protect(&protected, &master))
            .await
            .map_err(|e| Problem::internal("E-PERSON-HASH", &e))?
            .map_err(|e| Problem::internal("E-PERSON-HASH", &e))?;
    let now = state.clock.now();
    let row = PersonRow {
        ssin: &person.ssin,
        name: &person.name,
        password_hash,
        sealed_totp_secret,
        profiles: &person.profiles,
    };
    store::insert_person(&state.db, &row, now)
        .await
        .map_err(|e| match e {
            StoreError::Conflict => {
                Problem::conflict(format!("person {} exists already", person.ssin))
            }
            other => Problem::internal("E-PERSON-STORE", &other),
        })?;
    let stored = Person {
        ssin: person.ssin.clone(),
        name: person.name.clone(),
        password_hash: row.password_hash,
        sealed_totp_secret: row.sealed_totp_secret,
        profiles: person.profiles.clone(),
        created_at: now,
    };
    tracing::info!(profiles = stored.profiles.len(), "person registered");
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/admin/persons/{}", stored.ssin)))
        .json(PersonView::from(&stored)))
}

/// Reads a person.
#[utoipa::path(get, path = "/admin/persons/{ssin}", tag = "admin", responses((status = 200, body = PersonView), (status = 404, description = "unknown"), (status = 422, description = "invalid SSIN")))]
#[get("/admin/persons/{ssin}")]
pub async fn get_person(
    state: web::Data<AppState>,
    _: Authorized<needs::Admin>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let ssin = Ssin::parse(&path).map_err(|e| Problem::invalid_field("ssin", e))?;
    let person = store::get_person(&state.db, &ssin)
        .await
        .map_err(|e| Problem::internal("E-PERSON-STORE", &e))?
        .ok_or_else(|| Problem::not_found("no such person"))?;
    Ok(HttpResponse::Ok().json(PersonView::from(&person)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    pub cbe: String,
    pub name: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrganizationView {
    pub cbe: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<Organization> for OrganizationView {
    fn from(o: Organization) -> Self {
        Self {
            cbe: o.cbe.to_string(),
            name: o.name,
            created_at: o.created_at,
        }
    }
}

/// Registers an organization.
#[utoipa::path(
    post, path = "/admin/organizations", tag = "admin", request_body = NewOrganization,
    responses((status = 201, body = OrganizationView), (status = 409, description = "exists"), (status = 422, description = "invalid CBE"))
)]
#[post("/admin/organizations")]
pub async fn create_organization(
    state: web::Data<AppState>,
    _: Authorized<needs::Admin>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let new: NewOrganization = body::read_json(
        &req,
        payload,
        state.config.settings.service.body_limit_bytes,
    )
    .await?;
    let cbe = Cbe::parse(&new.cbe).map_err(|e| Problem::invalid_field("cbe", e))?;
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(Problem::invalid_field(
            "name",
            "must be 1 to 200 characters",
        ));
    }
    let org = Organization {
        cbe,
        name: name.to_owned(),
        created_at: state.clock.now(),
    };
    store::insert_organization(&state.db, &org)
        .await
        .map_err(|e| match e {
            StoreError::Conflict => {
                Problem::conflict(format!("organization {} exists already", org.cbe))
            }
            other => Problem::internal("E-PEOPLE-STORE", &other),
        })?;
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/admin/organizations/{}", org.cbe)))
        .json(OrganizationView::from(org)))
}

/// Reads an organization.
#[utoipa::path(get, path = "/admin/organizations/{cbe}", tag = "admin", responses((status = 200, body = OrganizationView), (status = 404, description = "unknown")))]
#[get("/admin/organizations/{cbe}")]
pub async fn get_organization(
    state: web::Data<AppState>,
    _: Authorized<needs::Admin>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let cbe = Cbe::parse(&path).map_err(|e| Problem::invalid_field("cbe", e))?;
    let org = store::get_organization(&state.db, &cbe)
        .await
        .map_err(|e| Problem::internal("E-PEOPLE-STORE", &e))?
        .ok_or_else(|| Problem::not_found(format!("no organization {cbe}")))?;
    Ok(HttpResponse::Ok().json(OrganizationView::from(org)))
}

//! The keystore's HTTP surface (API.md, Keystore): the registration ceremony, the
//! owner's keys, revocation and the JWKS search.

pub mod admin;
pub mod log;

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, DurationRound, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ceremony::{CeremonyError, UserEntity};
use super::service::{owner_view, public_view, revoke, valid_name};
use super::store::{self, IdentityFilter, InsertError, KeyRow, NewKey, NewRegistration, Search};
use super::{KeyUse, Owner, Source, Status, jwk};
use crate::authz::guard::{Authorized, needs};
use crate::authz::store as client_store;
use crate::authz::tokens::AccessTokenClaims;
use crate::body;
use crate::people::model::QUALITIES;
use crate::people::{self, Cbe, Identifier, Ssin};
use crate::problem::{Problem, db_error as db_problem};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(start_registration)
        .service(finish_registration)
        .service(jwks)
        .service(own_keys)
        .service(revoke_own_key)
        .service(admin::add_key)
        .service(admin::revoke_key)
        .service(log::tree_head)
        .service(log::inclusion)
        .service(log::consistency)
        .service(log::entries);
}

/// The 409 of a full (person, client) pair, naming the keys that fill it.
fn limit_problem(active: &[KeyRow], max: usize) -> Problem {
    let names: Vec<String> = active
        .iter()
        .map(|k| format!("{} ({})", k.kid, k.name))
        .collect();
    Problem::new(
        StatusCode::CONFLICT,
        "key-limit",
        format!(
            "this application already has {max} active keys: {}; revoke one first",
            names.join(", ")
        ),
    )
    .with_member(
        "activeKeys",
        json!(
            active
                .iter()
                .map(|k| json!({"kid": k.kid, "name": k.name, "use": k.key_use}))
                .collect::<Vec<_>>()
        ),
    )
}

/// The keystore's view of a caller the guard let through: whose keys are theirs.
fn caller_of<N>(who: Authorized<N>) -> Result<(AccessTokenClaims, Owner), Problem> {
    let claims = who.claims;
    let owner = Owner::of_token(&claims)
        .map_err(|e| Problem::new(StatusCode::FORBIDDEN, "no-key-owner", e))?;
    Ok((claims, owner))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationRequest {
    /// `sig`, `enc` or `sig+enc`.
    #[serde(rename = "use")]
    pub key_use: String,
    /// The name the user gives the device key (1–100 characters).
    pub name: String,
}

/// How the authenticator shows the user: a person's name, or the client's.
async fn user_entity_names(
    state: &AppState,
    owner: &Owner,
    client_id: &str,
) -> Result<(String, String), Problem> {
    if let Some(ssin) = owner.ssin.as_deref().and_then(|s| Ssin::parse(s).ok()) {
        let person = people::store::get_person(&state.db, &ssin)
            .await
            .map_err(|e| Problem::internal("E-KEYS-PERSON", &e))?;
        let name = person.map(|p| p.name).unwrap_or_else(|| ssin.to_string());
        return Ok((ssin.to_string(), name));
    }
    Ok((client_id.to_owned(), client_id.to_owned()))
}

/// Starts a WebAuthn registration for the caller's (person, client) pair.
#[utoipa::path(post, path = "/keys/registrations", tag = "keys", request_body = RegistrationRequest,
    responses((status = 201, description = "registrationId and publicKey (PublicKeyCredentialCreationOptions)"),
        (status = 401, description = "no valid token"), (status = 403, description = "no keys:register scope"),
        (status = 409, description = "the pair has the maximum of active keys"), (status = 422, description = "bad use or name")))]
#[post("/keys/registrations")]
pub async fn start_registration(
    state: web::Data<AppState>,
    who: Authorized<needs::KeysRegister>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let (claims, owner) = caller_of(who)?;
    let bytes = body::read(payload, state.config.settings.service.body_limit_bytes).await?;
    let request: RegistrationRequest = body::json(&req, &bytes)?;
    let key_use = KeyUse::parse(&request.key_use)
        .ok_or_else(|| Problem::invalid_field("use", "must be \"sig\", \"enc\" or \"sig+enc\""))?;
    let name = valid_name(&request.name).map_err(|e| Problem::invalid_field("name", e))?;
    let keystore = &state.keystore;
    let now = state.clock.now();
    let active = store::active_of(
        &state.db,
        &owner.owner,
        Some(&claims.client_id),
        now,
        &keystore.policy,
    )
    .await
    .map_err(db_problem("E-KEYS-ACTIVE"))?;
    if active.len() >= keystore.policy.max_active {
        return Err(limit_problem(&active, keystore.policy.max_active));
    }
    let exclude = active
        .iter()
        .filter_map(|k| B64.decode(&k.kid).ok())
        .collect();
    let handle = state
        .master
        .pseudonym("webauthn-user-handle", owner.owner.as_bytes());
    let (user_name, display_name) = user_entity_names(&state, &owner, &claims.client_id).await?;
    let user = UserEntity {
        handle: &handle,
        name: &user_name,
        display_name: &display_name,
    };
    let (options, ceremony_state) = keystore
        .ceremony
        .start(&user, exclude)
        .map_err(|e| Problem::internal("E-KEYS-CEREMONY", &e))?;
    let id = uuid::Uuid::new_v4().to_string();
    store::insert_registration(
        &state.db,
        NewRegistration {
            id: &id,
            owner: &owner,
            client_id: &claims.client_id,
            key_use,
            name,
            state: ceremony_state,
            expires_at: now + keystore.policy.registration_timeout,
        },
        now,
    )
    .await
    .map_err(db_problem("E-KEYS-REGISTRATION"))?;
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(json!({"registrationId": id, "publicKey": options})))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationResponse {
    /// RegistrationResponseJSON: id, rawId, type, response {clientDataJSON, attestationObject}.
    #[schema(value_type = Object)]
    pub credential: Value,
}

/// Verifies the authenticator's response and stores the key.
#[utoipa::path(post, path = "/keys/registrations/{registrationId}", tag = "keys", request_body = RegistrationResponse,
    responses((status = 201, description = "kid, jwk, use, status, notBefore, notAfter"),
        (status = 404, description = "no open registration with this id for the caller"),
        (status = 409, description = "the limit was reached meanwhile"),
        (status = 422, description = "the response fails a check; nothing stored")))]
#[post("/keys/registrations/{id}")]
pub async fn finish_registration(
    state: web::Data<AppState>,
    who: Authorized<needs::KeysRegister>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let (claims, owner) = caller_of(who)?;
    let bytes = body::read(payload, state.config.settings.service.body_limit_bytes).await?;
    let response: RegistrationResponse = body::json(&req, &bytes)?;
    let now = state.clock.now();
    let gone = || {
        Problem::not_found(format!(
            "no open registration {}: it is unknown, finished or expired",
            path.as_str()
        ))
    };
    let registration = store::open_registration(&state.db, &path, now)
        .await
        .map_err(db_problem("E-KEYS-REGISTRATION"))?
        .filter(|r| r.owner == owner.owner && r.client_id == claims.client_id)
        .ok_or_else(gone)?;
    if !store::claim_registration(&state.db, &registration.id, now)
        .await
        .map_err(db_problem("E-KEYS-REGISTRATION"))?
    {
        return Err(gone());
    }
    let registered_owner: Owner = serde_json::from_value(registration.identity.clone())
        .map_err(|e| Problem::internal("E-KEYS-REGISTRATION", &e))?;
    let key_use = KeyUse::parse(&registration.key_use).unwrap_or(KeyUse::Sig);
    let allow_none = client_store::get_client(&state.db, &claims.client_id)
        .await
        .map_err(|e| Problem::internal("E-KEYS-CLIENT", &e))?
        .is_some_and(|c| c.allow_none_attestation);
    let keystore = &state.keystore;
    let attested = keystore
        .ceremony
        .finish(&response.credential, &registration.state, allow_none)
        .map_err(|e| match e {
            CeremonyError::Refused(why) => Problem::unprocessable(why),
            other => Problem::internal("E-KEYS-VERIFY", &other),
        })?;
    let kid = B64.encode(&attested.credential_id);
    let public =
        jwk::from_credential(&attested.key, &kid, key_use).map_err(Problem::unprocessable)?;
    let not_after = now + keystore.policy.lifetime;
    let new = NewKey {
        owner: &registered_owner,
        client_id: Some(&registration.client_id),
        name: &registration.name,
        key_use,
        jwk: &public,
        source: Source::Webauthn,
        attestation: Some(attested.attestation),
        not_before: now,
        not_after,
    };
    store::insert_key(
        &state.db,
        &new,
        Some(keystore.policy.max_active),
        &keystore.policy,
        now,
    )
    .await
    .map_err(|e| match e {
        InsertError::Limit(active) => limit_problem(&active, keystore.policy.max_active),
        InsertError::Duplicate => {
            Problem::unprocessable(format!("credential id {kid} is registered already"))
        }
        InsertError::Db(e) => Problem::internal("E-KEYS-INSERT", &e),
    })?;
    tracing::info!(kid = %kid, client_id = %registration.client_id, key_use = key_use.as_str(),
        attestation = attested.attestation, "key registered");
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/keys/{kid}")))
        .json(json!({
            "kid": kid,
            "jwk": public.jwk,
            "use": key_use.as_str(),
            "status": Status::Active,
            "notBefore": now,
            "notAfter": not_after,
        })))
}

/// The caller's own keys, every client, with their history.
#[utoipa::path(get, path = "/keys", tag = "keys",
    responses((status = 200, description = "{\"keys\": [...]}"), (status = 401, description = "no valid token")))]
#[get("/keys")]
pub async fn own_keys(
    state: web::Data<AppState>,
    who: Authorized<needs::KeysRegister>,
) -> Result<HttpResponse, Problem> {
    let (_, owner) = caller_of(who)?;
    let now = state.clock.now();
    let keys = store::keys_of(&state.db, &owner.owner, None)
        .await
        .map_err(db_problem("E-KEYS-LIST"))?;
    let policy = &state.keystore.policy;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({"keys": keys.iter().map(|k| owner_view(k, policy, now)).collect::<Vec<_>>()})))
}

/// Revokes one of the caller's keys.
#[utoipa::path(delete, path = "/keys/{kid}", tag = "keys",
    responses((status = 204, description = "revoked (or revoked already)"), (status = 404, description = "not one of the caller's keys")))]
#[delete("/keys/{kid}")]
pub async fn revoke_own_key(
    state: web::Data<AppState>,
    who: Authorized<needs::KeysRegister>,
    kid: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let (_, owner) = caller_of(who)?;
    let row = store::get(&state.db, &kid)
        .await
        .map_err(db_problem("E-KEYS-GET"))?
        .filter(|row| row.owner == owner.owner)
        .ok_or_else(|| Problem::not_found(format!("you have no key {}", kid.as_str())))?;
    revoke(&state.db, &row, &owner.owner, state.clock.now())
        .await
        .map_err(|e| Problem::internal("E-KEYS-REVOKE", &e))?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct JwksQuery {
    /// `ssin`, `nihii` or `cbe`.
    pub identity_type: Option<String>,
    pub identity_value: Option<String>,
    pub client_id: Option<String>,
    /// `sig` or `enc` (a `sig+enc` key answers both).
    #[serde(rename = "use")]
    pub key_use: Option<String>,
    pub kid: Option<String>,
    /// RFC 3339; default now.
    pub at: Option<String>,
    /// A group: the members of this organization (CBE) of quality `quality`.
    pub organization: Option<String>,
    /// With `organization`: `doctor`, `nurse`, … (the professional qualities).
    pub quality: Option<String>,
}

/// A group by quality within an organization: "the doctors of CBE X".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub organization: Cbe,
    pub quality: String,
}

impl JwksQuery {
    /// The group asked for, both parameters or neither, each bad one a 422 naming it.
    pub fn group(&self) -> Result<Option<Group>, Problem> {
        match (&self.organization, &self.quality) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(Problem::invalid_field(
                "quality",
                "organization needs quality (the members of which quality)",
            )),
            (None, Some(_)) => Err(Problem::invalid_field(
                "organization",
                "quality needs organization (the CBE number whose members)",
            )),
            (Some(cbe), Some(quality)) => {
                let organization =
                    Cbe::parse(cbe).map_err(|e| Problem::invalid_field("organization", e))?;
                if !QUALITIES.contains(&quality.as_str()) {
                    return Err(Problem::invalid_field(
                        "quality",
                        format!("unknown quality (one of {})", QUALITIES.join(", ")),
                    ));
                }
                if self.identity_type.is_some() || self.identity_value.is_some() {
                    return Err(Problem::invalid_field(
                        "organization",
                        "name either an identity or a group, not both",
                    ));
                }
                Ok(Some(Group {
                    organization,
                    quality: quality.clone(),
                }))
            }
        }
    }

    /// The search, each bad parameter a 422 naming it.
    pub fn search(&self) -> Result<(Search, Option<DateTime<Utc>>), Problem> {
        let identity = Identifier::from_query(
            self.identity_type.as_deref(),
            self.identity_value.as_deref(),
        )
        .map_err(|(field, why)| Problem::invalid_field(field, why))?
        .map(|id| IdentityFilter::from(&id));
        let key_use = match self.key_use.as_deref() {
            None => None,
            Some("sig") => Some(KeyUse::Sig),
            Some("enc") => Some(KeyUse::Enc),
            Some(_) => return Err(Problem::invalid_field("use", "must be sig or enc")),
        };
        let at = match &self.at {
            None => None,
            Some(text) => Some(
                DateTime::parse_from_rfc3339(text)
                    .map_err(|e| {
                        Problem::invalid_field("at", format!("not an RFC 3339 time: {e}"))
                    })?
                    .with_timezone(&Utc)
                    // Key times are kept to the millisecond (the clock's precision):
                    // compare at that precision (cut, so never a later time than asked).
                    .duration_trunc(chrono::TimeDelta::milliseconds(1))
                    .map_err(|e| Problem::invalid_field("at", format!("out of range: {e}")))?,
            ),
        };
        if identity.is_none()
            && self.organization.is_none()
            && self.client_id.is_none()
            && self.kid.is_none()
        {
            return Err(Problem::unprocessable(
                "name whose keys: identity_type and identity_value, organization and quality, client_id or kid",
            ));
        }
        Ok((
            Search {
                identity,
                members: None,
                client_id: self.client_id.clone(),
                kid: self.kid.clone(),
                key_use,
            },
            at,
        ))
    }
}

/// JWK Set search: the keys that were active at `at`.
#[utoipa::path(get, path = "/keys/jwks", tag = "keys", params(JwksQuery),
    responses((status = 200, description = "a JWK Set"), (status = 401, description = "no valid token"),
        (status = 403, description = "no keys:read scope"), (status = 422, description = "a bad parameter, named")))]
#[get("/keys/jwks")]
pub async fn jwks(
    state: web::Data<AppState>,
    who: Authorized<needs::KeysRead>,
    query: web::Query<JwksQuery>,
) -> Result<HttpResponse, Problem> {
    let group = query.group()?;
    let (mut search, at) = query.search()?;
    // Whose keys were looked up names a person: the audit stream, never the log.
    let caller = || {
        Owner::of_token(&who.claims)
            .map_or_else(|_| format!("client:{}", who.claims.client_id), |o| o.owner)
    };
    if let (Some(kind), Some(value)) = (&query.identity_type, &query.identity_value) {
        crate::ops::audit::record("keys looked up", &caller(), &format!("{kind}:{value}"));
    }
    if let Some(group) = &group {
        search.members = Some(members(&state, group).await?);
        let named = format!("{}@cbe:{}", group.quality, group.organization);
        crate::ops::audit::record("group looked up", &caller(), &named);
    }
    let at = at.unwrap_or_else(|| state.clock.now());
    let policy = &state.keystore.policy;
    let keys = store::search(&state.db, &search, at, policy)
        .await
        .map_err(db_problem("E-KEYS-SEARCH"))?;
    let mut views: Vec<Value> = keys.iter().map(|k| public_view(k, policy, at)).collect();
    let head = vouch(&state, &keys, &mut views).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({"keys": views, "log_head": head})))
}

/// The group's members, as whose professional keys the search finds: each member's
/// NIHII of that quality, read from the authentic source at the time of the search.
async fn members(state: &AppState, group: &Group) -> Result<Vec<IdentityFilter>, Problem> {
    let members =
        crate::people::store::members_of_quality(&state.db, &group.organization, &group.quality)
            .await
            .map_err(|e| Problem::internal("E-KEYS-GROUP", &e))?;
    Ok(members
        .into_iter()
        .map(|(_, nihii)| IdentityFilter::Nihii(nihii.to_string()))
        .collect())
}

/// Adds to each key's view the inclusion proof of its latest logged event (`log`:
/// `{index, event, proof}`), all against one tree head, which is returned signed. The
/// tree is read again only when the registry changed, or when a key is not in it yet
/// (registered at another instance since its last change reached this one).
async fn vouch(state: &AppState, keys: &[KeyRow], views: &mut [Value]) -> Result<Value, Problem> {
    let kids: Vec<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
    let tree = &state.keystore.log;
    tree.catch_up_after(&state.db, state.freshness.stamp())
        .await
        .map_err(db_problem("E-LOG-READ"))?;
    let (mut proofs, mut head) = tree.vouch(&kids);
    if proofs.iter().any(Option::is_none) {
        log::caught_up(state).await?;
        (proofs, head) = tree.vouch(&kids);
    }
    for (view, proof) in views.iter_mut().zip(proofs) {
        if let Some((proof, event)) = proof {
            view["log"] =
                json!({"index": proof.index, "event": event.as_str(), "proof": proof.proof});
        }
    }
    log::signed(state, &head).await
}

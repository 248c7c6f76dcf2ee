//! The symmetric-key service's HTTP surface (API.md "Symmetric keys"): create, fetch
//! (in clear or wrapped for one of the reader's `enc` keys), delete, and the audit log
//! for administrators.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, LOCATION};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::policy::{self, AccessPolicy};
use super::store::{self, AuditQuery, AuditRow, KeyRow, NewKey};
use super::{Actor, AuditEvent, KeyMaterial, NewKeyRequest};
use crate::authz::guard::{Authorized, needs};
use crate::body;
use crate::keys::Status;
use crate::keys::store as keystore;
use crate::ops::audit;
use crate::people::Identifier;
use crate::problem::{Problem, db_error as db_problem};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create)
        .service(fetch)
        .service(remove)
        .service(audit_log);
}

/// The symmetric-key service's view of a caller the guard let through.
fn actor_of<N>(who: &Authorized<N>) -> Result<Actor, Problem> {
    Actor::of_token(&who.claims).map_err(|e| Problem::new(StatusCode::FORBIDDEN, "no-identity", e))
}

fn gone() -> Problem {
    Problem::new(
        StatusCode::GONE,
        "gone",
        "this key expired or was deleted; it cannot be recovered",
    )
}

fn unknown_key() -> Problem {
    Problem::not_found("no such key")
}

/// Key ids are UUIDs; anything else names no key.
fn key_id(path: &str) -> Result<String, Problem> {
    uuid::Uuid::parse_str(path)
        .map(|id| id.hyphenated().to_string())
        .map_err(|_| unknown_key())
}

/// Creates a key with an access policy and a lifetime.
#[utoipa::path(post, path = "/symkeys", tag = "symkeys",
    request_body(content = Value, description = "{\"policy\": {\"allow\": [selector…], \"deny\"?: [selector…], \"mandateesAsMandator\"?: bool}, \"ttlSeconds\": N}"),
    responses((status = 201, description = "{keyId, jwk: {kty: oct, kid, alg: A256KW, k}, expiresAt}"),
        (status = 401, description = "no valid token"), (status = 403, description = "no symkeys:create scope or audience"),
        (status = 422, description = "a malformed policy or ttlSeconds; `field` names it")))]
#[post("/symkeys")]
pub async fn create(
    state: web::Data<AppState>,
    who: Authorized<needs::SymkeysCreate>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let creator = actor_of(&who)?;
    let bytes = body::read(payload, state.config.settings.service.body_limit_bytes).await?;
    let request: Value = body::json(&req, &bytes)?;
    let request = NewKeyRequest::parse(
        &request,
        state.config.settings.symkeys.symkey_max_ttl_seconds,
    )
    .map_err(|e| Problem::invalid_field(e.field, e.detail))?;
    let key = KeyMaterial::generate().map_err(|e| Problem::internal("E-SYMKEY-RANDOM", &e))?;
    let key_id = uuid::Uuid::new_v4().hyphenated().to_string();
    let sealed = key
        .seal(&state.master, &key_id)
        .map_err(|e| Problem::internal("E-SYMKEY-SEAL", &e))?;
    let now = state.clock.now();
    let expires_at = now + request.ttl;
    store::insert(
        &state.db,
        NewKey {
            key_id: &key_id,
            sealed,
            policy: request.policy.to_json(),
            creator: &creator,
            created_at: now,
            expires_at,
        },
    )
    .await
    .map_err(db_problem("E-SYMKEY-INSERT"))?;
    tracing::info!(key_id, creator = %state.master.log_name(&creator.owner), "symmetric key created");
    audit::record("symmetric key created", &creator.owner, &key_id);
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/symkeys/{key_id}")))
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(json!({"keyId": key_id, "jwk": key.jwk(&key_id), "expiresAt": expires_at})))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FetchQuery {
    /// The kid of one of the caller's active `enc` keys: the key comes as a JWE to it.
    pub wrap: Option<String>,
}

/// The registered key a wrapped answer is encrypted to: an active key of the caller's
/// (same person or system, any client) that can encrypt.
async fn wrap_target(
    state: &AppState,
    reader: &Actor,
    kid: &str,
    now: DateTime<Utc>,
) -> Result<Value, Problem> {
    let refuse = |why: &str| Problem::invalid_field("wrap", why);
    let row = keystore::get(&state.db, kid)
        .await
        .map_err(db_problem("E-SYMKEY-WRAPKEY"))?
        .filter(|row| row.owner == reader.owner)
        .ok_or_else(|| refuse("names none of your registered keys"))?;
    if keystore::status(&row, &state.keystore.policy, now) != Status::Active {
        return Err(refuse("names a key that is not active"));
    }
    if !keystore::key_use(&row).can_encrypt() {
        return Err(refuse("names a signing key; name an enc key"));
    }
    Ok(row.jwk)
}

/// The decision for a key that still exists, recorded before anything is released.
async fn judge(
    state: &AppState,
    row: &KeyRow,
    reader: &Actor,
    wrapped_for: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), Problem> {
    let policy = AccessPolicy::parse(&row.policy)
        .map_err(|e| Problem::internal("E-SYMKEY-POLICY", &e.detail))?;
    let decision = policy::decide(&policy, &reader.subject, reader.owner == row.creator_owner);
    let (event, mut reason) = if decision.granted() {
        (AuditEvent::Granted, decision.to_string())
    } else {
        (AuditEvent::Refused, decision.to_string())
    };
    if let (true, Some(kid)) = (decision.granted(), wrapped_for) {
        reason.push_str(&format!("; wrapped for key {kid}"));
    }
    store::audit(&state.db, now, &row.key_id, event, Some(reader), &reason)
        .await
        .map_err(db_problem("E-SYMKEY-AUDIT"))?;
    audit::record(
        if decision.granted() {
            "symmetric key granted"
        } else {
            "symmetric key refused"
        },
        &reader.owner,
        &row.key_id,
    );
    if decision.granted() {
        Ok(())
    } else {
        tracing::info!(key_id = row.key_id, reader = %state.master.log_name(&reader.owner), %decision, "symmetric key refused");
        Err(Problem::new(
            StatusCode::FORBIDDEN,
            "access-denied",
            "the key's access policy does not allow this identity",
        ))
    }
}

/// A key that has no row: gone if it ever existed (the audit trail says so), else unknown.
async fn missing(state: &AppState, key_id: &str, reader: &Actor, now: DateTime<Utc>) -> Problem {
    let existed = match store::creator_of_removed(&state.db, key_id).await {
        Ok(creator) => creator.is_some(),
        Err(e) => return Problem::internal("E-SYMKEY-TRAIL", &e),
    };
    let (event, reason, problem) = if existed {
        (AuditEvent::Gone, "deleted or purged", gone())
    } else {
        (AuditEvent::Unknown, "no such key", unknown_key())
    };
    match store::audit(&state.db, now, key_id, event, Some(reader), reason).await {
        Ok(()) => problem,
        Err(e) => Problem::internal("E-SYMKEY-AUDIT", &e),
    }
}

/// Fetches a key when its policy allows the caller.
#[utoipa::path(get, path = "/symkeys/{keyId}", tag = "symkeys", params(("keyId" = String, Path), FetchQuery),
    responses((status = 200, description = "{keyId, jwk, expiresAt}, or {keyId, jwe, expiresAt} with wrap"),
        (status = 401, description = "no valid token"), (status = 403, description = "the policy does not allow the caller, or no symkeys:read scope"),
        (status = 404, description = "no such key"), (status = 410, description = "expired or deleted"),
        (status = 422, description = "wrap names no active enc key of the caller")))]
#[get("/symkeys/{key_id}")]
pub async fn fetch(
    state: web::Data<AppState>,
    who: Authorized<needs::SymkeysRead>,
    path: web::Path<String>,
    query: web::Query<FetchQuery>,
) -> Result<HttpResponse, Problem> {
    let reader = actor_of(&who)?;
    let now = state.clock.now();
    let wrap_to = match &query.wrap {
        Some(kid) => Some((kid.as_str(), wrap_target(&state, &reader, kid, now).await?)),
        None => None,
    };
    let key_id = key_id(&path)?;
    let Some(row) = store::get(&state.db, &key_id)
        .await
        .map_err(db_problem("E-SYMKEY-GET"))?
    else {
        return Err(missing(&state, &key_id, &reader, now).await);
    };
    if row.expires_at <= now {
        store::audit(
            &state.db,
            now,
            &key_id,
            AuditEvent::Gone,
            Some(&reader),
            "expired",
        )
        .await
        .map_err(db_problem("E-SYMKEY-AUDIT"))?;
        return Err(gone());
    }
    judge(
        &state,
        &row,
        &reader,
        wrap_to.as_ref().map(|(kid, _)| *kid),
        now,
    )
    .await?;
    let key = KeyMaterial::open(&state.master, &key_id, &row.sealed)
        .map_err(|e| Problem::internal("E-SYMKEY-OPEN", &e))?;
    let jwk = key.jwk(&key_id);
    let body = match wrap_to {
        None => json!({"keyId": key_id, "jwk": jwk, "expiresAt": row.expires_at}),
        Some((kid, public)) => {
            let jwe = super::wrap(&jwk, &public, kid)
                .map_err(|e| Problem::internal("E-SYMKEY-WRAP", &e))?;
            json!({"keyId": key_id, "jwe": jwe, "expiresAt": row.expires_at})
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(body))
}

/// Deletes a key before it expires; only its creator may.
#[utoipa::path(delete, path = "/symkeys/{keyId}", tag = "symkeys", params(("keyId" = String, Path)),
    responses((status = 204, description = "deleted"), (status = 401, description = "no valid token"),
        (status = 403, description = "no symkeys:create scope"), (status = 404, description = "no such key of the caller's"),
        (status = 410, description = "the caller's key expired or was deleted already")))]
#[delete("/symkeys/{key_id}")]
pub async fn remove(
    state: web::Data<AppState>,
    who: Authorized<needs::SymkeysCreate>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let caller = actor_of(&who)?;
    let key_id = key_id(&path)?;
    let now = state.clock.now();
    let (creator, live) = match store::get(&state.db, &key_id)
        .await
        .map_err(db_problem("E-SYMKEY-GET"))?
    {
        Some(row) => (Some(row.creator_owner), row.expires_at > now),
        None => (
            store::creator_of_removed(&state.db, &key_id)
                .await
                .map_err(db_problem("E-SYMKEY-TRAIL"))?,
            false,
        ),
    };
    if creator.as_deref() != Some(caller.owner.as_str()) {
        return Err(unknown_key());
    }
    let deleted = live
        && store::delete(&state.db, &key_id, &caller, now)
            .await
            .map_err(db_problem("E-SYMKEY-DELETE"))?;
    if !deleted {
        return Err(gone());
    }
    tracing::info!(key_id, "symmetric key deleted by its creator");
    audit::record("symmetric key deleted", &caller.owner, &key_id);
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    pub key_id: Option<String>,
    /// `ssin`, `nihii` or `cbe`: events of callers holding that identifier.
    pub identity_type: Option<String>,
    pub identity_value: Option<String>,
    /// 1–1000, default 100.
    pub limit: Option<u64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

impl AuditParams {
    fn query(&self) -> Result<AuditQuery, Problem> {
        let mut query = AuditQuery {
            key_id: self.key_id.clone(),
            limit: self.limit.unwrap_or(100),
            ..AuditQuery::default()
        };
        if !(1..=1000).contains(&query.limit) {
            return Err(Problem::invalid_field("limit", "must be from 1 to 1000"));
        }
        let identity = Identifier::from_query(
            self.identity_type.as_deref(),
            self.identity_value.as_deref(),
        )
        .map_err(|(field, why)| Problem::invalid_field(field, why))?;
        match identity {
            None => {}
            Some(Identifier::Ssin(s)) => query.ssin = Some(s.to_string()),
            Some(Identifier::Nihii(n)) => query.nihii = Some(n.to_string()),
            Some(Identifier::Cbe(c)) => query.cbe = Some(c.to_string()),
        }
        if let Some(cursor) = &self.cursor {
            query.before = Some(
                cursor
                    .parse()
                    .map_err(|_| Problem::invalid_field("cursor", "not a cursor of this log"))?,
            );
        }
        Ok(query)
    }
}

fn event_view(row: &AuditRow) -> Value {
    json!({
        "id": row.id,
        "at": row.at,
        "event": row.event,
        "keyId": row.key_id,
        "actor": row.actor,
        "reason": row.reason,
    })
}

/// The audit log of symmetric keys, newest first.
#[utoipa::path(get, path = "/admin/symkeys/audit", tag = "admin", params(AuditParams),
    responses((status = 200, description = "{events: [{id, at, event, keyId, actor, reason}], nextCursor}"),
        (status = 401, description = "no valid token"), (status = 403, description = "no admin scope"),
        (status = 422, description = "a bad parameter, named")))]
#[get("/admin/symkeys/audit")]
pub async fn audit_log(
    state: web::Data<AppState>,
    _: Authorized<needs::Admin>,
    params: web::Query<AuditParams>,
) -> Result<HttpResponse, Problem> {
    let query = params.query()?;
    let rows = store::audit_events(&state.db, &query)
        .await
        .map_err(db_problem("E-SYMKEY-AUDITLOG"))?;
    let next = (rows.len() as u64 == query.limit)
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(
            json!({"events": rows.iter().map(event_view).collect::<Vec<_>>(), "nextCursor": next}),
        ))
}

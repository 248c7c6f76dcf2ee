//! Keys an administrator manages: a system client's public keys (JWK), certificate-
//! backed keys imported for an identity, and revocation of anyone's key. All live in
//! the same keystore as device keys and answer the same JWKS search.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, delete, post, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::authz::client::ClientType;
use crate::authz::guard::{Authorized, needs};
use crate::authz::jwks::ClientJwks;
use crate::authz::store as client_store;
use crate::body;
use crate::keys::certificate::Purpose;
use crate::keys::service::{certificate_owner, owner_view, revoke, system_owner, valid_name};
use crate::keys::store::{self, InsertError, NewKey};
use crate::keys::{KeyUse, Source, jwk};
use crate::people::{self, Identifier};
use crate::problem::Problem;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminKey {
    /// The client the key is for: a system client for a `jwk`; optional for `x5c`.
    pub client_id: Option<String>,
    /// Whose certificate (`x5c` only): `{"type": "ssin"|"nihii"|"cbe", "value"}`.
    #[schema(value_type = Option<Object>)]
    pub identity: Option<Value>,
    #[serde(rename = "use")]
    pub key_use: String,
    pub name: String,
    /// A system client's public JWK (EC P-256 or RSA ≥ 2048).
    #[schema(value_type = Option<Object>)]
    pub jwk: Option<Map<String, Value>>,
    /// A certificate chain, leaf first, standard base64 DER (RFC 7517 §4.7).
    pub x5c: Option<Vec<String>>,
}

/// Adds a system client's key, or imports a certificate for an identity.
#[utoipa::path(post, path = "/admin/keys", tag = "admin", request_body = AdminKey,
    responses((status = 201, description = "the stored key"), (status = 404, description = "unknown client"),
        (status = 409, description = "the key exists"), (status = 422, description = "a bad field, named; an untrusted or expired certificate")))]
#[post("/admin/keys")]
pub async fn add_key(
    state: web::Data<AppState>,
    _: Authorized<needs::Admin>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let new: AdminKey = body::read_json(
        &req,
        payload,
        state.config.settings.service.body_limit_bytes,
    )
    .await?;
    let key_use = KeyUse::parse(&new.key_use)
        .ok_or_else(|| Problem::invalid_field("use", "must be \"sig\", \"enc\" or \"sig+enc\""))?;
    let name = valid_name(&new.name).map_err(|e| Problem::invalid_field("name", e))?;
    let now = state.clock.now();
    let client = match &new.client_id {
        Some(id) => Some(
            client_store::get_client(&state.db, id)
                .await
                .map_err(|e| Problem::internal("E-KEYS-CLIENT", &e))?
                .ok_or_else(|| Problem::invalid_field("client_id", format!("no client {id}")))?,
        ),
        None => None,
    };
    let policy = &state.keystore.policy;
    let (owner, public, not_before, not_after, source) = match (&new.jwk, &new.x5c) {
        (Some(key), None) => {
            let client = client
                .as_ref()
                .filter(|c| c.client_type == ClientType::System)
                .ok_or_else(|| {
                    Problem::invalid_field("client_id", "a JWK is registered for a system client")
                })?;
            if new.identity.is_some() {
                return Err(Problem::invalid_field(
                    "identity",
                    "a system client's key belongs to the client",
                ));
            }
            // The body's `use` is the JWK's; the same checks as a client's key set.
            let mut key = key.clone();
            key.remove("use");
            if key_use != KeyUse::SigEnc {
                key.insert("use".into(), json!(key_use.as_str()));
            }
            let set = ClientJwks::parse(&json!({ "keys": [key] }))
                .map_err(|e| Problem::invalid_field("jwk", e))?;
            let (public, _) = set
                .keys
                .first()
                .map(jwk::from_client_key)
                .ok_or_else(|| Problem::invalid_field("jwk", "no key"))?;
            if key_use.can_encrypt() && public.jwk.get("kty") == Some(&json!("OKP")) {
                return Err(Problem::invalid_field(
                    "jwk",
                    "an Ed25519 key can only sign: register it for use \"sig\"",
                ));
            }
            (
                system_owner(client),
                public,
                now,
                now + policy.lifetime,
                Source::Admin,
            )
        }
        (None, Some(x5c)) => {
            let identifier: Identifier =
                serde_json::from_value(new.identity.clone().ok_or_else(|| {
                    Problem::invalid_field("identity", "whose certificate it is")
                })?)
                .map_err(|e| Problem::invalid_field("identity", e))?;
            if let Identifier::Ssin(ssin) = &identifier
                && people::store::get_person(&state.db, ssin)
                    .await
                    .map_err(|e| Problem::internal("E-KEYS-PERSON", &e))?
                    .is_none()
            {
                return Err(Problem::invalid_field(
                    "identity",
                    format!("no person {ssin}"),
                ));
            }
            let certified = state
                .keystore
                .roots
                .verify(
                    x5c,
                    Purpose {
                        signing: key_use.serves(KeyUse::Sig),
                        encryption: key_use.serves(KeyUse::Enc),
                    },
                )
                .map_err(|e| Problem::invalid_field("x5c", e))?;
            if certified.not_after <= now || certified.not_before > now {
                return Err(Problem::invalid_field(
                    "x5c",
                    "the certificate is not valid now",
                ));
            }
            let mut public =
                jwk::from_openssl(&certified.public_key, &certified.thumbprint, key_use)
                    .map_err(|e| Problem::invalid_field("x5c", e))?;
            public.jwk.insert("x5c".into(), json!(certified.x5c));
            public
                .jwk
                .insert("x5t#S256".into(), json!(certified.thumbprint));
            (
                certificate_owner(&identifier),
                public,
                certified.not_before,
                certified.not_after,
                Source::Certificate,
            )
        }
        _ => {
            return Err(Problem::invalid_field(
                "jwk",
                "give either a jwk (system client) or an x5c chain (certificate)",
            ));
        }
    };
    let key = NewKey {
        owner: &owner,
        client_id: new.client_id.as_deref(),
        name,
        key_use,
        jwk: &public,
        source,
        attestation: None,
        not_before,
        not_after,
    };
    store::insert_key(&state.db, &key, None, policy, now)
        .await
        .map_err(|e| match e {
            InsertError::Duplicate => Problem::conflict("this key is registered already"),
            other => Problem::internal("E-KEYS-INSERT", &other),
        })?;
    let kid = public
        .jwk
        .get("kid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if let Some(client) = client.filter(|_| source == Source::Admin) {
        client_store::add_client_key(&state.db, &client, &public.jwk, now)
            .await
            .map_err(|e| Problem::internal("E-KEYS-CLIENT", &e))?;
    }
    let row = store::get(&state.db, &kid)
        .await
        .map_err(|e| Problem::internal("E-KEYS-GET", &e))?
        .ok_or_else(|| Problem::internal("E-KEYS-GET", &"the key just stored is missing"))?;
    tracing::info!(kid = %kid, source = source.as_str(), "key added by an administrator");
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/keys/{kid}")))
        .json(owner_view(&row, policy, now)))
}

/// Revokes anyone's key.
#[utoipa::path(delete, path = "/admin/keys/{kid}", tag = "admin",
    responses((status = 204, description = "revoked (or revoked already)"), (status = 404, description = "no such key")))]
#[delete("/admin/keys/{kid}")]
pub async fn revoke_key(
    state: web::Data<AppState>,
    who: Authorized<needs::Admin>,
    kid: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let admin = who.claims;
    let row = store::get(&state.db, &kid)
        .await
        .map_err(|e| Problem::internal("E-KEYS-GET", &e))?
        .ok_or_else(|| Problem::not_found(format!("no key {}", kid.as_str())))?;
    let by = format!("admin:{}", admin.client_id);
    revoke(&state.db, &row, &by, state.clock.now())
        .await
        .map_err(|e| Problem::internal("E-KEYS-REVOKE", &e))?;
    Ok(HttpResponse::NoContent().finish())
}

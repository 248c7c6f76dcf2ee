//! The client registry (the API portal's clients and their keys).

use chrono::{DateTime, Utc};
use entity::client;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use std::sync::Arc;

use serde_json::Value;

use super::{StoreError, is_unique_violation};
use crate::authz::client::{Client, ClientId, ClientType};
use crate::authz::jwks::ClientJwks;
use crate::authz::scope::{Acr, Scope, ScopeSet};
use crate::cache::registry::{Freshness, Registered, written};
use crate::people::Cbe;

fn client_row(c: &Client, now: DateTime<Utc>) -> client::ActiveModel {
    let scopes: Vec<&str> = c.scopes.iter().map(Scope::as_str).collect();
    client::ActiveModel {
        client_id: Set(c.id.to_string()),
        client_type: Set(c.client_type.as_str().to_owned()),
        name: Set(c.name.clone()),
        organization: Set(c.organization.as_ref().map(ToString::to_string)),
        redirect_uris: Set(serde_json::json!(c.redirect_uris)),
        scopes: Set(serde_json::json!(scopes)),
        claims: Set((!c.claims.is_empty()).then(|| Value::Object(c.claims.clone()))),
        jwks: Set(c.jwks.as_ref().map(ClientJwks::to_value)),
        min_acr: Set(c.min_acr.map(|a| a.as_str().to_owned())),
        attestation: Set(c.allow_none_attestation.then(|| "none".to_owned())),
        dpop_bound_access_tokens: Set(c.dpop_bound_access_tokens),
        created_at: Set(c.created_at),
        updated_at: Set(now),
    }
}

fn client_from_row(row: client::Model) -> Result<Client, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("client {}: {what}", row.client_id));
    let scopes = row
        .scopes
        .as_array()
        .ok_or_else(|| corrupt("scopes"))?
        .iter()
        .map(|s| {
            s.as_str()
                .and_then(Scope::parse)
                .ok_or_else(|| corrupt("scope"))
        })
        .collect::<Result<ScopeSet, _>>()?;
    let redirect_uris =
        serde_json::from_value(row.redirect_uris.clone()).map_err(|_| corrupt("redirect_uris"))?;
    let claims = match &row.claims {
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err(corrupt("claims")),
        None => Default::default(),
    };
    let jwks = row
        .jwks
        .as_ref()
        .map(|v| ClientJwks::parse_stored(v).map_err(|e| corrupt(&e.to_string())))
        .transpose()?;
    Ok(Client {
        id: ClientId::parse(&row.client_id).map_err(|_| corrupt("client_id"))?,
        client_type: ClientType::parse(&row.client_type).ok_or_else(|| corrupt("type"))?,
        name: row.name.clone(),
        organization: row
            .organization
            .as_deref()
            .map(Cbe::parse)
            .transpose()
            .map_err(|_| corrupt("organization"))?,
        redirect_uris,
        scopes,
        claims,
        jwks,
        min_acr: row.min_acr.as_deref().and_then(Acr::parse),
        allow_none_attestation: row.attestation.as_deref() == Some("none"),
        dpop_bound_access_tokens: row.dpop_bound_access_tokens,
        created_at: row.created_at,
    })
}

pub async fn insert_client(db: &DatabaseConnection, c: &Client) -> Result<(), StoreError> {
    match client::Entity::insert(client_row(c, c.created_at))
        .exec(db)
        .await
    {
        Ok(_) => {
            written();
            Ok(())
        }
        Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict),
        Err(e) => Err(e.into()),
    }
}

/// Creates the client, or replaces every registered attribute of an existing one
/// (used by the offline bootstrap).
pub async fn upsert_client(
    db: &DatabaseConnection,
    c: &Client,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let existing = client::Entity::find_by_id(c.id.to_string()).one(db).await?;
    let mut row = client_row(c, now);
    match existing {
        Some(old) => {
            row.created_at = Set(old.created_at);
            row.update(db).await?;
            written();
            Ok(false)
        }
        None => {
            client::Entity::insert(row).exec(db).await?;
            written();
            Ok(true)
        }
    }
}

/// Writes a client's key set; an empty set is stored as none (the client can then
/// no longer authenticate).
async fn set_client_jwks(
    db: &DatabaseConnection,
    client_id: &str,
    keys: Vec<Value>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let jwks = (!keys.is_empty()).then(|| serde_json::json!({ "keys": keys }));
    client::Entity::update_many()
        .col_expr(client::Column::Jwks, Expr::value(jwks))
        .col_expr(client::Column::UpdatedAt, Expr::value(now))
        .filter(client::Column::ClientId.eq(client_id))
        .exec(db)
        .await?;
    written();
    Ok(())
}

/// Adds a signing key registered by an administrator to a system client's
/// authentication keys (an encryption key only goes to the keystore).
pub async fn add_client_key(
    db: &DatabaseConnection,
    client: &Client,
    jwk: &serde_json::Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if jwk.get("use").and_then(Value::as_str) == Some("enc") {
        return Ok(());
    }
    let mut keys: Vec<Value> = client
        .jwks
        .iter()
        .flat_map(|set| set.keys.iter())
        .map(|k| Value::Object(k.jwk.clone()))
        .collect();
    let mut key = jwk.clone();
    key.remove("alg");
    keys.push(Value::Object(key));
    set_client_jwks(db, client.id.as_str(), keys, now).await
}

/// Removes a revoked key from a client's authentication keys.
pub async fn withdraw_client_key(
    db: &DatabaseConnection,
    client_id: &str,
    kid: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some(client) = get_client(db, client_id).await? else {
        return Ok(());
    };
    let keys: Vec<Value> = client
        .jwks
        .iter()
        .flat_map(|set| set.keys.iter())
        .filter(|k| k.kid != kid)
        .map(|k| Value::Object(k.jwk.clone()))
        .collect();
    set_client_jwks(db, client_id, keys, now).await
}

pub async fn get_client(db: &DatabaseConnection, id: &str) -> Result<Option<Client>, StoreError> {
    client::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .map(client_from_row)
        .transpose()
}

pub async fn delete_client(db: &DatabaseConnection, id: &str) -> Result<bool, StoreError> {
    let result = client::Entity::delete_by_id(id.to_owned()).exec(db).await?;
    written();
    Ok(result.rows_affected > 0)
}

/// The registered clients as every token request and token check reads them: cached
/// per instance, and read again once a registration changed anywhere
/// (`crate::cache::registry`), never after a time-to-live. Unknown ids are not cached.
#[derive(Clone)]
pub struct Clients {
    db: DatabaseConnection,
    cache: Arc<Registered<String, Arc<Client>>>,
}

impl Clients {
    pub fn new(db: DatabaseConnection, freshness: Freshness, capacity: u64) -> Self {
        Self {
            db,
            cache: Arc::new(Registered::new(capacity, freshness)),
        }
    }

    pub async fn get(&self, id: &str) -> Result<Option<Arc<Client>>, StoreError> {
        let found = self
            .cache
            .get(id.to_owned(), || async {
                match get_client(&self.db, id).await? {
                    Some(client) => Ok(Arc::new(client)),
                    None => Err(Missing::Client),
                }
            })
            .await;
        match found {
            Ok(client) => Ok(Some(client)),
            Err(Missing::Client) => Ok(None),
            Err(Missing::Store(e)) => Err(e),
        }
    }

    /// When the client was registered (Unix seconds), `None` when there is none: a
    /// token of a client deleted since, or issued before the client was registered
    /// again under the same id, is refused.
    pub async fn registered_at(&self, client_id: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .get(client_id)
            .await?
            .map(|client| client.created_at.timestamp()))
    }
}

/// Why a look-up found no client: none is registered, or the store failed.
enum Missing {
    Client,
    Store(StoreError),
}

impl From<StoreError> for Missing {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

//! Storage of the authorization server: organizations, clients, signing keys, the
//! assertion replay store and revoked tokens. The only authz code that sees sea-orm.

use chrono::{DateTime, Utc};
use entity::{assertion_jti, client, organization, revoked_token, signing_key};
use sea_orm::ExprTrait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, SqlErr,
};
use serde_json::Value;

use super::client::{Client, ClientId, ClientType};
use super::jwks::ClientJwks;
use super::scope::{Acr, Scope, ScopeSet};
use crate::batch::{Batcher, answer_each};
use crate::people::Cbe;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("already exists")]
    Conflict,
    #[error("stored record is inconsistent: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

// ---- organizations -------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Organization {
    pub cbe: Cbe,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_organization(
    db: &DatabaseConnection,
    org: &Organization,
) -> Result<(), StoreError> {
    let row = organization::ActiveModel {
        cbe: Set(org.cbe.to_string()),
        name: Set(org.name.clone()),
        created_at: Set(org.created_at),
    };
    match organization::Entity::insert(row).exec(db).await {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict),
        Err(e) => Err(e.into()),
    }
}

/// Creates the organization or renames it (the people import).
pub async fn upsert_organization(
    db: &impl ConnectionTrait,
    org: &Organization,
) -> Result<(), StoreError> {
    let row = organization::ActiveModel {
        cbe: Set(org.cbe.to_string()),
        name: Set(org.name.clone()),
        created_at: Set(org.created_at),
    };
    organization::Entity::insert(row)
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(organization::Column::Cbe)
                .update_column(organization::Column::Name)
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}

pub async fn get_organization(
    db: &impl ConnectionTrait,
    cbe: &Cbe,
) -> Result<Option<Organization>, StoreError> {
    let Some(row) = organization::Entity::find_by_id(cbe.to_string())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(Organization {
        cbe: cbe.clone(),
        name: row.name,
        created_at: row.created_at,
    }))
}

// ---- clients -------------------------------------------------------------------

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
        created_at: row.created_at,
    })
}

pub async fn insert_client(db: &DatabaseConnection, c: &Client) -> Result<(), StoreError> {
    match client::Entity::insert(client_row(c, c.created_at))
        .exec(db)
        .await
    {
        Ok(_) => Ok(()),
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
            Ok(false)
        }
        None => {
            client::Entity::insert(row).exec(db).await?;
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
    Ok(result.rows_affected > 0)
}

// ---- assertion replay store ----------------------------------------------------

/// Records an assertion's `jti`; `false` when it was seen before (a replay).
pub async fn remember_jti(
    db: &impl ConnectionTrait,
    client_id: &str,
    jti: &str,
    expires_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let row = assertion_jti::ActiveModel {
        client_id: Set(client_id.to_owned()),
        jti: Set(jti.to_owned()),
        expires_at: Set(expires_at),
    };
    match assertion_jti::Entity::insert(row).exec(db).await {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub async fn count_jtis(db: &DatabaseConnection) -> Result<u64, StoreError> {
    use sea_orm::PaginatorTrait;
    Ok(assertion_jti::Entity::find().count(db).await?)
}

// ---- revoked access tokens -----------------------------------------------------

pub async fn revoke_token(
    db: &impl ConnectionTrait,
    jti: &str,
    client_id: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let row = revoked_token::ActiveModel {
        jti: Set(jti.to_owned()),
        client_id: Set(client_id.to_owned()),
        revoked_at: Set(now),
        expires_at: Set(expires_at),
    };
    match revoked_token::Entity::insert(row).exec(db).await {
        Ok(_) => Ok(()),
        // Revoking twice is not an error (RFC 7009 §2.2).
        Err(e) if is_unique_violation(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The revocation look-ups of every token check: those of concurrent requests share
/// one query (`crate::batch`).
#[derive(Clone)]
pub struct Revocations {
    batcher: Batcher<String, Result<bool, String>>,
}

impl Revocations {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            batcher: Batcher::new(64, 2, move |jtis: Vec<String>| {
                let db = db.clone();
                async move {
                    let revoked = revoked_among(&db, &jtis).await;
                    answer_each(&jtis, revoked, |jti, revoked| revoked.contains(jti))
                }
            }),
        }
    }

    pub async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.batcher
            .ask(jti.to_owned())
            .await
            .map_err(|e| StoreError::Db(DbErr::Custom(e)))
    }
}

/// Which of these token ids are revoked.
async fn revoked_among(
    db: &DatabaseConnection,
    jtis: &[String],
) -> Result<std::collections::HashSet<String>, DbErr> {
    let revoked: Vec<String> = revoked_token::Entity::find()
        .select_only()
        .column(revoked_token::Column::Jti)
        .filter(revoked_token::Column::Jti.is_in(jtis.iter().map(String::as_str)))
        .into_tuple()
        .all(db)
        .await?;
    Ok(revoked.into_iter().collect())
}

/// Drops replay-store entries and revocations whose tokens have expired anyway.
pub async fn purge_expired(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let a = assertion_jti::Entity::delete_many()
        .filter(assertion_jti::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    let b = revoked_token::Entity::delete_many()
        .filter(revoked_token::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    Ok(a.rows_affected + b.rows_affected)
}

// ---- signing keys --------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct StoredSigningKey {
    pub kid: String,
    pub public_jwk: Value,
    pub sealed_private_key: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

/// Keys that still verify: not revoked, and current or retired after `retired_after`.
/// Newest first, so the first one not retired is the current signing key.
pub async fn usable_signing_keys(
    db: &DatabaseConnection,
    retired_after: DateTime<Utc>,
) -> Result<Vec<StoredSigningKey>, StoreError> {
    let rows = signing_key::Entity::find()
        .filter(signing_key::Column::RevokedAt.is_null())
        .filter(
            signing_key::Column::RetiredAt
                .is_null()
                .or(signing_key::Column::RetiredAt.gt(retired_after)),
        )
        .order_by_desc(signing_key::Column::CreatedAt)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| StoredSigningKey {
            kid: r.kid,
            public_jwk: r.public_jwk,
            sealed_private_key: r.sealed_private_key,
            created_at: r.created_at,
            retired_at: r.retired_at,
        })
        .collect())
}

pub async fn insert_signing_key(
    db: &DatabaseConnection,
    key: &StoredSigningKey,
    alg: &str,
) -> Result<(), StoreError> {
    let row = signing_key::ActiveModel {
        kid: Set(key.kid.clone()),
        alg: Set(alg.to_owned()),
        public_jwk: Set(key.public_jwk.clone()),
        sealed_private_key: Set(key.sealed_private_key.clone()),
        created_at: Set(key.created_at),
        retired_at: Set(None),
        revoked_at: Set(None),
    };
    signing_key::Entity::insert(row).exec(db).await?;
    Ok(())
}

/// Retires (and, on request, revokes) every key but `keep`.
pub async fn retire_signing_keys_except(
    db: &DatabaseConnection,
    keep: &str,
    now: DateTime<Utc>,
    revoke: bool,
) -> Result<u64, StoreError> {
    let retired = signing_key::Entity::update_many()
        .col_expr(signing_key::Column::RetiredAt, Expr::value(now))
        .filter(signing_key::Column::Kid.ne(keep))
        .filter(signing_key::Column::RetiredAt.is_null())
        .exec(db)
        .await?;
    if !revoke {
        return Ok(retired.rows_affected);
    }
    let revoked = signing_key::Entity::update_many()
        .col_expr(signing_key::Column::RevokedAt, Expr::value(now))
        .filter(signing_key::Column::Kid.ne(keep))
        .filter(signing_key::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(revoked.rows_affected)
}

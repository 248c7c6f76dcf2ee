//! The keystore's operations that several routes and other contexts use: revoking a
//! key, recording a system client's keys, whose a key is, how a key is shown, and what
//! a key may be named. Plain functions over the database, the time and the keystore's
//! policy: no HTTP, no application state.

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

use super::error::KeysError;
use super::store::{self, InsertError, KeyRow, NewKey};
use super::{Owner, Policy, Source, jwk};
use crate::authz::client::{Client, ClientType};
use crate::authz::store as client_store;
use crate::people::Identifier;

/// A key as its owner sees it: the JWK, its history, and the name they gave it.
pub fn owner_view(row: &KeyRow, policy: &Policy, now: DateTime<Utc>) -> Value {
    let mut view = public_view(row, policy, now);
    view["name"] = json!(row.name);
    view["key_use"] = json!(row.key_use);
    view["created_at"] = json!(row.created_at);
    view["last_used_at"] = json!(row.last_used_at);
    view["source"] = json!(row.source);
    if let Some(attestation) = &row.attestation {
        view["attestation"] = json!(attestation);
    }
    view
}

/// A key as a JWKS search answers it: the JWK plus its status as of `at`.
pub fn public_view(row: &KeyRow, policy: &Policy, at: DateTime<Utc>) -> Value {
    let mut view = row.jwk.clone();
    view["status"] = json!(store::status(row, policy, at));
    view["not_before"] = json!(row.not_before);
    view["not_after"] = json!(row.not_after);
    if let Some(revoked_at) = row.revoked_at {
        view["revoked_at"] = json!(revoked_at);
    }
    view["client_id"] = json!(row.client_id);
    view["identity"] = Owner::of_key(row).identifier();
    view
}

/// Revokes a key, keeping it in history; a system client's key also stops
/// authenticating the client.
pub async fn revoke(
    db: &DatabaseConnection,
    row: &KeyRow,
    by: &str,
    now: DateTime<Utc>,
) -> Result<bool, KeysError> {
    let revoked = store::revoke(db, &row.kid, by, now).await?;
    if revoked
        && row.profile == "system"
        && let Some(client_id) = &row.client_id
    {
        client_store::withdraw_client_key(db, client_id, &row.kid, now).await?;
    }
    if revoked {
        tracing::info!(kid = %row.kid, by = %by, "key revoked");
    }
    Ok(revoked)
}

/// The owner of a system client's keys.
pub fn system_owner(client: &Client) -> Owner {
    let cbe = client.organization.as_ref().map(ToString::to_string);
    let mut identity = json!({"profile": "system"});
    if let Some(cbe) = &cbe {
        identity["cbe"] = json!(cbe);
    }
    Owner {
        owner: format!("client:{}", client.id),
        ssin: None,
        profile: "system".into(),
        nihii: None,
        cbe,
        identity,
    }
}

/// The owner of a certificate issued to an identifier.
pub fn certificate_owner(identifier: &Identifier) -> Owner {
    match identifier {
        Identifier::Ssin(ssin) => Owner {
            owner: format!("ssin:{ssin}"),
            ssin: Some(ssin.to_string()),
            profile: "citizen".into(),
            nihii: None,
            cbe: None,
            identity: json!({"profile": "citizen", "ssin": ssin}),
        },
        Identifier::Nihii(nihii) => Owner {
            owner: format!("nihii:{nihii}"),
            ssin: None,
            profile: "professional".into(),
            nihii: Some(nihii.to_string()),
            cbe: None,
            identity: json!({"profile": "professional", "nihii": nihii}),
        },
        Identifier::Cbe(cbe) => Owner {
            owner: format!("cbe:{cbe}"),
            ssin: None,
            profile: "organization".into(),
            nihii: None,
            cbe: Some(cbe.to_string()),
            identity: json!({"profile": "organization", "cbe": cbe}),
        },
    }
}

/// Stores the keys a system client was registered with (`POST /admin/clients`,
/// `depot admin bootstrap`), so that they answer the JWKS search and fill the
/// `keys` claim; keys the client no longer has are revoked.
pub async fn record_client_keys(
    db: &sea_orm::DatabaseConnection,
    client: &Client,
    policy: &Policy,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if client.client_type != ClientType::System {
        return Ok(());
    }
    let owner = system_owner(client);
    let keys = client.jwks.iter().flat_map(|set| set.keys.iter());
    let kept: Vec<&str> = keys.clone().map(|k| k.kid.as_str()).collect();
    for old in store::keys_of(db, &owner.owner, Some(client.id.as_str())).await? {
        if old.source == Source::Admin.as_str() && !kept.contains(&old.kid.as_str()) {
            store::revoke(db, &old.kid, "re-registration", now).await?;
        }
    }
    for key in keys {
        if store::get(db, &key.kid).await?.is_some() {
            continue;
        }
        let (public, key_use) = jwk::from_client_key(key);
        let new = NewKey {
            owner: &owner,
            client_id: Some(client.id.as_str()),
            name: &client.name,
            key_use,
            jwk: &public,
            source: Source::Admin,
            attestation: None,
            not_before: now,
            not_after: now + policy.lifetime,
        };
        match store::insert_key(db, &new, None, policy, now).await {
            Ok(()) | Err(InsertError::Duplicate) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A user-chosen key name, trimmed.
pub fn valid_name(name: &str) -> Result<&str, InvalidName> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(InvalidName);
    }
    Ok(name)
}

/// A key name that is empty, too long or not printable.
#[derive(Debug, thiserror::Error)]
#[error("a name of 1 to 100 printable characters is required")]
pub struct InvalidName;

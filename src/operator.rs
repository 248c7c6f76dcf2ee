//! Offline operator commands (`depot admin …`): they use the same configuration as
//! `serve`, talk to the database directly, and work while the server runs.

use anyhow::Context;
use serde_json::json;

use crate::authz::client::ClientRegistration;
use crate::authz::{signing, store};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::db;

/// Creates or updates the system client with scope `admin` whose public keys are the
/// JWK Set at `jwks_path`.
pub async fn bootstrap(
    config: &Config,
    client_id: &str,
    jwks_path: &std::path::Path,
) -> anyhow::Result<bool> {
    let text = std::fs::read_to_string(jwks_path)
        .with_context(|| format!("reading the JWK Set {}", jwks_path.display()))?;
    let jwks: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", jwks_path.display()))?;
    bootstrap_jwks(config, client_id, jwks).await
}

/// [`bootstrap`] with the JWK Set given as a value.
pub async fn bootstrap_jwks(
    config: &Config,
    client_id: &str,
    jwks: serde_json::Value,
) -> anyhow::Result<bool> {
    let registration: ClientRegistration = serde_json::from_value(json!({
        "client_id": client_id,
        "type": "system",
        "name": "Administrator (bootstrap)",
        "scopes": ["admin"],
        "jwks": jwks,
    }))?;
    let clock = Clock::system();
    let client = registration
        .validate(clock.now())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let database = db::connect(config).await?;
    db::migrate(&database).await?;
    // Re-running bootstrap replaces an administrator's keys (recovery of a lost key);
    // it never turns an ordinary client into an administrator.
    if let Some(existing) = store::get_client(&database, client_id).await?
        && (existing.client_type != client.client_type || existing.scopes != client.scopes)
    {
        anyhow::bail!("client {client_id} exists and is not an administrator; choose another id");
    }
    let created = store::upsert_client(&database, &client, clock.now()).await?;
    let policy = crate::keys::Policy::from_settings(&config.settings);
    crate::keys::service::record_client_keys(&database, &client, &policy, clock.now()).await?;
    Ok(created)
}

/// Makes a new signing key current; see [`signing::rotate`].
pub async fn rotate_signing_key(config: &Config, revoke_previous: bool) -> anyhow::Result<String> {
    let master = MasterKey::load_or_create(&config.master_key_file)?;
    let database = db::connect(config).await?;
    db::migrate(&database).await?;
    Ok(signing::rotate(&database, &master, &Clock::system(), revoke_previous).await?)
}

/// Runs the migrations only.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let database = db::connect(config).await?;
    db::migrate(&database).await?;
    Ok(())
}

/// The migrations not yet applied, by name; nothing is written.
pub async fn pending_migrations(config: &Config) -> anyhow::Result<Vec<String>> {
    let database = db::connect(config).await?;
    let pending = db::pending_migrations(&database).await?;
    let _ = database.close().await;
    Ok(pending)
}

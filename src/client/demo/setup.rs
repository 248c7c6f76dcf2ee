//! What the demo's figures stand on: its administrator (made offline, as `depot admin
//! bootstrap` does), people logged in as their app would log them in, and fresh valid
//! identifiers for each run.

use serde_json::{Value, json};

use super::{PASSWORD, Person, SCOPES};
use crate::client::login::{self, ClientAssertionKey, ClientAuth, Credentials, ScriptedBrowser};
use crate::client::{Alg, ClientError, Device, DpopKey, Session};
use crate::config::Config;

/// Logs a person in on a new device, as the app would: the scripted user agent stands
/// in for the person at the login pages.
pub(super) async fn person_login(
    http: &reqwest::Client,
    issuer: &str,
    app: &str,
    name: &'static str,
    ssin: &str,
    profile: Option<&str>,
) -> Result<Person, ClientError> {
    let device = Device::new(issuer, app);
    person_login_on(http, issuer, app, name, ssin, profile, device).await
}

/// The same on `device`, its tokens bound to the device's signing key (one is made
/// when it has none yet, and registered later).
pub(super) async fn person_login_on(
    http: &reqwest::Client,
    issuer: &str,
    app: &str,
    name: &'static str,
    ssin: &str,
    profile: Option<&str>,
    device: Device,
) -> Result<Person, ClientError> {
    let device = device.with_proof_key()?;
    let key = device
        .proof_key()?
        .ok_or_else(|| ClientError::Device("no signing key".into()))?;
    let browser = ScriptedBrowser::new()
        .map_err(|e| ClientError::Protocol(format!("{name}'s browser: {e}")))?;
    let tokens = browser
        .log_in_as(
            http,
            issuer,
            &ClientAuth::public(app).with_dpop(key.clone()),
            SCOPES,
            Credentials {
                username: ssin,
                password: PASSWORD,
                profile,
            },
        )
        .await
        .map_err(|e| ClientError::Protocol(format!("{name}'s login: {e}")))?;
    Ok(Person {
        session: Session::for_tokens(http.clone(), issuer, &tokens, Some(&key)),
        device,
    })
}

/// The demo's administrator: a fresh key, bootstrapped offline, then an admin token.
pub(super) async fn administrator(
    config: &Config,
    http: &reqwest::Client,
    issuer: &str,
) -> anyhow::Result<Session> {
    let client_id = format!("demo-admin-{}", short_id());
    let (key, pem) = crate::client::keypair::generate_p256()?;
    let public = openssl::pkey::PKey::public_key_from_der(&key.public_key_to_der()?)?;
    let jwk = crate::keys::jwk::from_openssl(&public, "demo-admin", crate::keys::KeyUse::Sig)
        .map_err(|e| anyhow::anyhow!(e))?;
    crate::operator::bootstrap_jwks(config, &client_id, json!({"keys": [jwk.jwk]})).await?;
    // Its token is bound to the key it authenticates with: it has no other.
    let dpop = DpopKey::new(&key, Alg::Es256)?;
    let client = ClientAuth::from(ClientAssertionKey::from_pem(
        &client_id,
        "demo-admin",
        pem.as_bytes(),
    )?)
    .with_dpop(dpop.clone());
    let tokens = login::client_credentials_with(http, issuer, &client, "admin")
        .await
        .map_err(|e| anyhow::anyhow!("the administrator's token: {e}"))?;
    Ok(Session::for_tokens(
        http.clone(),
        issuer,
        &tokens,
        Some(&dpop),
    ))
}

pub(super) async fn admin_post(admin: &Session, path: &str, body: &Value) -> anyhow::Result<Value> {
    admin
        .post_json(path, body)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

pub(super) fn random_below(n: u64) -> u64 {
    let mut bytes = [0u8; 8];
    // A failure leaves zeros: still a valid (if less random) demo identity.
    let _ = openssl::rand::rand_bytes(&mut bytes);
    u64::from_le_bytes(bytes) % n
}

pub(super) fn short_id() -> String {
    format!("{:08x}", random_below(1 << 32))
}

/// A fresh valid SSIN (born in the 1980s, check digits mod 97).
pub(super) fn ssin() -> String {
    let first9 = format!(
        "8{}{:02}{:02}{:03}",
        random_below(10),
        1 + random_below(12),
        1 + random_below(28),
        1 + random_below(997)
    );
    let base: u64 = first9.parse().unwrap_or_default();
    format!("{first9}{:02}", 97 - base % 97)
}

/// A fresh valid NIHII of a doctor (qualification code 004).
pub(super) fn nihii() -> String {
    let six = 100_000 + random_below(900_000);
    format!("{six:06}{:02}004", 97 - six % 97)
}

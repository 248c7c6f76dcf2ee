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
    let who = Login {
        name,
        ssin,
        profile,
        scope: SCOPES,
    };
    person_login_asking(http, issuer, app, &who, device).await
}

/// Who logs in, and what the app asks.
pub(super) struct Login<'a> {
    pub name: &'static str,
    pub ssin: &'a str,
    pub profile: Option<&'a str>,
    pub scope: &'a str,
}

/// A login on `device` asking for `who.scope`.
pub(super) async fn person_login_asking(
    http: &reqwest::Client,
    issuer: &str,
    app: &str,
    who: &Login<'_>,
    device: Device,
) -> Result<Person, ClientError> {
    let Login {
        name,
        ssin,
        profile,
        scope,
    } = *who;
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
            scope,
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

/// A system client of `organization` registered by the administrator, with a fresh
/// P-256 key (its JWK Set holds the public half), and the device whose signing key its
/// tokens are bound to.
pub(super) struct SystemClient {
    pub client_id: String,
    kid: String,
    pem: String,
    pub device: Device,
}

impl SystemClient {
    pub async fn register(
        admin: &Session,
        issuer: &str,
        name: &str,
        organization: &str,
        scopes: &[&str],
    ) -> Result<Self, ClientError> {
        let client_id = format!("demo-{name}-{}", short_id());
        let kid = format!("{client_id}-key-1");
        let (key, pem) = crate::client::keypair::generate_p256()?;
        let crypto = |e: openssl::error::ErrorStack| ClientError::Crypto(e.to_string());
        let public =
            openssl::pkey::PKey::public_key_from_der(&key.public_key_to_der().map_err(crypto)?)
                .map_err(crypto)?;
        let jwk = crate::keys::jwk::from_openssl(&public, &kid, crate::keys::KeyUse::Sig)
            .map_err(ClientError::Crypto)?;
        admin
            .post_json(
                "/admin/clients",
                &json!({"client_id": client_id, "type": "system", "name": name,
                        "organization": organization, "scopes": scopes,
                        "jwks": {"keys": [jwk.jwk]}}),
            )
            .await?;
        let device = Device::new(issuer, &client_id).with_proof_key()?;
        Ok(Self {
            client_id,
            kid,
            pem,
            device,
        })
    }

    /// How it authenticates (`private_key_jwt`), its tokens bound to its device's
    /// signing key.
    pub fn auth(&self) -> Result<ClientAuth, ClientError> {
        let dpop = self
            .device
            .proof_key()?
            .ok_or_else(|| ClientError::Device("no signing key".into()))?;
        let key = ClientAssertionKey::from_pem(&self.client_id, &self.kid, self.pem.as_bytes())?;
        Ok(ClientAuth::from(key).with_dpop(dpop))
    }

    /// A session for what the token endpoint issued it.
    pub fn session(
        &self,
        http: &reqwest::Client,
        issuer: &str,
        tokens: &login::Tokens,
    ) -> Result<Session, ClientError> {
        let dpop = self.device.proof_key()?;
        Ok(Session::for_tokens(
            http.clone(),
            issuer,
            tokens,
            dpop.as_ref(),
        ))
    }
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

/// A fresh valid CBE number (check digits mod 97).
pub(super) fn cbe() -> String {
    let first8 = format!("0{:07}", 1_000_000 + random_below(8_999_999));
    let base: u64 = first8.parse().unwrap_or_default();
    format!("{first8}{:02}", 97 - base % 97)
}

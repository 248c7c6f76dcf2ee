//! The session a `depot client` command works in: `session.json` (the tokens, and how
//! to renew them) and `device.json` (this device's keys), taken up again by each
//! command and renewed when the access token has expired.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::client::device::{read_private, write_private};
use crate::client::login::{self, ClientAssertionKey, ClientAuth, Tokens};
use crate::client::renewal::Renewer;
use crate::client::{ClientError, Device, DpopKey, Session};
use crate::people::Cbe;

/// The session file: the tokens and how to renew them.
#[derive(Serialize, Deserialize)]
pub(super) struct Saved {
    pub(super) issuer: String,
    pub(super) client_id: String,
    pub(super) scope: String,
    pub(super) access_token: String,
    /// `DPoP` when the tokens are bound to the device key `dpop_jkt`, else `Bearer`.
    #[serde(default = "bearer")]
    pub(super) token_type: String,
    /// The RFC 7638 thumbprint of the device key the tokens are bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) dpop_jkt: Option<String>,
    pub(super) refresh_token: Option<String>,
    /// A system client's key file and kid (client credentials again, when expired).
    pub(super) system_key: Option<(PathBuf, String)>,
    /// The consumer organization a system client acts for (asked again at renewal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) consumer: Option<Cbe>,
}

impl Saved {
    /// How the client authenticates at the token endpoint: with its key for a system
    /// client, else by its client_id (a public app).
    pub(super) fn client_auth(&self) -> anyhow::Result<ClientAuth> {
        match &self.system_key {
            Some((key, kid)) => {
                let pem =
                    std::fs::read(key).with_context(|| format!("reading {}", key.display()))?;
                Ok(ClientAuth::from(ClientAssertionKey::from_pem(
                    &self.client_id,
                    kid,
                    &pem,
                )?))
            }
            None => Ok(ClientAuth::public(&self.client_id)),
        }
    }
}

/// Client credentials for a system client: for itself, or for `consumer` when its
/// organization acts for that one.
pub(super) async fn client_credentials(
    http: &reqwest::Client,
    issuer: &str,
    client: &ClientAuth,
    scope: &str,
    consumer: Option<&Cbe>,
) -> Result<Tokens, login::LoginError> {
    match consumer {
        Some(consumer) => {
            login::client_credentials_for(http, issuer, client, scope, consumer).await
        }
        None => login::client_credentials_with(http, issuer, client, scope).await,
    }
}

fn bearer() -> String {
    "Bearer".to_owned()
}

pub(super) fn save(path: &Path, saved: &Saved) -> anyhow::Result<()> {
    write_private(path, &serde_json::to_vec_pretty(saved)?)?;
    Ok(())
}

/// The session file and the tokens it holds. Renewing writes the file, and renewals
/// take turns (see [`crate::client::renewal`]): the refresh token is spent by each one.
pub(super) struct SessionFile {
    path: PathBuf,
    http: reqwest::Client,
    pub(super) saved: tokio::sync::Mutex<Saved>,
    /// The device key the tokens are bound to, if they are.
    dpop: Option<DpopKey>,
}

impl SessionFile {
    /// A new access token, kept in the file; answers it.
    pub(super) async fn renew(&self) -> Result<String, ClientError> {
        let mut saved = self.saved.lock().await;
        renew(&self.http, &mut saved, self.dpop.as_ref())
            .await
            .map_err(|e| ClientError::Renewal(format!("{e:#}")))?;
        save(&self.path, &saved).map_err(|e| ClientError::Renewal(format!("{e:#}")))?;
        Ok(saved.access_token.clone())
    }
}

impl Renewer for SessionFile {
    fn renew(&self) -> Pin<Box<dyn Future<Output = Result<String, ClientError>> + Send + '_>> {
        Box::pin(SessionFile::renew(self))
    }
}

/// The saved session and this device's keys; the session renewed when its access
/// token has (nearly) expired by this machine's clock, and again whenever the service
/// refuses it (its clock decides), and its calls proven by the device key its tokens
/// are bound to.
pub(super) async fn resume(
    http: &reqwest::Client,
    path: &Path,
    device_path: &Path,
    issuer: &str,
) -> anyhow::Result<(Arc<SessionFile>, Session, Device)> {
    let text = read_private(path).context("not logged in: run `depot client login` first")?;
    let saved: Saved = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a session file", path.display()))?;
    if saved.issuer != issuer {
        bail!(
            "the session is for {}, not {issuer}: log in again or pass --server",
            saved.issuer
        );
    }
    let device = device_for(device_path, &saved.issuer, &saved.client_id)?;
    let dpop = match &saved.dpop_jkt {
        Some(jkt) => Some(device.proof_key_for(jkt)?.with_context(|| {
            format!(
                "the session is bound to a key that {} no longer holds: run `depot client login` again",
                device_path.display()
            )
        })?),
        None => None,
    };
    let token = Session::new(http.clone(), issuer, &saved.access_token);
    let exp = token.claims()?["exp"].as_i64().unwrap_or_default();
    let file = Arc::new(SessionFile {
        path: path.to_owned(),
        http: http.clone(),
        saved: tokio::sync::Mutex::new(saved),
        dpop: dpop.clone(),
    });
    let access_token = if exp < chrono::Utc::now().timestamp() + 30 {
        file.renew().await?
    } else {
        token.token()
    };
    let mut session = Session::new(http.clone(), issuer, &access_token).renewed_by(file.clone());
    if let Some(key) = dpop {
        session = session.with_dpop(key);
    }
    Ok((file, session, device))
}

/// A new access token: client credentials again for a system client, else the
/// refresh token (spent: the answer's new one replaces it); with a proof by `dpop`,
/// the key the session's tokens are bound to.
async fn renew(
    http: &reqwest::Client,
    saved: &mut Saved,
    dpop: Option<&DpopKey>,
) -> anyhow::Result<()> {
    let client = match dpop {
        Some(key) => saved.client_auth()?.with_dpop(key.clone()),
        None => saved.client_auth()?,
    };
    let tokens: Tokens = match (&saved.system_key, &saved.refresh_token) {
        (Some(_), _) => {
            client_credentials(
                http,
                &saved.issuer,
                &client,
                &saved.scope,
                saved.consumer.as_ref(),
            )
            .await?
        }
        (None, Some(refresh)) => login::refresh(http, &saved.issuer, &client, refresh)
            .await
            .context("the session has ended: run `depot client login` again")?,
        (None, None) => bail!("the session has expired: run `depot client login` again"),
    };
    saved.access_token = tokens.access_token;
    saved.token_type = tokens.token_type;
    if tokens.refresh_token.is_some() {
        saved.refresh_token = tokens.refresh_token;
    }
    Ok(())
}

/// The device file of (`issuer`, `client_id`), or a new device when there is none;
/// refused when it holds keys for another service or client.
pub(super) fn device_for(path: &Path, issuer: &str, client_id: &str) -> anyhow::Result<Device> {
    if !path.exists() {
        return Ok(Device::new(issuer, client_id));
    }
    let device = Device::load(path)?;
    if device.issuer != issuer || device.client_id != client_id {
        bail!(
            "{} holds keys for {} at {}, not for {client_id} at {issuer}",
            path.display(),
            device.client_id,
            device.issuer,
        );
    }
    Ok(device)
}

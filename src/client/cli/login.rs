//! `depot client login`: a person through the system browser (authorization code +
//! PKCE, loopback redirect), or a system client with its key (client credentials,
//! `private_key_jwt`), for itself or for a consumer organization that delegated to
//! its own (`--consumer`). The tokens are bound to the device's signing key, made
//! first when the device has none; the session file keeps how to renew them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

use super::DEFAULT_SCOPE;
use super::session::{Saved, client_credentials, device_for, save};
use crate::client::Session;
use crate::client::login::{self, ClientAssertionKey, ClientAuth};
use crate::people::Cbe;

#[derive(clap::Args)]
pub(super) struct LoginArgs {
    #[arg(long)]
    client_id: String,
    /// The scopes asked (a person's app: add `exchange` to exchange its tokens, when
    /// the app is registered for it).
    #[arg(long, default_value = DEFAULT_SCOPE)]
    scope: String,
    /// A system client's P-256 private key (PKCS#8 PEM).
    #[arg(long, requires = "kid")]
    key: Option<PathBuf>,
    /// The kid of that key in the client's registered JWK Set.
    #[arg(long)]
    kid: Option<String>,
    /// With --key: the CBE number of the consumer organization to act for, which
    /// delegated these scopes to the client's organization.
    #[arg(long, requires = "key", value_name = "CBE")]
    consumer: Option<String>,
}

pub(super) async fn run(
    http: &reqwest::Client,
    issuer: &str,
    session_path: &Path,
    device_path: &Path,
    args: LoginArgs,
) -> anyhow::Result<()> {
    let LoginArgs {
        client_id,
        scope,
        key,
        kid,
        consumer,
    } = args;
    // The input first: a typo is reported before anything is asked of the service.
    let consumer = consumer
        .map(|cbe| Cbe::parse(&cbe).map_err(|e| anyhow::anyhow!("--consumer {cbe:?}: {e}")))
        .transpose()?;
    // The device's signing key first: the tokens are bound to it.
    let mut device = device_for(device_path, issuer, &client_id)?;
    if device.ensure_proof_key()? {
        device.save(device_path)?;
    }
    let dpop = device
        .proof_key()?
        .context("the device has no signing key to bind the tokens to")?;
    let (tokens, system_key) = match (key, kid) {
        (Some(key), Some(kid)) => {
            let pem = std::fs::read(&key).with_context(|| format!("reading {}", key.display()))?;
            let client = ClientAuth::from(ClientAssertionKey::from_pem(&client_id, &kid, &pem)?)
                .with_dpop(dpop.clone());
            let tokens =
                client_credentials(http, issuer, &client, &scope, consumer.as_ref()).await?;
            (tokens, Some((key, kid)))
        }
        (None, None) => {
            let tokens = login::login_with_browser(
                http,
                issuer,
                &ClientAuth::public(&client_id).with_dpop(dpop.clone()),
                &scope,
                |url| async move {
                    eprintln!("Log in in your browser; if it did not open, go to:\n  {url}");
                    // No browser to launch (a server, a container): the
                    // URL above still works from any browser on this machine.
                    if let Err(e) = login::open_system_browser(&url) {
                        eprintln!("({e})");
                    }
                    Ok(())
                },
                Duration::from_secs(300),
            )
            .await?;
            (tokens, None)
        }
        _ => bail!("--key and --kid go together"),
    };
    let saved = Saved {
        issuer: issuer.to_owned(),
        client_id: client_id.clone(),
        scope,
        access_token: tokens.access_token.clone(),
        token_type: tokens.token_type.clone(),
        dpop_jkt: tokens.is_dpop().then(|| dpop.jkt().to_owned()),
        refresh_token: tokens.refresh_token.clone(),
        system_key,
        consumer,
    };
    save(session_path, &saved)?;
    let session = Session::for_tokens(http.clone(), issuer, &tokens, Some(&dpop));
    let claims = session.claims()?;
    println!("logged in to {issuer} as {}", claims["identity"]);
    if let Some(act) = claims.get("act") {
        eprintln!("acting for that organization, as {act}");
    }
    if tokens.is_dpop() {
        eprintln!(
            "the tokens are bound to this device's signing key (DPoP, thumbprint {})",
            dpop.jkt()
        );
    } else {
        eprintln!("the service issued bearer tokens (it does not bind them to the device key)");
    }
    Ok(())
}

//! `depot client exchange`: the session's access token traded at the token endpoint
//! (RFC 8693) for a SAML holder-of-key assertion (`--saml`), or for an access token in
//! which the app acts for the person. The actor token is signed by the device's
//! registered signing key (for a system client without one, by its own key), so what
//! is issued is held by that key.

use std::path::Path;

use anyhow::{Context, bail};
use serde_json::json;

use super::DEFAULT_SCOPE;
use super::session::resume;
use crate::client::login::{ActorKey, Exchange, Exchanged};

#[derive(clap::Args)]
pub(super) struct ExchangeArgs {
    /// Ask for a SAML 2.0 holder-of-key assertion (for SOAP services) instead of an
    /// access token; it is printed as XML.
    #[arg(long)]
    saml: bool,
    /// The scopes of the new access token (within the session's; default: the
    /// session's, without `exchange`).
    #[arg(long)]
    scope: Option<String>,
    /// A resource (RFC 8707) the new access token is for (repeatable).
    #[arg(long)]
    resource: Vec<String>,
    /// The assertion's audience (default `{issuer}/soap`), or a resource of a token.
    #[arg(long)]
    audience: Option<String>,
}

pub(super) async fn run(
    http: &reqwest::Client,
    issuer: &str,
    session_path: &Path,
    device_path: &Path,
    args: ExchangeArgs,
) -> anyhow::Result<()> {
    let (file, session, device) = resume(http, session_path, device_path, issuer).await?;
    let claims = session.claims()?;
    let scopes = claims["scope"].as_str().unwrap_or_default();
    if !scopes.split(' ').any(|s| s == "exchange") {
        bail!(
            "the session's token lacks the scope exchange: log in again with \
             --scope \"{DEFAULT_SCOPE} exchange\" (the app must be registered for it)"
        );
    }
    let (client, actor) = {
        let saved = file.saved.lock().await;
        let actor = match (device.signing_key(), &saved.system_key) {
            (Some(key), _) => Some(ActorKey::device(&saved.client_id, key)?),
            (None, Some((key, kid))) => {
                let pem =
                    std::fs::read(key).with_context(|| format!("reading {}", key.display()))?;
                Some(ActorKey::from_pem(&saved.client_id, kid, &pem)?)
            }
            (None, None) => None,
        };
        (saved.client_auth()?, actor)
    };
    let request = Exchange {
        scope: args.scope.as_deref(),
        resources: args.resource.iter().map(String::as_str).collect(),
        audience: args.audience.as_deref(),
        ..match (&actor, args.saml) {
            (Some(actor), true) => Exchange::saml2(actor),
            (None, true) => bail!(
                "an assertion is held by a registered signing key: run \
                 `depot client register-key --use sig` first"
            ),
            (actor, false) => Exchange::access_token(actor.as_ref()),
        }
    };
    if let Some(actor) = &actor {
        eprintln!("actor token signed by key {}", actor.kid());
    }
    match session.exchange(client, &request).await? {
        Exchanged::Saml2 { assertion, answer } => {
            eprintln!(
                "a SAML holder-of-key assertion, valid {} s",
                answer.expires_in
            );
            println!("{assertion}");
        }
        Exchanged::AccessToken(tokens) => {
            let claims = session.exchanged(&tokens, None).claims()?;
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({"answer": tokens, "claims": claims}))?
            );
        }
    }
    Ok(())
}

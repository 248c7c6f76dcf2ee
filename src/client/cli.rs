//! `depot client …`: the client library as commands. State lives in a directory
//! (`--home`, default `./.depot-client`): `session.json` (tokens) and `device.json`
//! (this device's private keys), both readable by their owner only; and `log_head.json`,
//! the last head of the keystore's transparency log that `open` trusted.
//!
//! The tokens are bound to the device's signing key (DPoP, RFC 9449): `login` makes
//! that key pair first when the device has none (it is registered later, by
//! `register-key` for a use that signs), every token request and every call carries a
//! proof by it, and `session.json` names it by its thumbprint (`dpop_jkt`).

mod exchange;
mod login;
mod session;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

use super::ClientError;
use super::absences::{absent_among, substitutes_of};
use super::open::{Trust, open};
use super::seal::{seal_for_group, seal_with_substitutes, seal_with_symkey};
use crate::people::Identifier;
use session::resume;

/// What a person's app asks for by default.
/// The file of the home where `open` keeps the last trusted head of the keystore's log.
pub const LOG_HEAD: &str = "log_head.json";

pub const DEFAULT_SCOPE: &str =
    "openid depot:send depot:read keys:register keys:read symkeys:create symkeys:read";

#[derive(clap::Args)]
pub struct ClientArgs {
    /// Where this client keeps its session and its device keys.
    #[arg(long, env = "DEPOT_CLIENT_HOME", default_value = ".depot-client")]
    home: PathBuf,
    /// The service's URL (its issuer); default: the configured public URL.
    #[arg(long, env = "DEPOT_SERVER")]
    server: Option<String>,
    #[command(subcommand)]
    command: ClientCommand,
}

#[derive(clap::Subcommand)]
enum ClientCommand {
    /// Log in: as a person through the system browser (authorization code + PKCE,
    /// loopback redirect), or with --key as a system client (private_key_jwt), for
    /// itself or, with --consumer, for an organization that delegated to its own.
    Login(login::LoginArgs),
    /// Exchange the session's access token (RFC 8693; the login must have asked for
    /// scope `exchange`): for a SAML holder-of-key assertion with --saml (printed as
    /// XML), else for an access token in which the app acts (printed as JSON: the
    /// token endpoint's answer and the token's claims). The actor token is signed by
    /// the device's registered signing key (a system client: its own key).
    Exchange(exchange::ExchangeArgs),
    /// Generate a key on this device and register it (WebAuthn ceremony, packed
    /// self-attestation); the session then gets a token that references it.
    RegisterKey {
        /// sig, enc or sig+enc [default: sig+enc, or sig for EdDSA]
        #[arg(long = "use", value_parser = ["sig", "enc", "sig+enc"])]
        key_use: Option<String>,
        #[arg(long, default_value = "depot client")]
        name: String,
        /// The key's signature algorithm: ES256 (P-256), EdDSA (Ed25519, signing
        /// only: --use sig), RS256 or PS256 (RSA 2048).
        #[arg(long, default_value = "ES256", value_parser = ["ES256", "EdDSA", "RS256", "PS256"])]
        alg: String,
    },
    /// Sign a file and encrypt it for every active enc key of every recipient (and
    /// yours), then post it. With --allow, for an unknown addressee: encrypt with a
    /// new symmetric key whose policy allows these selectors.
    Send {
        /// A recipient, `ssin:…`, `nihii:…` or `cbe:…` (repeatable).
        #[arg(long = "to", required_unless_present = "to_group")]
        to: Vec<String>,
        /// A group instead: the professionals of a quality within an organization,
        /// `CBE/quality` (e.g. `0203201340/doctor`), found through the keystore.
        #[arg(long, conflicts_with_all = ["to", "allow", "with_substitutes"])]
        to_group: Option<String>,
        /// The payload.
        #[arg(long)]
        file: PathBuf,
        #[arg(long, default_value = "ehbox")]
        application: String,
        /// Who may read the symmetric key: `ssin:…`, `nihii:…`, `cbe:…`,
        /// `quality:doctor` or `profile:citizen` (repeatable).
        #[arg(long)]
        allow: Vec<String>,
        /// The symmetric key's lifetime.
        #[arg(long, default_value_t = 30 * 86_400)]
        ttl_seconds: u64,
        /// Encrypt for the substitutes of the recipients that are absent too, so that
        /// the depot delivers them a copy (without it, absences are only reported).
        #[arg(long, conflicts_with = "allow")]
        with_substitutes: bool,
    },
    /// List your box.
    Inbox {
        #[arg(long = "box", default_value = "inbox", value_parser = ["inbox", "sent"])]
        folder: String,
    },
    /// Print a message as the depot holds it (JSON).
    Fetch { id: String },
    /// Fetch, decrypt and verify a message; prints the verdict, writes the payload
    /// only when every check passed. Exit status 1 when a check failed.
    Open {
        id: String,
        /// Where to write the payload (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The TSA's root certificate(s), PEM, obtained out of band: timestamps must
        /// chain to them, and the chain the service serves at /tsa/certs is not
        /// trusted. Without it, the served chain's self-signed roots are.
        #[arg(long, value_name = "FILE.pem")]
        tsa_root: Option<PathBuf>,
    },
}

/// Runs a `depot client` command; `Ok(false)` when it ran but a verification failed.
pub async fn run(args: ClientArgs, configured_issuer: &str) -> anyhow::Result<bool> {
    let issuer = args
        .server
        .as_deref()
        .unwrap_or(configured_issuer)
        .trim_end_matches('/')
        .to_owned();
    std::fs::create_dir_all(&args.home)
        .with_context(|| format!("creating {}", args.home.display()))?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let session_path = args.home.join("session.json");
    let device_path = args.home.join("device.json");
    match args.command {
        ClientCommand::Login(login) => {
            login::run(&http, &issuer, &session_path, &device_path, login).await?;
        }
        ClientCommand::Exchange(ask) => {
            exchange::run(&http, &issuer, &session_path, &device_path, ask).await?;
        }
        ClientCommand::RegisterKey { key_use, name, alg } => {
            let alg = crate::keys::alg::Alg::from_jose(&alg)
                .ok_or_else(|| anyhow::anyhow!("unknown algorithm {alg}"))?;
            // An Ed25519 key cannot encrypt.
            let key_use = key_use.unwrap_or_else(|| {
                let default = if alg == crate::keys::alg::Alg::EdDsa {
                    "sig"
                } else {
                    "sig+enc"
                };
                default.to_owned()
            });
            let (file, session, mut device) =
                resume(&http, &session_path, &device_path, &issuer).await?;
            // For a use that signs, the device's unregistered signing key (the one the
            // tokens are bound to) when it is for this algorithm.
            let key = session
                .register_device_key(&mut device, &key_use, &name, alg)
                .await?;
            println!("registered {key_use} {} key {}", alg.jose(), key.kid);
            device.save(&device_path)?;
            // A new token, so that the key is among its references.
            file.renew().await?;
        }
        ClientCommand::Send {
            to,
            file,
            application,
            allow,
            ttl_seconds,
            with_substitutes,
            to_group,
        } => {
            // The input first: a typo is reported before anything is asked of the service.
            let recipients = to
                .iter()
                .map(|r| identifier(r))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let allow = allow
                .iter()
                .map(|s| selector(s))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let payload =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let group = to_group.as_deref().map(group).transpose()?;
            let (_, session, device) = resume(&http, &session_path, &device_path, &issuer).await?;
            let mut recipients = recipients;
            let sealed = if let Some((organization, quality)) = group {
                let (sealed, members, kids) =
                    seal_for_group(&session, &device, &organization, &quality, &payload).await?;
                eprintln!(
                    "{} {quality} of {organization}; encrypted for {} keys: {}",
                    members.len(),
                    kids.len(),
                    kids.join(", ")
                );
                recipients = members;
                sealed
            } else if allow.is_empty() {
                let substitutes =
                    chosen_substitutes(&session, &recipients, with_substitutes).await?;
                let (sealed, kids) =
                    seal_with_substitutes(&session, &device, &recipients, &substitutes, &payload)
                        .await?;
                eprintln!("encrypted for {} keys: {}", kids.len(), kids.join(", "));
                sealed
            } else {
                let (sealed, key_id) = seal_with_symkey(
                    &session,
                    &device,
                    &json!({"allow": allow}),
                    ttl_seconds,
                    &payload,
                )
                .await?;
                eprintln!("encrypted with symmetric key {key_id}");
                sealed
            };
            let answer = session.send(&application, &recipients, &sealed).await?;
            println!("{}", serde_json::to_string_pretty(&answer)?);
        }
        ClientCommand::Inbox { folder } => {
            let (_, session, _) = resume(&http, &session_path, &device_path, &issuer).await?;
            let listing = session.list(&folder, None).await?;
            println!("{}", serde_json::to_string_pretty(&listing)?);
        }
        ClientCommand::Fetch { id } => {
            let (_, session, _) = resume(&http, &session_path, &device_path, &issuer).await?;
            let fetched = session
                .get_json(&format!("/depot/messages/{id}"))
                .await
                .map_err(|e| not_yours(&id, e))?;
            println!("{}", serde_json::to_string_pretty(&fetched)?);
        }
        ClientCommand::Open { id, out, tsa_root } => {
            // Read before anything else: a root that cannot be read is never replaced
            // by the served one.
            let trust = match &tsa_root {
                Some(path) => {
                    let pem = std::fs::read(path)
                        .with_context(|| format!("reading --tsa-root {}", path.display()))?;
                    Some(
                        Trust::from_pem(&pem)
                            .with_context(|| format!("--tsa-root {}", path.display()))?,
                    )
                }
                None => None,
            };
            let (_, session, device) = resume(&http, &session_path, &device_path, &issuer).await?;
            let fetched = session.fetch(&id).await.map_err(|e| not_yours(&id, e))?;
            let trust = match trust {
                Some(trust) => trust,
                None => Trust::from_service(&session).await?,
            }
            .keeping_log_head_in(args.home.join(LOG_HEAD))?;
            let verdict = open(&session, &device, &fetched, &trust).await;
            eprintln!(
                "message {id} from {}:\n{verdict}",
                fetched.sender["identity"]
            );
            let Some(payload) = verdict.payload else {
                return Ok(false);
            };
            match out {
                Some(path) => std::fs::write(&path, payload)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => {
                    use std::io::Write as _;
                    std::io::stdout().write_all(&payload)?;
                }
            }
        }
    }
    Ok(true)
}

/// A message the depot does not show this caller: say so plainly (the depot answers
/// 404 alike for a wrong id and for someone else's message, on purpose).
fn not_yours(id: &str, error: ClientError) -> anyhow::Error {
    if error.status() == Some(404) {
        anyhow::anyhow!(
            "message {id} is not in your boxes: no such message, deleted, or someone else's"
        )
    } else {
        error.into()
    }
}

/// The recipients that are absent, told on standard error; their substitutes when
/// the sender chose to reach them (`--with-substitutes`), else none.
async fn chosen_substitutes(
    session: &super::Session,
    recipients: &[Identifier],
    with_substitutes: bool,
) -> anyhow::Result<Vec<Identifier>> {
    let absent = absent_among(session, recipients).await?;
    let named = |ids: &[Identifier]| {
        ids.iter()
            .map(|id| {
                let (kind, value) = crate::people::model::identifier_parts(id);
                format!("{kind}:{value}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    for a in &absent {
        eprintln!(
            "{} is absent until {}; substitutes: {}{}",
            named(std::slice::from_ref(&a.recipient)),
            a.until.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            named(&a.substitutes),
            if with_substitutes {
                ""
            } else {
                " (send with --with-substitutes to reach them too)"
            }
        );
    }
    Ok(if with_substitutes {
        substitutes_of(&absent, recipients)
    } else {
        Vec::new()
    })
}

/// `ssin:85073003328` as an identifier.
fn identifier(text: &str) -> anyhow::Result<Identifier> {
    let (kind, value) = text
        .split_once(':')
        .with_context(|| format!("{text:?}: expected type:value, e.g. ssin:85073003328"))?;
    Identifier::parse(kind, value).map_err(|e| anyhow::anyhow!("{text:?}: {e}"))
}

/// `CBE/quality`: a group by quality within an organization.
fn group(text: &str) -> anyhow::Result<(crate::people::Cbe, String)> {
    let (cbe, quality) = text
        .split_once('/')
        .with_context(|| format!("{text:?}: expected CBE/quality, e.g. 0203201340/doctor"))?;
    let cbe = crate::people::Cbe::parse(cbe).map_err(|e| anyhow::anyhow!("{text:?}: {e}"))?;
    if !crate::people::model::QUALITIES.contains(&quality) {
        anyhow::bail!(
            "{text:?}: unknown quality (one of {})",
            crate::people::model::QUALITIES.join(", ")
        );
    }
    Ok((cbe, quality.to_owned()))
}

/// A policy selector: an identifier, `quality:doctor` or `profile:citizen`.
fn selector(text: &str) -> anyhow::Result<Value> {
    match text.split_once(':') {
        Some((kind @ ("quality" | "profile"), value)) => Ok(json!({"type": kind, "value": value})),
        _ => Ok(serde_json::to_value(identifier(text)?)?),
    }
}

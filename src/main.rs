//! The `depot` command.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use depot::app::Application;
use depot::clock::Clock;
use depot::config::Config;
use depot::{operator, ops};

/// mimalloc instead of glibc's malloc: under load the service spent a quarter of its
/// own CPU in glibc's allocator (request bodies, JSON values, statements), most of it
/// consolidating and splitting the free lists that kilobyte-sized buffers churn.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "depot",
    version,
    about = "eHealth depot: secure-messaging depot and its co-hosted authorities"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (configuration: defaults, depot.toml, DEPOT_* variables).
    Serve {
        /// The configuration file; default: DEPOT_CONFIG, else depot.toml in the
        /// working directory (every key: depot.example.toml).
        #[arg(long, value_name = "FILE")]
        config: Option<std::path::PathBuf>,
    },
    /// Run the database migrations and exit. On PostgreSQL they run under an advisory
    /// lock: instances starting together migrate one after the other.
    Migrate {
        /// Apply nothing: list the pending migrations, one name a line, and exit 1 if
        /// there are any, 0 if none (2 if the configuration or the database cannot be
        /// read).
        #[arg(long)]
        check: bool,
    },
    /// Print the depot's notifications as JSON lines, one per message and recipient,
    /// from a durable queue bound to `depot.events` (needs AMQP_URL).
    Consume {
        /// The queue to declare (durable, dead-lettered) and read.
        #[arg(long)]
        queue: String,
        /// Routing keys to bind, e.g. `message.received.ehbox` or `message.received.#`.
        #[arg(long = "binding", default_value = "message.received.#")]
        bindings: Vec<String>,
    },
    /// The sender's and receiver's side: log in, register this device's keys, send,
    /// list, fetch and open messages.
    #[cfg(feature = "client-tools")]
    Client(depot::client::cli::ClientArgs),
    /// With `depot serve` running on the same configuration: both seed flows end to
    /// end (known and unknown addressee), each step printed with what it proved.
    /// Exit status 0 only when every check passed.
    #[cfg(feature = "client-tools")]
    Demo,
    /// Operator commands that work offline, beside a running server.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create (or update) a system client with scope `admin` and the given public keys.
    Bootstrap {
        #[arg(long)]
        client_id: String,
        /// A JWK Set file ({"keys": [...]}) of public keys.
        #[arg(long)]
        jwks: PathBuf,
    },
    /// Import organizations and persons from a JSON file
    /// (`{"organizations": [{"cbe", "name"}], "persons": [<as POST /admin/persons>]}`).
    /// Everything is checked first; then all of it is written in one transaction.
    /// Existing persons are updated.
    ImportPeople {
        /// The JSON file.
        file: PathBuf,
    },
    /// Make a new token-signing key current. The old one stays published until its
    /// tokens have expired, unless --revoke-previous withdraws it at once.
    RotateSigningKey {
        #[arg(long)]
        revoke_previous: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    depot::authz::jose_openssl::install();
    let file = match &cli.command {
        Command::Serve { config } => config.clone(),
        _ => None,
    };
    let (config, warnings) = match Config::load(file.as_deref()) {
        Ok(loaded) => loaded,
        // `migrate --check` keeps 1 for "migrations pending".
        Err(e) if matches!(cli.command, Command::Migrate { check: true }) => {
            eprintln!("Error: {e}");
            std::process::exit(2);
        }
        Err(e) => return Err(e.into()),
    };
    let service = &config.settings.service;
    match cli.command {
        Command::Serve { .. } => {
            let audit = config.audit_log_file();
            if let Some(dir) = audit.parent().filter(|d| !d.as_os_str().is_empty()) {
                depot::files::private_dir(dir)
                    .with_context(|| format!("the audit log's directory {}", dir.display()))?;
            }
            ops::telemetry::init_with_audit(service.log_format, &service.log, &audit)
                .with_context(|| format!("the audit log {}", audit.display()))?;
        }
        _ => ops::telemetry::init(service.log_format, &service.log),
    }
    // Only now that logging has started can a warning be seen.
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    actix_web::rt::System::new().block_on(run(cli.command, config))
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { .. } => {
            let app = Application::build(config, Clock::system()).await?;
            tracing::info!(
                port = app.port(),
                issuer = %app.state().config.issuer,
                database = if app.state().config.is_sqlite() { "sqlite" } else { "postgres" },
                "depot listening"
            );
            app.run_until_stopped().await?;
            tracing::info!("depot stopped");
        }
        Command::Consume { queue, bindings } => {
            use secrecy::ExposeSecret;
            let url = config
                .amqp_url
                .as_ref()
                .context("depot consume needs AMQP_URL (or DEPOT_AMQP_URL_FILE)")?;
            let mut out = std::io::stdout();
            // Unacknowledged notifications stay in the queue when interrupted.
            tokio::select! {
                result = queues::consumer::print_json_lines(url.expose_secret(), &queue, &bindings, &mut out) => result?,
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        #[cfg(feature = "client-tools")]
        Command::Client(args) => {
            if !depot::client::cli::run(args, &config.issuer).await? {
                std::process::exit(1);
            }
        }
        #[cfg(feature = "client-tools")]
        Command::Demo => {
            if !depot::client::demo::run(&config).await? {
                std::process::exit(1);
            }
        }
        Command::Migrate { check: false } => {
            operator::migrate(&config).await?;
            println!("migrations applied");
        }
        Command::Migrate { check: true } => match operator::pending_migrations(&config).await {
            Ok(pending) if pending.is_empty() => println!("no migration pending"),
            Ok(pending) => {
                for name in pending {
                    println!("{name}");
                }
                std::process::exit(1);
            }
            // Not 1: a pipeline must not read "the database cannot be read" as "migrate".
            Err(e) => {
                eprintln!("Error: {e:#}");
                std::process::exit(2);
            }
        },
        Command::Admin { command } => match command {
            AdminCommand::Bootstrap { client_id, jwks } => {
                let created = operator::bootstrap(&config, &client_id, &jwks).await?;
                println!(
                    "{} administrator client {client_id} (scope admin, audience {}/admin)",
                    if created { "created" } else { "updated" },
                    config.issuer
                );
            }
            AdminCommand::ImportPeople { file } => {
                let report = depot::people::import::import_file(&config, &file).await?;
                println!(
                    "imported {} organizations and {} persons from {}",
                    report.organizations,
                    report.persons,
                    file.display()
                );
            }
            AdminCommand::RotateSigningKey { revoke_previous } => {
                let kid = operator::rotate_signing_key(&config, revoke_previous).await?;
                println!(
                    "new signing key {kid} is current; previous keys {}",
                    if revoke_previous {
                        "revoked"
                    } else {
                        "kept until their tokens expire"
                    }
                );
            }
        },
    }
    Ok(())
}

//! Wiring: state, routes, middleware, listener; and the background jobs.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{Compress, from_fn};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use tracing_actix_web::TracingLogger;

use crate::authz::bearer::TokenVerifier;
use crate::authz::signing::{self, SigningKeys};
use crate::authz::{self, store};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::ops::metrics::Metrics;
use crate::state::AppState;
use crate::{db, openapi, ops, problem};

/// Everything a running instance needs, before the HTTP server.
pub async fn state(config: Config, clock: Clock) -> anyhow::Result<AppState> {
    crate::authz::jose_openssl::install();
    let master = Arc::new(
        MasterKey::load_or_create(&config.master_key_file).context("loading the master key")?,
    );
    let db = db::connect(&config)
        .await
        .context("connecting to the database")?;
    db::migrate(&db).await.context("running migrations")?;
    let backfilled = crate::keys::log::backfill(&db, clock.now())
        .await
        .context("logging the keys registered before the transparency log")?;
    if backfilled > 0 {
        tracing::info!(
            entries = backfilled,
            "keys registered earlier are in the transparency log now"
        );
    }
    signing::ensure_current_key(&db, &master, &clock).await?;
    let settings = &config.settings;
    let retention = chrono::Duration::seconds(
        i64::from(settings.authz.access_token_ttl_seconds)
            + i64::from(settings.authz.clock_leeway_seconds),
    );
    let keys = Arc::new(
        SigningKeys::load(
            db.clone(),
            master.clone(),
            clock.clone(),
            Duration::from_secs(u64::from(settings.authz.signing_key_refresh_seconds)),
            retention,
        )
        .await?,
    );
    // Clients and key references are cached; the registry's version is read now, and
    // every quarter second once the service runs.
    let freshness = crate::cache::registry::Freshness::default();
    freshness.refresh(&db).await;
    let clients = crate::authz::store::Clients::new(
        db.clone(),
        freshness.clone(),
        settings.authz.registry_cache_entries,
    );
    let replays = crate::authz::store::Replays::new(db.clone());
    let verifier = TokenVerifier {
        issuer: config.issuer.as_str().into(),
        keys: keys.clone(),
        revocations: crate::authz::store::Revocations::new(db.clone()),
        clients: clients.clone(),
        delegations: crate::authz::delegation::store::DelegationStanding::new(db.clone()),
        verified: Arc::new(crate::cache::Memo::new(settings.authz.token_cache_entries)),
        clock: clock.clone(),
        leeway_seconds: i64::from(settings.authz.clock_leeway_seconds),
        dpop: crate::authz::dpop::DpopVerifier::new(
            replays.clone(),
            clock.clone(),
            master.clone(),
            settings.authz.dpop_nonce == crate::config::DpopNonce::Required,
            i64::from(settings.authz.clock_leeway_seconds),
        ),
    };
    let policy = Arc::new(
        crate::authz::pdp::Policy::load(config.settings.authz.policy_file.as_deref())
            .context("loading the PDP policy")?,
    );
    let keystore = Arc::new(
        crate::keys::Keystore::from_config(&config, freshness.clone())
            .context("configuring the keystore")?,
    );
    let tsa = Arc::new(
        crate::tsa::Authority::load(&config, &db, &master, clock.now())
            .await
            .context("loading the time-stamp authority's key")?,
    );
    let saml = Arc::new(
        crate::authz::saml::SamlIssuer::load(&db, &master, &config.issuer, clock.now())
            .await
            .context("loading the SAML signing key")?,
    );
    let service_client = Arc::new(
        crate::service_client::ServiceClient::ensure(&config, &db, &master, &clock)
            .await
            .context("registering the depot's own client")?,
    );
    let tsa_serials = crate::tsa::Serials::new(db.clone());
    let stamper = Arc::new(
        crate::tsa::stamper_from_config(
            &config,
            tsa.clone(),
            tsa_serials.clone(),
            service_client.clone(),
            clock.clone(),
        )
        .context("configuring the TSA client")?,
    );
    let federation = config
        .federation
        .clone()
        .map(|f| {
            crate::authz::federation::Upstream::new(f, &config.issuer, keys.clone()).map(Arc::new)
        })
        .transpose()
        .context("configuring the upstream identity provider")?;
    let config = Arc::new(config);
    let authz = crate::authz::context::AuthzContext {
        config: config.clone(),
        db: db.clone(),
        clock: clock.clone(),
        master: master.clone(),
        keys: keys.clone(),
        policy: policy.clone(),
        keystore: keystore.clone(),
        clients,
        replays,
        password_checks: Arc::new(crate::authz::login::hash_gate::HashGate::new(
            config.settings.authz.login_max_concurrent_hashes,
        )),
    };
    Ok(AppState {
        authz,
        depot: crate::depot::store::Store::new(
            db.clone(),
            crate::depot::signals::BoxSignals::new(&db, master.clone()),
        ),
        depot_limits: crate::depot::accept::Limits::from_settings(&config.settings),
        depot_bodies: crate::body::Budget::new(
            config.settings.depot.bodies_in_flight_bytes,
            crate::depot::routes::BODY_ROOM_WAIT,
        ),
        sender_rate: Arc::new(crate::depot::rate::SenderRate::new(
            config.settings.depot.sender_rate_per_minute,
            config.settings.depot.sender_burst,
        )),
        tsa_serials,
        key_directory: crate::keys::directory::KeyDirectory::new(
            db.clone(),
            keystore.policy,
            freshness.clone(),
            config.settings.authz.registry_cache_entries,
        ),
        live_symkeys: crate::symkeys::store::LiveSymkeys::new(db.clone()),
        absences: crate::depot::absences::Absences::new(db.clone(), freshness.clone()),
        keystore,
        saml,
        tsa,
        service_client,
        stamper,
        config,
        db,
        clock,
        master,
        keys,
        verifier,
        metrics: Arc::new(Metrics::default()),
        policy,
        relay: None,
        freshness,
        federation,
    })
}

/// Health and metrics: on the public port, or alone on the management listener
/// (`DEPOT_MANAGEMENT_LISTEN`) when one is configured.
pub fn operations(cfg: &mut web::ServiceConfig) {
    cfg.service(ops::routes::live)
        .service(ops::routes::ready)
        .service(ops::routes::metrics);
}

/// Everything the public port serves, but the operations' routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(openapi::openapi_json)
        .configure(authz::routes::configure)
        .configure(authz::saml::routes::configure)
        .configure(crate::keys::routes::configure)
        .configure(crate::symkeys::routes::configure)
        .configure(crate::depot::routes::configure)
        .configure(crate::depot::absences::routes::configure)
        .configure(crate::tsa::routes::configure);
}

pub struct Application {
    port: u16,
    server: Server,
    /// The management listener's port and server, when one is configured.
    management: Option<(u16, Server)>,
    state: AppState,
    relay: Option<queues::relay::RelayHandle>,
}

impl Application {
    /// Binds the listener and builds the server; `run_until_stopped` serves.
    pub async fn build(mut config: Config, clock: Clock) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.settings.service.listen)
            .with_context(|| format!("binding {}", config.settings.service.listen))?;
        let port = listener.local_addr()?.port();
        if config.settings.service.public_url.is_none()
            && config.settings.service.listen.port() == 0
        {
            config.settings.service.listen.set_port(port);
            config = Config::from_settings(config.settings)?;
        }
        let mut state = state(config, clock).await?;
        // lapin binds to the runtime it connects on: start the relay here, on the
        // server's runtime, before the workers exist.
        let relay = state.config.amqp_url.as_ref().map(|url| {
            use secrecy::ExposeSecret;
            let storage = &state.config.settings.storage;
            let mut relay = queues::relay::RelayConfig::new(url.expose_secret());
            relay.max_backoff =
                std::time::Duration::from_millis(u64::from(storage.relay_max_backoff_ms.max(1)));
            relay.jitter = storage.relay_backoff_jitter;
            queues::relay::spawn(state.db.clone(), relay)
        });
        state.relay = relay.as_ref().map(queues::relay::RelayHandle::control);
        let data = web::Data::new(state.clone());
        let verifier = web::Data::new(state.verifier.clone());
        let body_limit = state.config.settings.service.body_limit_bytes;
        let management = match state.config.settings.service.management_listen {
            Some(address) => Some(management_server(address, data.clone())?),
            None => None,
        };
        let public_operations = management.is_none();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(verifier.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(body_limit)
                        .error_handler(move |e, _| problem::json_error(e, body_limit)),
                )
                // Every body is bounded by the one limit, whichever extractor reads it
                // (the depot's messages and the routes reading the raw payload take
                // theirs in `body::read`).
                .app_data(web::FormConfig::default().limit(body_limit))
                .app_data(web::PayloadConfig::default().limit(body_limit))
                .app_data(web::QueryConfig::default().error_handler(|e, _| problem::query_error(e)))
                .wrap(Compress::default())
                .wrap(from_fn(ops::routes::middleware))
                .wrap(TracingLogger::<ops::spans::PrivateSpans>::new())
                .configure(routes)
                .configure(|cfg| {
                    if public_operations {
                        operations(cfg);
                    }
                })
                .default_service(web::to(|| async {
                    Err::<actix_web::HttpResponse, _>(problem::Problem::not_found(
                        "no such resource",
                    ))
                }))
        })
        .shutdown_timeout(30);
        if let Some(workers) = state.config.settings.service.workers {
            server = server.workers(workers);
        }
        let server = match (
            &state.config.settings.service.tls_cert_file,
            &state.config.settings.service.tls_key_file,
        ) {
            (Some(cert), Some(key)) => {
                use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};
                let mut tls = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())?;
                tls.set_private_key_file(key, SslFiletype::PEM)
                    .with_context(|| format!("TLS key {}", key.display()))?;
                tls.set_certificate_chain_file(cert)
                    .with_context(|| format!("TLS certificate {}", cert.display()))?;
                server.listen_openssl(listener, tls)?
            }
            _ => server.listen(listener)?,
        }
        .run();
        Ok(Self {
            port,
            server,
            management,
            state,
            relay,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The management listener's port, when one is configured.
    pub fn management_port(&self) -> Option<u16> {
        self.management.as_ref().map(|(port, _)| *port)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGTERM / SIGINT (graceful: in-flight requests finish).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let purge = tokio::spawn(purge_loop(self.state.clone()));
        let listener = self.state.depot.signals().spawn_listener(&self.state.db);
        let watch = self.state.freshness.spawn_watch(self.state.db.clone());
        let checkpointer = crate::db::spawn_checkpointer(&self.state.db);
        let management = self.management.map(|(_, server)| {
            let handle = server.handle();
            (handle, tokio::spawn(server))
        });
        let result = self.server.await;
        // Health and metrics answer until the public port has drained.
        if let Some((handle, task)) = management {
            handle.stop(true).await;
            let _ = task.await;
        }
        purge.abort();
        watch.abort();
        if let Some(checkpointer) = checkpointer {
            checkpointer.abort();
        }
        if let Some(listener) = listener {
            listener.abort();
        }
        if let Some(relay) = self.relay {
            relay.stop().await;
        }
        result
    }
}

/// The management listener: health and metrics only, over plain HTTP (it belongs on
/// an internal network), with one worker.
fn management_server(
    address: std::net::SocketAddr,
    data: web::Data<AppState>,
) -> anyhow::Result<(u16, Server)> {
    let listener = TcpListener::bind(address)
        .with_context(|| format!("binding the management listener {address}"))?;
    let bound = listener.local_addr()?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap(TracingLogger::<ops::spans::PrivateSpans>::new())
            .configure(operations)
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(problem::Problem::not_found(
                    "the management listener serves /health/live, /health/ready and /metrics",
                ))
            }))
    })
    .workers(1)
    .shutdown_timeout(5)
    .listen(listener)?
    .run();
    tracing::info!(address = %bound, "management listener: health and metrics");
    Ok((bound.port(), server))
}

/// Drops expired replay-store entries, revocations, sessions, interactions, codes,
/// refresh tokens, symmetric keys, expired or abandoned messages, sent outbox rows and
/// long-ended absences once a minute; and logs the expiry of keys in the keystore's
/// transparency log.
async fn purge_loop(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        let now = state.clock.now();
        let purged = async {
            let a = store::purge_expired(&state.db, now).await?;
            let b = authz::login::store::purge_expired(&state.db, now).await?;
            let c = authz::grants::store::purge_expired(&state.db, now).await?;
            let d = crate::keys::store::purge_registrations(&state.db, now).await?;
            let e = crate::symkeys::store::purge_expired(&state.db, now).await?;
            let f = crate::depot::store::purge(&state.db, now).await?
                + crate::depot::absences::purge_ended(&state.db, now).await?;
            // Not a purge: the transparency log records the keys that expired.
            let g = crate::keys::log::expire_due(&state.db, now).await?;
            let h = authz::federation::store::purge_expired(&state.db, now).await?;
            anyhow::Ok(a + b + c + d + e + f + g + h)
        };
        match purged.await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(rows = n, "purged expired rows"),
            Err(e) => tracing::warn!(error = %e, "purge of expired rows failed"),
        }
    }
}

//! RFC 3161 timestamps: the co-hosted time-stamp authority (`POST /tsa`) and the
//! client the depot uses to obtain proofs of reception, from it or another TSA.

pub mod asn1;
pub mod authority;
pub mod client;
pub mod error;
pub mod generated;
pub mod routes;
pub mod serials;
pub mod stamper;
pub mod verify;

use std::sync::Arc;
use std::time::Duration;

use openssl::x509::X509;

pub use authority::{Authority, AuthorityError, Refusal};
pub use client::{TsaClient, TsaClientConfig};
pub use error::TsaError;
pub use serials::Serials;
pub use stamper::{ReceptionProof, Stamper};

use crate::authz::scope::Resource;
use crate::clock::Clock;
use crate::config::{Config, TsaAuth};
use crate::service_client::ServiceClient;

/// How the depot obtains proofs of reception, as configured: the co-hosted authority
/// in-process, unless `DEPOT_TSA_URL` names another TSA.
pub fn stamper_from_config(
    config: &Config,
    authority: Arc<Authority>,
    serials: Serials,
    service: Arc<ServiceClient>,
    clock: Clock,
) -> anyhow::Result<Stamper> {
    let client = Arc::new(client_from_config(config, &authority, service)?);
    let in_process = config
        .settings
        .tsa
        .tsa_url
        .is_none()
        .then_some((authority, serials));
    Ok(Stamper::new(client, in_process, clock))
}

/// The HTTP client of the configured TSA: ours at `/tsa` (trusting its root) unless
/// `DEPOT_TSA_URL` names another.
fn client_from_config(
    config: &Config,
    authority: &Authority,
    service: Arc<ServiceClient>,
) -> anyhow::Result<TsaClient> {
    let settings = &config.settings;
    let anchors = match &settings.tsa.tsa_trust_anchors {
        Some(path) => X509::stack_from_pem(
            &std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("DEPOT_TSA_TRUST_ANCHORS {}: {e}", path.display()))?,
        )?,
        None => authority.anchors().to_vec(),
    };
    if anchors.is_empty() {
        anyhow::bail!(
            "the TSA chain has no self-signed root: set DEPOT_TSA_TRUST_ANCHORS to the roots its timestamps chain to"
        );
    }
    let auth = match settings.tsa.tsa_auth {
        TsaAuth::Token => Some((service, Resource::Tsa.identifier(&config.issuer))),
        TsaAuth::None => None,
    };
    Ok(TsaClient::new(TsaClientConfig {
        url: settings
            .tsa
            .tsa_url
            .clone()
            .unwrap_or_else(|| config.url("/tsa")),
        auth,
        anchors,
        timeout: Duration::from_secs(u64::from(settings.tsa.tsa_timeout_seconds)),
        retries: settings.tsa.tsa_retries,
    })?)
}

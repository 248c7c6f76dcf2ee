//! RFC 3161 timestamps: the co-hosted time-stamp authority (`POST /tsa`) and the
//! client the depot uses to obtain proofs of reception, from it or another TSA.

pub mod asn1;
pub mod authority;
pub mod client;
pub mod generated;
pub mod routes;
pub mod serials;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use openssl::x509::X509;

pub use authority::{Authority, AuthorityError, Refusal};
pub use client::{ReceptionProof, TsaClient, TsaClientConfig, TsaError};
pub use serials::Serials;

use crate::authz::scope::Resource;
use crate::config::{Config, TsaAuth};
use crate::service_client::ServiceClient;

/// A proof of reception from the co-hosted authority, called in-process: the same
/// request, serial number and signed TimeStampResp as `POST /tsa` answers, without
/// the HTTP round trip, the check of the depot's own token and the re-verification
/// of a signature this process just made. (With `DEPOT_TSA_URL` set, the depot goes
/// through [`TsaClient`] instead, token and verification included.)
pub async fn stamp_in_process(
    authority: &Authority,
    serials: &Serials,
    data: &[u8],
    now: DateTime<Utc>,
) -> Result<ReceptionProof, TsaError> {
    let request = client::new_request(data).map_err(TsaError::Invalid)?;
    let serial = serials
        .next()
        .await
        .map_err(|e| TsaError::Unavailable(format!("no serial number: {e}")))?;
    let response = authority
        .sign(&request, serial, now)
        .map_err(|e| TsaError::Invalid(e.to_string()))?;
    Ok(ReceptionProof {
        response,
        // The TSTInfo's genTime: `now` to the millisecond.
        gen_time: now
            .duration_trunc(TimeDelta::milliseconds(1))
            .unwrap_or(now),
        serial: serial.to_string(),
    })
}

/// The client the depot uses, as configured: the co-hosted TSA (trusting its root)
/// unless `DEPOT_TSA_URL` names another.
pub fn client_from_config(
    config: &Config,
    authority: &Authority,
    service: Arc<ServiceClient>,
) -> anyhow::Result<TsaClient> {
    let settings = &config.settings;
    let anchors = match &settings.tsa_trust_anchors {
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
    let auth = match settings.tsa_auth {
        TsaAuth::Token => Some((service, Resource::Tsa.identifier(&config.issuer))),
        TsaAuth::None => None,
    };
    Ok(TsaClient::new(TsaClientConfig {
        url: settings
            .tsa_url
            .clone()
            .unwrap_or_else(|| config.url("/tsa")),
        auth,
        anchors,
        timeout: Duration::from_secs(u64::from(settings.tsa_timeout_seconds)),
        retries: settings.tsa_retries,
    })?)
}

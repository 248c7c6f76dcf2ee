//! How the depot obtains its proof of reception: one call, [`Stamper::stamp`], that
//! first makes sure the depot holds its own client-credentials token (the seed's step
//! before asking the TSA), then asks the co-hosted authority in-process or, with
//! `DEPOT_TSA_URL`, another TSA over HTTP through [`TsaClient`] (token and
//! verification included).

use std::sync::Arc;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use super::{Authority, Serials, TsaClient, TsaError, verify};
use crate::clock::Clock;

/// What the depot keeps as proof that it received some bytes at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceptionProof {
    /// The whole TimeStampResp, DER (what `openssl ts -verify -in` reads).
    pub response: Vec<u8>,
    pub gen_time: DateTime<Utc>,
    /// The TSA's serial number, in decimal.
    pub serial: String,
}

pub struct Stamper {
    /// The HTTP client of the configured TSA (ours at `/tsa` unless `DEPOT_TSA_URL`
    /// names another); it also holds the depot's own token.
    pub client: Arc<TsaClient>,
    /// The co-hosted authority and its serials, asked in-process; none when another
    /// TSA is configured.
    in_process: Option<(Arc<Authority>, Serials)>,
    clock: Clock,
}

impl Stamper {
    pub fn new(
        client: Arc<TsaClient>,
        in_process: Option<(Arc<Authority>, Serials)>,
        clock: Clock,
    ) -> Self {
        Self {
            client,
            in_process,
            clock,
        }
    }

    /// Whether proofs come from the co-hosted authority (no outside request).
    pub fn is_in_process(&self) -> bool {
        self.in_process.is_some()
    }

    /// The depot's own token, then a proof of reception over `data`.
    pub async fn stamp(&self, data: &[u8]) -> Result<ReceptionProof, TsaError> {
        self.client.authenticate().await?;
        match &self.in_process {
            Some((authority, serials)) => {
                stamp_in_process(authority, serials, data, self.clock.now()).await
            }
            None => self.client.stamp(data).await,
        }
    }
}

/// A proof of reception from the co-hosted authority, called in-process: the same
/// request, serial number and signed TimeStampResp as `POST /tsa` answers, without
/// the HTTP round trip, the check of the depot's own token and the re-verification
/// of a signature this process just made.
async fn stamp_in_process(
    authority: &Authority,
    serials: &Serials,
    data: &[u8],
    now: DateTime<Utc>,
) -> Result<ReceptionProof, TsaError> {
    let request = verify::new_request(data).map_err(TsaError::Invalid)?;
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

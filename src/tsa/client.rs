//! The client the depot asks another TSA for timestamps with, over HTTP: it builds
//! the request (SHA-256 of the bytes, a random nonce, `certReq`), authenticates with
//! the depot's own token when configured (DPoP-bound: each request carries a proof by
//! the depot's key, and is repeated once with the TSA's nonce when it asks for one),
//! retries what may pass, and trusts a reply
//! only once [`super::verify`] has verified it. It works with any RFC 3161 TSA, ours
//! or another.

use std::sync::Arc;
use std::time::Duration;

use der::Encode;
use der::asn1::Int;
use openssl::x509::X509;
use x509_tsp::MessageImprint;

use super::verify::{new_request, verify_response};
use super::{ReceptionProof, TsaError};
use crate::service_client::{ServiceClient, ServiceTokenError};

/// How to reach and trust a TSA.
pub struct TsaClientConfig {
    pub url: String,
    /// The depot's own client and the resource indicator to ask its token for; none:
    /// requests carry no token.
    pub auth: Option<(Arc<ServiceClient>, String)>,
    /// The roots a reply's signing certificate must chain to.
    pub anchors: Vec<X509>,
    pub timeout: Duration,
    pub retries: u32,
}

pub struct TsaClient {
    config: TsaClientConfig,
    http: reqwest::Client,
}

impl TsaClient {
    pub fn new(config: TsaClientConfig) -> Result<Self, TsaError> {
        if config.anchors.is_empty() {
            return Err(TsaError::Invalid("no trust anchor is configured".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| TsaError::Unavailable(e.to_string()))?;
        Ok(Self { config, http })
    }

    /// Makes sure the depot holds a token for the TSA (fetched once, then cached until
    /// shortly before it expires); nothing to do when requests carry no token.
    pub async fn authenticate(&self) -> Result<(), TsaError> {
        match &self.config.auth {
            None => Ok(()),
            Some((client, resource)) => match client.token("tsa", resource).await {
                Ok(_) => Ok(()),
                Err(ServiceTokenError::Unreachable(e)) => {
                    Err(TsaError::Unavailable(format!("token endpoint: {e}")))
                }
                Err(e) => Err(TsaError::Auth(e.to_string())),
            },
        }
    }

    /// A verified timestamp over `data`, after at most `retries` more attempts when the
    /// TSA cannot be reached or answers 5xx / 429. A refusal or a reply that does not
    /// verify is final.
    pub async fn stamp(&self, data: &[u8]) -> Result<ReceptionProof, TsaError> {
        let (request, imprint, nonce) = request(data).map_err(TsaError::Invalid)?;
        let mut failures = Vec::new();
        let mut renewed = false;
        let mut nonce_given = false;
        let mut attempt = 0;
        while attempt <= self.config.retries {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100 << (attempt - 1).min(5))).await;
            }
            attempt += 1;
            let token = match &self.config.auth {
                None => None,
                Some((client, resource)) => match client.token("tsa", resource).await {
                    Ok(token) => Some(token),
                    Err(ServiceTokenError::Unreachable(e)) => {
                        failures.push(format!("token endpoint: {e}"));
                        continue;
                    }
                    Err(e) => return Err(TsaError::Auth(e.to_string())),
                },
            };
            let mut call = self
                .http
                .post(&self.config.url)
                .header(reqwest::header::CONTENT_TYPE, "application/timestamp-query")
                .body(request.clone());
            if let (Some((client, _)), Some(token)) = (&self.config.auth, &token) {
                call = client
                    .authorize(call, token, "POST", &self.config.url)
                    .map_err(|e| TsaError::Auth(e.to_string()))?;
            }
            let response = match call.send().await {
                Ok(response) => response,
                Err(e) => {
                    failures.push(e.to_string());
                    continue;
                }
            };
            let status = response.status();
            if let (Some((client, _)), Some(token)) = (&self.config.auth, &token)
                && token.dpop
                && client.answered(&self.config.url, &response)
                && !nonce_given
            {
                // The TSA wants its DPoP nonce in the proof: once more with it, without
                // counting it as an attempt.
                nonce_given = true;
                attempt -= 1;
                continue;
            }
            if status == reqwest::StatusCode::UNAUTHORIZED
                && let (Some((client, _)), Some(token), false) =
                    (&self.config.auth, &token, renewed)
            {
                // The token was revoked or the TSA's clock disagrees: one new token,
                // without counting it as an attempt.
                client.discard(token).await;
                renewed = true;
                attempt -= 1;
                continue;
            }
            if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                failures.push(format!("HTTP {status}"));
                continue;
            }
            if !status.is_success() {
                let body = response.text().await.unwrap_or_default();
                let body: String = body.chars().take(300).collect();
                return Err(if status == reqwest::StatusCode::UNAUTHORIZED {
                    TsaError::Auth(format!("HTTP {status}: {body}"))
                } else {
                    TsaError::Unavailable(format!("HTTP {status}: {body}"))
                });
            }
            let body = match response.bytes().await {
                Ok(body) => body.to_vec(),
                Err(e) => {
                    failures.push(e.to_string());
                    continue;
                }
            };
            let verified = verify_response(&body, &imprint, Some(&nonce), &self.config.anchors)?;
            return Ok(ReceptionProof {
                response: body,
                gen_time: verified.gen_time,
                serial: verified.serial,
            });
        }
        Err(TsaError::Unavailable(format!(
            "{} attempts to {} failed: {}",
            attempt,
            self.config.url,
            failures.join("; ")
        )))
    }
}

/// The DER TimeStampReq for `data`, its imprint and its nonce.
fn request(data: &[u8]) -> Result<(Vec<u8>, MessageImprint, Int), String> {
    let request = new_request(data)?;
    let imprint = request.message_imprint.clone();
    let nonce = request.nonce.clone().ok_or("the request has no nonce")?;
    Ok((request.to_der().map_err(|e| e.to_string())?, imprint, nonce))
}

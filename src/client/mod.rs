//! The sender's and the receiver's side, as a library (and, on top of it, the
//! `depot client …` commands and `depot demo`): log in, register this device's keys,
//! seal (sign, then encrypt for every active key of every recipient, or for a
//! symmetric key), and open (decrypt, then check the signer's key as it was at the
//! timestamp, its reference in the sender's claims, the signature and the timestamp).
//!
//! An app may also act for the person (token exchange, RFC 8693, see [`login`] and
//! [`Session::exchange`]): for an access token with `act`, or for a SAML holder-of-key
//! assertion, checked as a SOAP service would by [`saml`]; and a supplier's system
//! for a consumer organization that delegated to it (client credentials with
//! `consumer=`).
//!
//! Everything here talks to the service over HTTP, as any other client would. Tokens
//! are bound to the device's signing key (DPoP, RFC 9449, see [`dpop`]) whenever the
//! service binds them: every call then carries a fresh proof by that key.
//!
//! What plays a person or a device where none is (the scripted browser of
//! [`login`], the software authenticator and the key registration it answers, and on
//! top of them `depot client …` and `depot demo`) needs the `client-tools` feature, on
//! by default; the service binary is built without it.

pub mod absences;
#[cfg(feature = "client-tools")]
pub mod authenticator;
#[cfg(feature = "client-tools")]
pub mod cli;
#[cfg(feature = "client-tools")]
pub mod demo;
pub mod device;
pub mod dpop;
mod exchange;
pub mod keypair;
mod keystore;
pub mod login;
pub mod open;
#[cfg(feature = "client-tools")]
mod registration;
pub mod renewal;
pub mod saml;
pub mod seal;
pub mod verdict;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::people::Identifier;

pub use crate::keys::alg::Alg;
pub use device::{Device, DeviceKey};
pub use dpop::DpopKey;
pub use verdict::{Check, Verdict};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach {url}: {detail}")]
    Unreachable { url: String, detail: String },
    /// The service answered with an error (problem+json or an OAuth error).
    #[error("{method} {path}: HTTP {status}: {detail}")]
    Refused {
        method: &'static str,
        path: String,
        status: u16,
        detail: String,
    },
    #[error("unexpected answer: {0}")]
    Protocol(String),
    #[error("device file: {0}")]
    Device(String),
    #[error("cryptography: {0}")]
    Crypto(String),
    #[error("{0}")]
    Sealing(String),
    /// 401 with `error="invalid_token"` (RFC 6750 §3.1): the service no longer takes
    /// the access token (expired by its clock, revoked).
    #[error("{method} {path}: the service refused the access token: {detail}")]
    InvalidToken {
        method: &'static str,
        path: String,
        detail: String,
    },
    #[error("the session could not be renewed: {0}")]
    Renewal(String),
}

impl ClientError {
    /// The HTTP status the service answered, when it refused.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Refused { status, .. } => Some(*status),
            Self::InvalidToken { .. } => Some(401),
            _ => None,
        }
    }
}

/// A message as `GET /depot/messages/{id}` answers it, with `sealed` kept as the
/// exact bytes the depot stored (the timestamp's imprint is over them).
#[derive(Debug, Deserialize)]
pub struct Fetched {
    pub id: String,
    pub application: String,
    pub sealed: Box<RawValue>,
    pub sender: Value,
    pub recipients: Vec<Value>,
    #[serde(rename = "receivedAt")]
    pub received_at: DateTime<Utc>,
    /// Base64 of the RFC 3161 TimeStampResp.
    pub timestamp: String,
    #[serde(default)]
    pub metadata: Value,
    #[serde(default)]
    pub receipts: Vec<Value>,
}

impl Fetched {
    /// The bytes the timestamp is over: the compact string's characters, or the JSON
    /// object as it was posted.
    pub fn sealed_bytes(&self) -> Vec<u8> {
        match serde_json::from_str::<String>(self.sealed.get()) {
            Ok(compact) => compact.into_bytes(),
            Err(_) => self.sealed.get().as_bytes().to_vec(),
        }
    }
}

/// A logged-in caller of the service: its base URL and access token, and the key the
/// token is bound to when it is DPoP-bound. Clones share the token, and a renewal
/// ([`Self::renewed_by`]) replaces it for all of them.
#[derive(Clone)]
pub struct Session {
    pub issuer: String,
    token: renewal::CurrentToken,
    http: reqwest::Client,
    dpop: Option<DpopKey>,
}

impl Session {
    /// A session whose token is a bearer token (see [`Self::with_dpop`]).
    pub fn new(http: reqwest::Client, issuer: &str, token: &str) -> Self {
        Self {
            issuer: issuer.trim_end_matches('/').to_owned(),
            token: renewal::CurrentToken::new(token),
            http,
            dpop: None,
        }
    }

    /// The session of what the token endpoint issued: DPoP-bound to `key` when the
    /// answer says `token_type` `DPoP`; a bearer token otherwise (a service that does
    /// not bind tokens ignores the proof and says `Bearer`).
    pub fn for_tokens(
        http: reqwest::Client,
        issuer: &str,
        tokens: &login::Tokens,
        key: Option<&DpopKey>,
    ) -> Self {
        let session = Self::new(http, issuer, &tokens.access_token);
        match key {
            Some(key) if tokens.is_dpop() => session.with_dpop(key.clone()),
            _ => session,
        }
    }

    /// The same session, its token DPoP-bound to `key`: every call is sent as
    /// `Authorization: DPoP` with a proof by it.
    pub fn with_dpop(mut self, key: DpopKey) -> Self {
        self.dpop = Some(key);
        self
    }

    /// The key the token is bound to, if it is.
    pub fn dpop_key(&self) -> Option<&DpopKey> {
        self.dpop.as_ref()
    }

    /// The same session, which renews its token with `renewer` and repeats a call
    /// once when the service refuses the token (see [`renewal`]).
    pub fn renewed_by(mut self, renewer: std::sync::Arc<dyn renewal::Renewer>) -> Self {
        self.token = self.token.renewed_by(renewer);
        self
    }

    /// The current access token.
    pub fn token(&self) -> String {
        self.token.get()
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The claims of this session's access token (not verified: it is ours to show,
    /// the service verifies it).
    pub fn claims(&self) -> Result<Value, ClientError> {
        let token = self.token();
        let payload = token
            .split('.')
            .nth(1)
            .ok_or_else(|| ClientError::Protocol("the access token is not a JWT".into()))?;
        b64_json(payload)
            .ok_or_else(|| ClientError::Protocol("the access token's claims do not parse".into()))
    }

    /// One call; when the token is refused and the session can renew it, renewed and
    /// repeated once.
    async fn call(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Option<Value>, ClientError> {
        let token = self.token();
        match self.call_with(&token, method, path, body).await {
            Err(ClientError::InvalidToken { .. }) if self.token.can_renew() => {
                let fresh = self.token.replace(&token).await?;
                self.call_with(&fresh, method, path, body).await
            }
            answer => answer,
        }
    }

    async fn call_with(
        &self,
        token: &str,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Option<Value>, ClientError> {
        let url = format!("{}{path}", self.issuer);
        let mut repeated = false;
        let (status, token_refused, text) = loop {
            let mut request = match method {
                "POST" => self.http.post(&url),
                "DELETE" => self.http.delete(&url),
                _ => self.http.get(&url),
            };
            request = match &self.dpop {
                Some(key) => request
                    .header(
                        reqwest::header::AUTHORIZATION,
                        format!("{} {token}", dpop::HEADER),
                    )
                    .header(dpop::HEADER, key.proof(method, &url, Some(token))?),
                None => request.bearer_auth(token),
            };
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.map_err(|e| ClientError::Unreachable {
                url: url.clone(),
                detail: e.to_string(),
            })?;
            let status = response.status();
            let challenge = (status == reqwest::StatusCode::UNAUTHORIZED)
                .then(|| dpop::challenge_error(response.headers()))
                .flatten();
            if let Some(key) = &self.dpop
                && key.answered(&url, status, response.headers(), challenge.as_deref())
                    == dpop::Retry::Once
                && !repeated
            {
                repeated = true;
                continue;
            }
            let token_refused = challenge.as_deref() == Some("invalid_token");
            break (
                status,
                token_refused,
                response.text().await.unwrap_or_default(),
            );
        };
        if !status.is_success() {
            let detail = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| {
                    v["detail"]
                        .as_str()
                        .or(v["error_description"].as_str())
                        .or(v["title"].as_str())
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| text.chars().take(300).collect());
            if token_refused {
                return Err(ClientError::InvalidToken {
                    method,
                    path: path.to_owned(),
                    detail,
                });
            }
            return Err(ClientError::Refused {
                method,
                path: path.to_owned(),
                status: status.as_u16(),
                detail,
            });
        }
        if text.is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| ClientError::Protocol(format!("{method} {path}: {e}")))
    }

    async fn get_json(&self, path: &str) -> Result<Value, ClientError> {
        self.call("GET", path, None)
            .await?
            .ok_or_else(|| ClientError::Protocol(format!("GET {path}: empty answer")))
    }

    async fn post_json(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.call("POST", path, Some(body))
            .await?
            .ok_or_else(|| ClientError::Protocol(format!("POST {path}: empty answer")))
    }

    // Symmetric keys.

    /// A new symmetric key readable by whom `policy` allows, for `ttl_seconds`.
    pub async fn create_symkey(
        &self,
        policy: &Value,
        ttl_seconds: u64,
    ) -> Result<Value, ClientError> {
        self.post_json(
            "/symkeys",
            &json!({"policy": policy, "ttlSeconds": ttl_seconds}),
        )
        .await
    }

    /// The JWK of a symmetric key, in clear, when its policy lets this caller read it.
    /// A device that has an `enc` key asks for it wrapped instead
    /// ([`Self::symkey_wrapped`]), so that the key never travels in clear.
    pub async fn symkey(&self, key_id: &str) -> Result<Value, ClientError> {
        Ok(self.get_json(&format!("/symkeys/{key_id}")).await?["jwk"].clone())
    }

    /// A symmetric key as a compact JWE encrypted to the caller's registered `enc`
    /// key `kid` (`GET /symkeys/{keyId}?wrap=<kid>`), when its policy lets this caller
    /// read it.
    pub async fn symkey_wrapped(&self, key_id: &str, kid: &str) -> Result<String, ClientError> {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("wrap", kid)
            .finish();
        let answer = self.get_json(&format!("/symkeys/{key_id}?{query}")).await?;
        answer["jwe"].as_str().map(str::to_owned).ok_or_else(|| {
            ClientError::Protocol(format!("GET /symkeys/{key_id}?wrap: no jwe in the answer"))
        })
    }

    // Depot.

    /// Posts a sealed message; answers the depot's 201 body.
    pub async fn send(
        &self,
        application: &str,
        recipients: &[Identifier],
        sealed: &seal::Sealed,
    ) -> Result<Value, ClientError> {
        self.post_json(
            "/depot/messages",
            &json!({
                "application": application,
                "recipients": recipients,
                "sealed": sealed.as_json(),
            }),
        )
        .await
    }

    /// The caller's box listing (`box` is `inbox` or `sent`).
    pub async fn list(&self, folder: &str, cursor: Option<&str>) -> Result<Value, ClientError> {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("box", folder);
        if let Some(cursor) = cursor {
            query.append_pair("cursor", cursor);
        }
        self.get_json(&format!("/depot/messages?{}", query.finish()))
            .await
    }

    pub async fn fetch(&self, id: &str) -> Result<Fetched, ClientError> {
        let path = format!("/depot/messages/{id}");
        let value = self.get_json(&path).await?;
        serde_json::from_value(value).map_err(|e| ClientError::Protocol(format!("GET {path}: {e}")))
    }

    pub async fn mark_read(&self, id: &str) -> Result<(), ClientError> {
        self.call("POST", &format!("/depot/messages/{id}/read"), None)
            .await?;
        Ok(())
    }

    /// The TSA's certificate chain (PEM), to verify timestamps with.
    pub async fn tsa_chain(&self) -> Result<Vec<u8>, ClientError> {
        let url = format!("{}/tsa/certs", self.issuer);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| ClientError::Unreachable {
                url: url.clone(),
                detail: e.to_string(),
            })?;
        if !response.status().is_success() {
            return Err(ClientError::Refused {
                method: "GET",
                path: "/tsa/certs".into(),
                status: response.status().as_u16(),
                detail: String::new(),
            });
        }
        Ok(response
            .bytes()
            .await
            .map_err(|e| ClientError::Unreachable {
                url,
                detail: e.to_string(),
            })?
            .to_vec())
    }
}

/// A base64url (unpadded) JSON object: a JOSE header or a JWT's claims.
pub(crate) fn b64_json(text: &str) -> Option<Value> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

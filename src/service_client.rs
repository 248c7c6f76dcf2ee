//! The depot's own OAuth client: a system client registered at first start, whose
//! P-256 key is kept sealed under the master key and shared by every instance. It
//! obtains client-credentials tokens with `private_key_jwt` (RFC 7523) from the token
//! endpoint, over HTTP like any other client, and caches each until shortly before it
//! expires.
//!
//! Its tokens are DPoP-bound (RFC 9449) to that same key: it is the only key the depot
//! holds as a client, already sealed and shared by every instance (so any instance can
//! prove possession for a token another one cached), and rotated with the
//! registration; a second key would add a secret to keep and rotate and protect
//! nothing more, since whoever reads one reads both. The two uses cannot be taken for
//! each other: a proof is a `dpop+jwt` without `iss`/`sub`/`aud`, an assertion has
//! those and no `htm`/`htu`. Each call with a bound token carries a proof
//! ([`ServiceClient::authorize`]), dated by the depot's clock.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use sea_orm::DatabaseConnection;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::authz::client::ClientRegistration;
use crate::authz::scope::Scope;
use crate::authz::store;
use crate::client::dpop::{self, DpopKey, Retry};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::keys::KeyUse;
use crate::secrets::{self, ServiceSecret};

/// The client id the depot acts under.
pub const CLIENT_ID: &str = "depot-service";
/// What the depot asks tokens for; the registration grants exactly these.
pub const SCOPES: &[Scope] = &[Scope::Tsa];
const SECRET: &str = "service-client";
/// A cached token is renewed this long before it expires.
const RENEW_BEFORE: chrono::Duration = chrono::Duration::seconds(30);

#[derive(Debug, thiserror::Error)]
pub enum ServiceTokenError {
    #[error("the token endpoint is unreachable: {0}")]
    Unreachable(String),
    #[error("the token endpoint refused the depot's client: {0}")]
    Refused(String),
    #[error("signing the client assertion: {0}")]
    Assertion(String),
    #[error("signing the DPoP proof: {0}")]
    Proof(String),
}

pub struct ServiceClient {
    key: EncodingKey,
    kid: String,
    /// The same key, for DPoP proofs.
    dpop: DpopKey,
    token_endpoint: String,
    http: reqwest::Client,
    clock: Clock,
    /// Per `scope resource`: the token and when to renew it.
    cache: Mutex<HashMap<String, (ServiceToken, DateTime<Utc>)>>,
}

/// An access token of the depot's own client. `Debug` shows no token.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceToken {
    pub access_token: String,
    /// Bound to the client's key (`token_type` `DPoP`): sent with a proof.
    pub dpop: bool,
}

impl std::fmt::Debug for ServiceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceToken")
            .field("access_token", &"…")
            .field("dpop", &self.dpop)
            .finish()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: String,
    expires_in: i64,
}

#[derive(Deserialize)]
struct ErrorObject {
    error: String,
}

impl ServiceClient {
    /// Makes sure the key pair and the client registration exist (first start; two
    /// instances starting together agree), and returns the client.
    pub async fn ensure(
        config: &Config,
        db: &DatabaseConnection,
        master: &MasterKey,
        clock: &Clock,
    ) -> anyhow::Result<Self> {
        let now = clock.now();
        let secret = secrets::load_or_create(db, master, SECRET, now, generate).await?;
        let jwk: Value = serde_json::from_str(&secret.public)?;
        let kid = jwk["kid"].as_str().unwrap_or_default().to_owned();
        let registered = store::get_client(db, CLIENT_ID).await?;
        let current = registered.as_ref().is_some_and(|c| {
            c.client_type == crate::authz::client::ClientType::System
                && c.jwks
                    .as_ref()
                    .is_some_and(|j| j.keys.iter().any(|k| k.kid == kid))
                && SCOPES.iter().all(|s| c.scopes.contains(*s))
        });
        if !current {
            let registration: ClientRegistration = serde_json::from_value(json!({
                "client_id": CLIENT_ID,
                "type": "system",
                "name": "The depot itself (timestamps for proofs of reception)",
                "scopes": SCOPES.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                "jwks": {"keys": [jwk]},
            }))?;
            let client = registration
                .validate(now)
                .map_err(|e| anyhow::anyhow!("the depot's own client: {e}"))?;
            store::upsert_client(db, &client, now).await?;
            let policy = crate::keys::Policy::from_settings(&config.settings);
            crate::keys::service::record_client_keys(db, &client, &policy, now).await?;
            tracing::info!(
                client_id = CLIENT_ID,
                kid,
                "registered the depot's own client"
            );
        }
        let private = PKey::private_key_from_der(&secret.private_der)?;
        let dpop = DpopKey::new(&private, crate::keys::alg::Alg::Es256)
            .map_err(|e| anyhow::anyhow!("the depot's own client key: {e}"))?;
        Ok(Self {
            key: EncodingKey::from_ec_der(&secret.private_der),
            kid,
            dpop,
            token_endpoint: config.url("/oauth2/token"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            clock: clock.clone(),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The thumbprint of the key its tokens are bound to (their `cnf.jkt`).
    pub fn jkt(&self) -> &str {
        self.dpop.jkt()
    }

    /// A token with `scope` for `resource`: the cached one, or a new one.
    pub async fn token(
        &self,
        scope: &str,
        resource: &str,
    ) -> Result<ServiceToken, ServiceTokenError> {
        let key = format!("{scope} {resource}");
        let mut cache = self.cache.lock().await;
        if let Some((token, renew_at)) = cache.get(&key)
            && self.clock.now() < *renew_at
        {
            return Ok(token.clone());
        }
        let (token, expires_in) = self.request(scope, resource).await?;
        let lifetime = chrono::Duration::seconds(expires_in);
        let renew_at = self.clock.now() + (lifetime - RENEW_BEFORE).max(lifetime / 2);
        cache.insert(key, (token.clone(), renew_at));
        Ok(token)
    }

    /// Forgets `token` (a resource server refused it), so the next call gets a new one.
    pub async fn discard(&self, token: &ServiceToken) {
        self.cache.lock().await.retain(|_, (t, _)| t != token);
    }

    /// `request` (a `method` call of `url`) with `token`: `Authorization: DPoP` and a
    /// fresh proof for a bound token, `Bearer` otherwise.
    pub fn authorize(
        &self,
        request: reqwest::RequestBuilder,
        token: &ServiceToken,
        method: &str,
        url: &str,
    ) -> Result<reqwest::RequestBuilder, ServiceTokenError> {
        if !token.dpop {
            return Ok(request.bearer_auth(&token.access_token));
        }
        let proof = self.proof(method, url, Some(&token.access_token))?;
        Ok(request
            .header(
                reqwest::header::AUTHORIZATION,
                format!("{} {}", dpop::HEADER, token.access_token),
            )
            .header(dpop::HEADER, proof))
    }

    /// Takes note of the answer to a call with a bound token (the server's nonce);
    /// `true` when the call is to be repeated once, with the nonce the server asked for.
    pub fn answered(&self, url: &str, response: &reqwest::Response) -> bool {
        let challenge = dpop::challenge_error(response.headers());
        self.dpop.answered(
            url,
            response.status(),
            response.headers(),
            challenge.as_deref(),
        ) == Retry::Once
            && challenge.as_deref() == Some("use_dpop_nonce")
    }

    /// A proof dated by the depot's clock (the service's own, even when the system's
    /// is moved in tests), with the server's latest nonce.
    fn proof(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
    ) -> Result<String, ServiceTokenError> {
        self.dpop
            .proof_at(method, url, access_token, self.clock.now().timestamp())
            .map_err(|e| ServiceTokenError::Proof(e.to_string()))
    }

    /// The client credentials grant with a proof; once more when the token endpoint
    /// asks for its DPoP nonce.
    async fn request(
        &self,
        scope: &str,
        resource: &str,
    ) -> Result<(ServiceToken, i64), ServiceTokenError> {
        let mut repeated = false;
        loop {
            let response = self.request_once(scope, resource).await?;
            let status = response.status();
            let headers = response.headers().clone();
            if status.is_success() {
                self.dpop
                    .answered(&self.token_endpoint, status, &headers, None);
                let body: TokenResponse = response
                    .json()
                    .await
                    .map_err(|e| ServiceTokenError::Refused(format!("unexpected answer: {e}")))?;
                let dpop = body.token_type.eq_ignore_ascii_case(dpop::TOKEN_TYPE);
                let token = ServiceToken {
                    access_token: body.access_token,
                    dpop,
                };
                return Ok((token, body.expires_in));
            }
            let body = response.text().await.unwrap_or_default();
            let error = serde_json::from_str::<ErrorObject>(&body)
                .ok()
                .map(|e| e.error);
            let retry =
                self.dpop
                    .answered(&self.token_endpoint, status, &headers, error.as_deref());
            if retry == Retry::Once && error.as_deref() == Some("use_dpop_nonce") && !repeated {
                repeated = true;
                continue;
            }
            return Err(if status.is_server_error() {
                ServiceTokenError::Unreachable(format!("{status}: {body}"))
            } else {
                ServiceTokenError::Refused(format!("{status}: {body}"))
            });
        }
    }

    async fn request_once(
        &self,
        scope: &str,
        resource: &str,
    ) -> Result<reqwest::Response, ServiceTokenError> {
        let now = self.clock.now().timestamp();
        let claims = json!({
            "iss": CLIENT_ID,
            "sub": CLIENT_ID,
            "aud": self.token_endpoint,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now,
            "exp": now + 60,
        });
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        let assertion = jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| ServiceTokenError::Assertion(e.to_string()))?;
        let form = [
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
            ("scope", scope),
            ("resource", resource),
        ];
        let proof = self.proof("POST", &self.token_endpoint, None)?;
        self.http
            .post(&self.token_endpoint)
            .header(dpop::HEADER, proof)
            .form(&form)
            .send()
            .await
            .map_err(|e| ServiceTokenError::Unreachable(e.to_string()))
    }
}

/// A P-256 key pair; the public half as a JWK whose `kid` is its thumbprint.
fn generate() -> Result<ServiceSecret, String> {
    let err = |e: openssl::error::ErrorStack| e.to_string();
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(err)?;
    let key = PKey::from_ec_key(EcKey::generate(&group).map_err(err)?).map_err(err)?;
    let public = PKey::public_key_from_der(&key.public_key_to_der().map_err(err)?).map_err(err)?;
    let mut jwk = crate::keys::jwk::from_openssl(&public, "", KeyUse::Sig)?;
    jwk.jwk.insert("kid".into(), Value::String(jwk.jkt.clone()));
    Ok(ServiceSecret {
        public: Value::Object(jwk.jwk).to_string(),
        private_der: key.private_key_to_pkcs8().map_err(err)?,
    })
}

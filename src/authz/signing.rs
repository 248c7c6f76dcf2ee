//! The authorization server's ES256 signing keys: generation, rotation, the JWKS, and
//! an in-memory key ring refreshed from the database so that every instance of a fleet
//! (and the offline `depot admin rotate-signing-key`) agrees within seconds.
//!
//! A rotated key stays published until every token it signed has expired (token
//! lifetime + leeway); a revoked key disappears at once.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{DecodingKey, EncodingKey};
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

use super::jwks::thumbprint;
use super::store::{self, StoreError, StoredSigningKey};
use crate::clock::Clock;
use crate::crypto::{CryptoError, MasterKey};

pub const ALG: &str = "ES256";

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("openssl: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
    #[error("jwt: {0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
    #[error("no current signing key (run the server once, or `depot admin rotate-signing-key`)")]
    NoCurrentKey,
}

fn purpose(kid: &str) -> String {
    format!("signing-key:{kid}")
}

/// Generates a P-256 key pair; the private half sealed under the master key.
fn generate(
    master: &MasterKey,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<StoredSigningKey, SigningError> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let key = EcKey::generate(&group)?;
    let (mut x, mut y) = (BigNum::new()?, BigNum::new()?);
    let mut ctx = BigNumContext::new()?;
    key.public_key()
        .affine_coordinates(&group, &mut x, &mut y, &mut ctx)?;
    let mut jwk = json!({
        "kty": "EC", "crv": "P-256",
        "x": B64.encode(x.to_vec_padded(32)?),
        "y": B64.encode(y.to_vec_padded(32)?),
    });
    let kid = thumbprint(&jwk).ok_or(SigningError::NoCurrentKey)?;
    if let Some(map) = jwk.as_object_mut() {
        map.insert("kid".into(), json!(kid));
        map.insert("use".into(), json!("sig"));
        map.insert("alg".into(), json!(ALG));
    }
    let pkcs8 = openssl::pkey::PKey::from_ec_key(key)?.private_key_to_pkcs8()?;
    Ok(StoredSigningKey {
        sealed_private_key: master.seal(&pkcs8, &purpose(&kid))?,
        kid,
        public_jwk: jwk,
        created_at: now,
        retired_at: None,
    })
}

/// Makes sure a current key exists (first start).
pub async fn ensure_current_key(
    db: &DatabaseConnection,
    master: &MasterKey,
    clock: &Clock,
) -> Result<(), SigningError> {
    let now = clock.now();
    let keys = store::usable_signing_keys(db, now).await?;
    if keys.iter().all(|k| k.retired_at.is_some()) {
        let key = generate(master, now)?;
        store::insert_signing_key(db, &key, ALG).await?;
        tracing::info!(kid = %key.kid, "generated the first token-signing key");
    }
    Ok(())
}

/// Makes a new key current. The previous keys keep verifying until their tokens
/// expire, unless `revoke_previous` (a compromised key) withdraws them at once.
pub async fn rotate(
    db: &DatabaseConnection,
    master: &MasterKey,
    clock: &Clock,
    revoke_previous: bool,
) -> Result<String, SigningError> {
    let now = clock.now();
    let key = generate(master, now)?;
    store::insert_signing_key(db, &key, ALG).await?;
    store::retire_signing_keys_except(db, &key.kid, now, revoke_previous).await?;
    Ok(key.kid)
}

struct CurrentKey {
    kid: String,
    encoding: EncodingKey,
}

/// A snapshot of the usable keys.
pub struct KeyRing {
    loaded: Instant,
    current: Option<CurrentKey>,
    verifying: HashMap<String, DecodingKey>,
    jwks: Value,
}

impl KeyRing {
    /// The kid of the key that signs now.
    pub fn current_kid(&self) -> Option<&str> {
        self.current.as_ref().map(|c| c.kid.as_str())
    }

    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    pub fn decoding_key(&self, kid: &str) -> Option<&DecodingKey> {
        self.verifying.get(kid)
    }

    /// Signs a JWT with the current key.
    pub fn sign<T: serde::Serialize>(&self, typ: &str, claims: &T) -> Result<String, SigningError> {
        let current = self.current.as_ref().ok_or(SigningError::NoCurrentKey)?;
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.typ = Some(typ.to_owned());
        header.kid = Some(current.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &current.encoding)?)
    }
}

/// The shared, self-refreshing key ring.
pub struct SigningKeys {
    db: DatabaseConnection,
    master: Arc<MasterKey>,
    clock: Clock,
    refresh: Duration,
    /// How long a retired key keeps verifying: token lifetime plus leeway.
    retention: chrono::Duration,
    ring: RwLock<Arc<KeyRing>>,
    reload: tokio::sync::Mutex<()>,
}

impl SigningKeys {
    pub async fn load(
        db: DatabaseConnection,
        master: Arc<MasterKey>,
        clock: Clock,
        refresh: Duration,
        retention: chrono::Duration,
    ) -> Result<Self, SigningError> {
        let ring = read_ring(&db, &master, &clock, retention).await?;
        Ok(Self {
            db,
            master,
            clock,
            refresh,
            retention,
            ring: RwLock::new(Arc::new(ring)),
            reload: tokio::sync::Mutex::new(()),
        })
    }

    fn snapshot(&self) -> Arc<KeyRing> {
        match self.ring.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The current ring, reloaded from the database when older than the refresh period.
    pub async fn ring(&self) -> Result<Arc<KeyRing>, SigningError> {
        let ring = self.snapshot();
        if ring.loaded.elapsed() < self.refresh {
            return Ok(ring);
        }
        self.reload(ring.loaded).await
    }

    /// The ring that knows `kid`, reloading once when an unknown kid may be a key
    /// another instance has just made.
    pub async fn ring_for(&self, kid: &str) -> Result<Arc<KeyRing>, SigningError> {
        let ring = self.ring().await?;
        if ring.verifying.contains_key(kid) || ring.loaded.elapsed() < Duration::from_secs(1) {
            return Ok(ring);
        }
        self.reload(ring.loaded).await
    }

    async fn reload(&self, seen: Instant) -> Result<Arc<KeyRing>, SigningError> {
        let _gate = self.reload.lock().await;
        let ring = self.snapshot();
        if ring.loaded > seen && ring.loaded.elapsed() < self.refresh {
            return Ok(ring); // another task reloaded meanwhile
        }
        let fresh = Arc::new(read_ring(&self.db, &self.master, &self.clock, self.retention).await?);
        match self.ring.write() {
            Ok(mut guard) => *guard = fresh.clone(),
            Err(poisoned) => *poisoned.into_inner() = fresh.clone(),
        }
        Ok(fresh)
    }
}

async fn read_ring(
    db: &DatabaseConnection,
    master: &MasterKey,
    clock: &Clock,
    retention: chrono::Duration,
) -> Result<KeyRing, SigningError> {
    let keys = store::usable_signing_keys(db, clock.now() - retention).await?;
    let mut current = None;
    let mut verifying = HashMap::new();
    let mut published = Vec::new();
    for key in &keys {
        let (Some(x), Some(y)) = (key.public_jwk["x"].as_str(), key.public_jwk["y"].as_str())
        else {
            return Err(StoreError::Corrupt(format!("signing key {}", key.kid)).into());
        };
        verifying.insert(key.kid.clone(), DecodingKey::from_ec_components(x, y)?);
        published.push(key.public_jwk.clone());
        if current.is_none() && key.retired_at.is_none() {
            let der = master.open(&key.sealed_private_key, &purpose(&key.kid))?;
            current = Some(CurrentKey {
                kid: key.kid.clone(),
                encoding: EncodingKey::from_ec_der(&der),
            });
        }
    }
    Ok(KeyRing {
        loaded: Instant::now(),
        current,
        verifying,
        jwks: json!({ "keys": published }),
    })
}

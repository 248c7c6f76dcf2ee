//! Symmetric keys for unknown addressees: the KGSS role of the eHealth architecture
//! (DESIGN.md, seed figure 8; API.md "Symmetric keys").
//!
//! A sender that does not know who will read a message asks for a fresh 256-bit key
//! with an access policy and a lifetime, encrypts with it (JWE `A256KW`, RFC 7518
//! §4.4) and names the key id in clear; a reader fetches the key with its own token
//! and the policy decides. Keys are sealed under the master key at rest and never
//! logged; every creation, access (granted or refused) and removal leaves an audit
//! event that outlives the key.

pub mod policy;
pub mod routes;
pub mod store;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use josekit::jwe::{self, JweHeader};
use secrecy::{ExposeSecret, SecretBox};
use serde_json::{Value, json};

use crate::authz::tokens::AccessTokenClaims;
use crate::crypto::{CryptoError, MasterKey};
use crate::keys::Owner;
use policy::{AccessPolicy, InvalidField, Subject};

/// AES-256: 32 bytes.
pub const KEY_BYTES: usize = 32;

/// A creation request (`POST /symkeys`), parsed.
#[derive(Debug)]
pub struct NewKeyRequest {
    pub policy: AccessPolicy,
    pub ttl: chrono::Duration,
}

impl NewKeyRequest {
    /// Errors name the field at fault; `max_ttl_seconds` is the configured bound.
    pub fn parse(body: &Value, max_ttl_seconds: u32) -> Result<Self, InvalidField> {
        let members = policy::object(body, "body")?;
        policy::only_members(members, &["policy", "ttlSeconds"], "")?;
        let policy = AccessPolicy::parse(members.get("policy").unwrap_or(&Value::Null))?;
        let ttl = members
            .get("ttlSeconds")
            .and_then(Value::as_u64)
            .filter(|ttl| (1..=u64::from(max_ttl_seconds)).contains(ttl))
            .ok_or_else(|| {
                policy::invalid(
                    "ttlSeconds",
                    format!("must be a whole number of seconds from 1 to {max_ttl_seconds}"),
                )
            })?;
        Ok(Self {
            policy,
            ttl: chrono::Duration::seconds(ttl.cast_signed()),
        })
    }
}

/// What happened to a key, as the audit log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditEvent {
    Created,
    Granted,
    Refused,
    /// Asked for after it expired or was deleted (410).
    Gone,
    /// Asked for a well-formed key id that never existed (404).
    Unknown,
    Deleted,
    Purged,
}

impl AuditEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Granted => "granted",
            Self::Refused => "refused",
            Self::Gone => "gone",
            Self::Unknown => "unknown",
            Self::Deleted => "deleted",
            Self::Purged => "purged",
        }
    }
}

/// Who calls: the owner (the same person through any client and profile, or the
/// same system client), what the policy sees of them, and the client they use.
#[derive(Debug, Clone)]
pub struct Actor {
    pub owner: String,
    pub subject: Subject,
    pub identity: Value,
    pub client_id: String,
}

impl Actor {
    pub fn of_token(claims: &AccessTokenClaims) -> Result<Self, String> {
        let owner = Owner::of_token(claims)?;
        let subject = Subject::from_identity(&claims.identity)
            .ok_or_else(|| "the token's identity names no known profile".to_owned())?;
        Ok(Self {
            owner: owner.owner,
            subject,
            identity: claims.identity.clone(),
            client_id: claims.client_id.clone(),
        })
    }

    /// How the key's row and the audit log keep the actor.
    pub fn to_json(&self) -> Value {
        json!({"identity": self.identity, "client_id": self.client_id})
    }
}

/// A key's 32 bytes, wiped from memory when dropped.
pub struct KeyMaterial(SecretBox<[u8; KEY_BYTES]>);

impl KeyMaterial {
    /// A fresh key from OpenSSL's CSPRNG (seeded by the operating system).
    pub fn generate() -> Result<Self, CryptoError> {
        let mut key = SecretBox::new(Box::new([0u8; KEY_BYTES]));
        openssl::rand::rand_bytes(secrecy::ExposeSecretMut::expose_secret_mut(&mut key))?;
        Ok(Self(key))
    }

    fn purpose(key_id: &str) -> String {
        format!("symkey:{key_id}")
    }

    /// The key sealed for storage, bound to its id.
    pub fn seal(&self, master: &MasterKey, key_id: &str) -> Result<Vec<u8>, CryptoError> {
        master.seal(self.0.expose_secret(), &Self::purpose(key_id))
    }

    pub fn open(master: &MasterKey, key_id: &str, sealed: &[u8]) -> Result<Self, CryptoError> {
        let mut bytes = master.open(sealed, &Self::purpose(key_id))?;
        let mut key = SecretBox::new(Box::new([0u8; KEY_BYTES]));
        let copied = bytes.len() == KEY_BYTES;
        if copied {
            secrecy::ExposeSecretMut::expose_secret_mut(&mut key).copy_from_slice(&bytes);
        }
        zeroize_vec(&mut bytes);
        if copied {
            Ok(Self(key))
        } else {
            Err(CryptoError::Corrupt)
        }
    }

    /// The key as an RFC 7517 JWK for JWE key wrapping (`A256KW`).
    pub fn jwk(&self, key_id: &str) -> Value {
        json!({
            "kty": "oct",
            "kid": key_id,
            "alg": "A256KW",
            "k": B64.encode(self.0.expose_secret()),
        })
    }
}

fn zeroize_vec(bytes: &mut [u8]) {
    use secrecy::zeroize::Zeroize;
    bytes.zeroize();
}

#[derive(Debug, thiserror::Error)]
pub enum WrapError {
    #[error("the key cannot receive a JWE: {0}")]
    Unusable(String),
    #[error("JWE encryption failed: {0}")]
    Jose(#[from] josekit::JoseError),
}

/// The JWK `jwk`, encrypted as a compact JWE to a registered `enc` key (the reader's
/// ETK, in KGSS terms): ECDH-ES+A256KW for EC P-256, RSA-OAEP-256 for RSA, content
/// A256GCM, `cty: jwk+json` (RFC 7517 §7).
pub fn wrap(jwk: &Value, to: &Value, kid: &str) -> Result<String, WrapError> {
    let encrypter = crate::keys::jwk::jwe_encrypter(to).map_err(WrapError::Unusable)?;
    let mut header = JweHeader::new();
    header.set_content_encryption("A256GCM");
    header.set_key_id(kid);
    header.set_content_type("jwk+json");
    Ok(jwe::serialize_compact(
        jwk.to_string().as_bytes(),
        &header,
        encrypter.as_ref(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_requests() {
        let policy = json!({"allow": [{"type": "quality", "value": "doctor"}]});
        let ok =
            NewKeyRequest::parse(&json!({"policy": policy, "ttlSeconds": 3600}), 3600).unwrap();
        assert_eq!(ok.ttl, chrono::Duration::hours(1));
        let cases = [
            (json!({"policy": policy, "ttlSeconds": 3601}), "ttlSeconds"),
            (json!({"policy": policy, "ttlSeconds": 0}), "ttlSeconds"),
            (json!({"policy": policy, "ttlSeconds": -5}), "ttlSeconds"),
            (json!({"policy": policy, "ttlSeconds": 1.5}), "ttlSeconds"),
            (json!({"policy": policy, "ttlSeconds": "60"}), "ttlSeconds"),
            (json!({"policy": policy}), "ttlSeconds"),
            (json!({"ttlSeconds": 60}), "policy"),
            (
                json!({"policy": policy, "ttlSeconds": 60, "color": 1}),
                "color",
            ),
            (json!([1]), "body"),
        ];
        for (body, field) in cases {
            let err = NewKeyRequest::parse(&body, 3600).unwrap_err();
            assert_eq!(err.field, field, "{body}: {}", err.detail);
        }
    }

    #[test]
    fn key_material_is_sealed_to_its_id() {
        let master = MasterKey::from_bytes([7; 32]).unwrap();
        let key = KeyMaterial::generate().unwrap();
        let sealed = key.seal(&master, "a").unwrap();
        let opened = KeyMaterial::open(&master, "a", &sealed).unwrap();
        assert_eq!(opened.jwk("a"), key.jwk("a"));
        assert!(KeyMaterial::open(&master, "b", &sealed).is_err());
        let k = key.jwk("a")["k"].as_str().unwrap().to_owned();
        assert_eq!(B64.decode(k).unwrap().len(), KEY_BYTES);
    }
}

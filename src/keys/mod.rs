//! The keystore: which public key belongs to which (person, application), and when
//! it was valid. Keys come from the WebAuthn registration ceremony (device keys),
//! from the admin API (system clients' keys) or from an imported X.509 certificate
//! (the eHealth certificate / ETK case). Nothing is ever deleted: revocation, expiry
//! and inactivity are times, so "which keys were active at T" always has an answer.

pub mod alg;
pub mod ceremony;
pub mod certificate;
pub mod cose;
pub mod directory;
pub mod error;
pub mod jwk;
pub mod log;
pub mod owner;
pub mod packed;
pub mod routes;
pub mod service;
pub mod store;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

pub use owner::Owner;

use crate::authz::tokens::KeyReference;
use crate::cache::registry::{Freshness, Registered};
use crate::config::Config;

/// The keystore's services, built once from the configuration.
pub struct Keystore {
    pub ceremony: ceremony::Ceremony,
    pub roots: certificate::CertificateRoots,
    pub policy: Policy,
    /// This instance's copy of the transparency log's tree.
    pub log: log::KeyLog,
    /// Every key of an (owner, client) pair, as each token for the pair lists them.
    pairs: Registered<(String, String), Arc<Vec<store::KeyRow>>>,
}

impl Keystore {
    pub fn from_config(config: &Config, freshness: Freshness) -> anyhow::Result<Self> {
        Ok(Self {
            pairs: Registered::new(config.settings.authz.registry_cache_entries, freshness),
            ceremony: ceremony::Ceremony::from_config(config)?,
            roots: certificate::CertificateRoots::load(
                config.settings.keys.certificate_trust_roots.as_deref(),
            )
            .map_err(anyhow::Error::msg)?,
            policy: Policy::from_settings(&config.settings),
            log: log::KeyLog::default(),
        })
    }

    /// The `keys` claim of an access token for (owner, client) issued now; listing
    /// a key in a token is what counts as using it.
    pub async fn references(
        &self,
        db: &sea_orm::DatabaseConnection,
        owner: &str,
        client_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<KeyReference>, sea_orm::DbErr> {
        let pair = (owner.to_owned(), client_id.to_owned());
        let keys = self
            .pairs
            .get(pair.clone(), || async {
                store::keys_of(db, owner, Some(client_id))
                    .await
                    .map(Arc::new)
            })
            .await?;
        let active: Vec<&store::KeyRow> = keys
            .iter()
            .filter(|k| {
                k.revoked_at.is_none() && store::status(k, &self.policy, now) == Status::Active
            })
            .collect();
        let stale: Vec<String> = active
            .iter()
            .filter(|k| k.last_used_at < now - store::TOUCH_GRANULARITY)
            .map(|k| k.kid.clone())
            .collect();
        if !stale.is_empty() {
            store::touch(db, &stale, now).await?;
            // The time of use is the cache's own business (no registry change).
            self.pairs.amend(&pair, |keys| {
                let mut keys = Vec::clone(keys);
                for key in keys.iter_mut().filter(|k| stale.contains(&k.kid)) {
                    key.last_used_at = now;
                }
                Arc::new(keys)
            });
        }
        Ok(active
            .into_iter()
            .map(|k| KeyReference {
                kid: k.kid.clone(),
                key_use: k.key_use.clone(),
                jkt: k.jkt.clone(),
            })
            .collect())
    }
}

/// What a key may be used for (API.md: `sig`, `enc` or `sig+enc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyUse {
    Sig,
    Enc,
    SigEnc,
}

impl KeyUse {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "sig" => Some(Self::Sig),
            "enc" => Some(Self::Enc),
            "sig+enc" => Some(Self::SigEnc),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sig => "sig",
            Self::Enc => "enc",
            Self::SigEnc => "sig+enc",
        }
    }

    /// A `sig+enc` key is found by a search for either use.
    pub fn serves(self, wanted: KeyUse) -> bool {
        self == wanted || self == Self::SigEnc
    }

    pub fn can_encrypt(self) -> bool {
        self != Self::Sig
    }
}

/// Where a key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The WebAuthn ceremony: a device key of a person or system client.
    Webauthn,
    /// A system client's JWK, registered by an administrator.
    Admin,
    /// An imported X.509 certificate.
    Certificate,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webauthn => "webauthn",
            Self::Admin => "admin",
            Self::Certificate => "certificate",
        }
    }
}

/// A key's state at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not valid yet (`not_before` is later).
    Pending,
    Active,
    Revoked,
    Expired,
    /// Not used for the configured period (device keys only).
    Inactive,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::Inactive => "inactive",
        }
    }
}

/// The times that decide a key's status; the earliest end that has passed wins.
#[derive(Debug, Clone, Copy)]
pub struct Lifetime {
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// When the key stops being active for lack of use, for keys that can lapse.
    pub inactive_from: Option<DateTime<Utc>>,
}

impl Lifetime {
    pub fn status_at(&self, at: DateTime<Utc>) -> Status {
        if at < self.not_before {
            return Status::Pending;
        }
        [
            (self.revoked_at, Status::Revoked),
            (Some(self.not_after), Status::Expired),
            (self.inactive_from, Status::Inactive),
        ]
        .into_iter()
        .filter_map(|(end, status)| end.filter(|end| *end <= at).map(|end| (end, status)))
        .min_by_key(|(end, _)| *end)
        .map_or(Status::Active, |(_, status)| status)
    }
}

/// The keystore's policy, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub max_active: usize,
    pub lifetime: Duration,
    pub inactivity: Duration,
    pub registration_timeout: Duration,
}

impl Policy {
    pub fn from_settings(settings: &crate::config::Settings) -> Self {
        Self {
            max_active: settings.keys.keys_max_active as usize,
            lifetime: Duration::days(i64::from(settings.keys.key_lifetime_days)),
            inactivity: Duration::days(i64::from(settings.keys.key_inactivity_days)),
            registration_timeout: Duration::seconds(i64::from(
                settings.keys.key_registration_timeout_seconds,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(day: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::days(day)
    }

    #[test]
    fn status_follows_the_earliest_end() {
        let life = Lifetime {
            not_before: t(10),
            not_after: t(100),
            revoked_at: Some(t(50)),
            inactive_from: Some(t(40)),
        };
        let cases = [
            (t(9), Status::Pending),
            (t(10), Status::Active),
            (t(39), Status::Active),
            (t(40), Status::Inactive),
            (t(60), Status::Inactive),
            (t(200), Status::Inactive),
        ];
        for (at, expected) in cases {
            assert_eq!(life.status_at(at), expected, "{at}");
        }
        let revoked_first = Lifetime {
            inactive_from: None,
            ..life
        };
        assert_eq!(revoked_first.status_at(t(49)), Status::Active);
        assert_eq!(revoked_first.status_at(t(50)), Status::Revoked);
        assert_eq!(revoked_first.status_at(t(150)), Status::Revoked);
        let unrevoked = Lifetime {
            revoked_at: None,
            inactive_from: None,
            ..life
        };
        assert_eq!(unrevoked.status_at(t(99)), Status::Active);
        assert_eq!(unrevoked.status_at(t(100)), Status::Expired);
    }

    #[test]
    fn uses() {
        for u in [KeyUse::Sig, KeyUse::Enc, KeyUse::SigEnc] {
            assert_eq!(KeyUse::parse(u.as_str()), Some(u));
        }
        assert_eq!(KeyUse::parse("both"), None);
        assert!(KeyUse::SigEnc.serves(KeyUse::Enc));
        assert!(KeyUse::SigEnc.serves(KeyUse::Sig));
        assert!(!KeyUse::Sig.serves(KeyUse::Enc));
        assert!(!KeyUse::Sig.can_encrypt());
    }
}

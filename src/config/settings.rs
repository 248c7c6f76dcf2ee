//! What can be configured, grouped by the context that reads it, with the defaults.
//! The groups are flattened: a setting keeps its flat name in `depot.toml` and in the
//! `DEPOT_*` environment (see the README's table).

use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// SQLite's `synchronous` in WAL mode: `full` syncs every commit (nothing acknowledged
/// is lost on a power cut); `normal` syncs at checkpoints only (faster; the last
/// commits before a power cut may be lost, the file stays consistent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteDurability {
    Full,
    Normal,
}

/// How the depot authenticates to the TSA it asks for timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TsaAuth {
    /// The depot's own client-credentials token (scope `tsa`), from this server.
    Token,
    /// No authentication (an external TSA open to the depot).
    None,
}

/// Whether DPoP proofs must carry a nonce this server issued (RFC 9449 §8, §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DpopNonce {
    /// Proofs carry no nonce; `iat` and the `jti` replay store bound them in time.
    Off,
    /// Every proof must carry a current nonce of this server (`use_dpop_nonce`).
    Required,
}

/// The raw, deserialized configuration (see the README's table), grouped by the context
/// each setting belongs to. A setting keeps its flat name in every layer (`listen` in
/// `depot.toml`, `DEPOT_LISTEN` in the environment): the groups are flattened.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Settings {
    #[serde(flatten)]
    pub service: ServiceSettings,
    #[serde(flatten)]
    pub storage: StorageSettings,
    #[serde(flatten)]
    pub authz: AuthzSettings,
    #[serde(flatten)]
    pub keys: KeysSettings,
    #[serde(flatten)]
    pub tsa: TsaSettings,
    #[serde(flatten)]
    pub symkeys: SymkeysSettings,
    #[serde(flatten)]
    pub depot: DepotSettings,
    #[serde(flatten)]
    pub federation: crate::authz::federation::FederationSettings,
}

/// The process: where it listens, what it calls itself, its files and logs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceSettings {
    pub listen: SocketAddr,
    pub public_url: Option<String>,
    pub data_dir: PathBuf,
    pub master_key_file: Option<PathBuf>,
    pub body_limit_bytes: usize,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    pub log_format: LogFormat,
    pub log: String,
    /// The audit stream's file (JSON lines naming the person); `audit.log` in the data
    /// directory when unset.
    pub audit_log: Option<PathBuf>,
    pub workers: Option<usize>,
    /// Where `/health/*` and `/metrics` are served instead of the public port.
    pub management_listen: Option<SocketAddr>,
    /// Comma-separated CIDRs (or addresses) whose forwarding headers are believed.
    pub trusted_proxies: Option<String>,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            data_dir: PathBuf::from("./data"),
            master_key_file: None,
            body_limit_bytes: 64 * 1024,
            tls_cert_file: None,
            tls_key_file: None,
            log_format: LogFormat::Text,
            log: "info".to_owned(),
            audit_log: None,
            workers: None,
            management_listen: None,
            trusted_proxies: None,
        }
    }
}

/// The database and the broker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StorageSettings {
    #[serde(skip_serializing)]
    pub database_url: Option<SecretString>,
    pub database_url_file: Option<PathBuf>,
    #[serde(skip_serializing)]
    pub amqp_url: Option<SecretString>,
    pub amqp_url_file: Option<PathBuf>,
    pub database_max_connections: u32,
    /// The longest wait between two connection attempts of the outbox relay while the
    /// broker is away (its port is probed meanwhile: a broker back is used at once).
    pub relay_max_backoff_ms: u32,
    /// The share of each relay back-off taken off at random (0 to 1).
    pub relay_backoff_jitter: f64,
    /// How long a request waits for a pooled connection before it is answered 503
    /// (the database is unreachable or saturated).
    pub database_acquire_timeout_ms: u32,
    pub sqlite_synchronous: SqliteDurability,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            database_url: None,
            database_url_file: None,
            amqp_url: None,
            amqp_url_file: None,
            database_max_connections: 16,
            database_acquire_timeout_ms: 1000,
            relay_max_backoff_ms: 5000,
            relay_backoff_jitter: 0.25,
            sqlite_synchronous: SqliteDurability::Full,
        }
    }
}

/// The authorization server: tokens, assertions, sessions, login throttling, the PDP.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthzSettings {
    pub access_token_ttl_seconds: u32,
    pub max_assertion_lifetime_seconds: u32,
    pub clock_leeway_seconds: u32,
    pub signing_key_refresh_seconds: u32,
    /// How many verified access tokens an instance remembers (their signature is not
    /// checked again; revocation, expiry and the client's standing are).
    pub token_cache_entries: u64,
    /// How many clients, and how many (owner, client) key sets, an instance caches;
    /// a change of either anywhere reaches every instance within a quarter second.
    pub registry_cache_entries: u64,
    /// The PDP policy (TOML); the built-in one when unset.
    pub policy_file: Option<PathBuf>,
    pub session_ttl_seconds: u32,
    pub refresh_token_ttl_seconds: u32,
    pub login_max_failures_per_account: u32,
    pub login_max_failures_per_address: u32,
    /// How long an account or address stays blocked, and the window failures count in.
    pub login_lockout_seconds: u32,
    /// Password checks (Argon2id, 19 MiB each) running at once; as many more wait, and
    /// a login past those is answered 503 with `Retry-After`.
    pub login_max_concurrent_hashes: u32,
    /// `required`: DPoP proofs must carry a server nonce (RFC 9449 §8).
    pub dpop_nonce: DpopNonce,
    /// How long a SAML assertion of the token exchange is valid (its `NotOnOrAfter`).
    pub saml_ttl_seconds: u32,
}

impl Default for AuthzSettings {
    fn default() -> Self {
        Self {
            access_token_ttl_seconds: 300,
            max_assertion_lifetime_seconds: 300,
            clock_leeway_seconds: 10,
            signing_key_refresh_seconds: 10,
            token_cache_entries: 16_384,
            registry_cache_entries: 16_384,
            policy_file: None,
            session_ttl_seconds: 8 * 3600,
            refresh_token_ttl_seconds: 30 * 24 * 3600,
            login_max_failures_per_account: 5,
            login_max_failures_per_address: 50,
            login_lockout_seconds: 15 * 60,
            login_max_concurrent_hashes: 8,
            dpop_nonce: DpopNonce::Off,
            saml_ttl_seconds: 3600,
        }
    }
}

/// The keystore: the WebAuthn relying party and the keys' lifetimes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeysSettings {
    pub webauthn_rp_id: Option<String>,
    pub webauthn_origins: Option<String>,
    pub webauthn_trust_roots: Option<PathBuf>,
    /// Active keys a person may hold per client; the next registration is refused.
    pub keys_max_active: u32,
    /// How long a registered key is valid (its `not_after`).
    pub key_lifetime_days: u32,
    /// A key not used (listed in an access token) for this long becomes inactive.
    pub key_inactivity_days: u32,
    /// How long a registration challenge can be answered.
    pub key_registration_timeout_seconds: u32,
    /// PEM file of the CAs that certificate-backed keys (eHealth certificates, ETKs)
    /// must chain to; none: certificate imports are refused.
    pub certificate_trust_roots: Option<PathBuf>,
}

impl Default for KeysSettings {
    fn default() -> Self {
        Self {
            webauthn_rp_id: None,
            webauthn_origins: None,
            webauthn_trust_roots: None,
            keys_max_active: 3,
            key_lifetime_days: 365,
            key_inactivity_days: 180,
            key_registration_timeout_seconds: 300,
            certificate_trust_roots: None,
        }
    }
}

/// The co-hosted time-stamp authority, and the TSA the depot asks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TsaSettings {
    /// The policy OID of the co-hosted TSA's timestamps.
    pub tsa_policy: String,
    /// The accuracy the co-hosted TSA states for `genTime`, in milliseconds (0: none
    /// stated). `genTime` itself has milliseconds.
    pub tsa_accuracy_millis: u32,
    /// The co-hosted TSA's certificate chain (PEM, TSA certificate first) and key;
    /// none: generated at first start.
    pub tsa_cert_file: Option<PathBuf>,
    pub tsa_key_file: Option<PathBuf>,
    /// The TSA the depot asks for timestamps; none: the co-hosted one.
    pub tsa_url: Option<String>,
    pub tsa_auth: TsaAuth,
    /// PEM file of the roots a TSA reply must chain to; none: the co-hosted TSA's root.
    pub tsa_trust_anchors: Option<PathBuf>,
    /// Per attempt; a failed attempt is retried `tsa_retries` times.
    pub tsa_timeout_seconds: u32,
    pub tsa_retries: u32,
}

impl Default for TsaSettings {
    fn default() -> Self {
        Self {
            tsa_policy: "1.2.3.4.1".to_owned(),
            tsa_accuracy_millis: 1,
            tsa_cert_file: None,
            tsa_key_file: None,
            tsa_url: None,
            tsa_auth: TsaAuth::Token,
            tsa_trust_anchors: None,
            tsa_timeout_seconds: 5,
            tsa_retries: 2,
        }
    }
}

/// The symmetric-key service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SymkeysSettings {
    /// The longest lifetime a symmetric key may be given (`ttlSeconds`).
    pub symkey_max_ttl_seconds: u32,
}

impl Default for SymkeysSettings {
    fn default() -> Self {
        Self {
            symkey_max_ttl_seconds: 366 * 24 * 3600,
        }
    }
}

/// The depot: messages and boxes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DepotSettings {
    /// The largest `POST /depot/messages` body (413 above).
    pub message_max_bytes: usize,
    /// Memory the bodies of `POST /depot/messages` may hold at once, from the first
    /// byte read until the message is stored: further bodies wait for room (503 with
    /// `Retry-After` after 30 s). A body bigger than this still passes, alone.
    pub bodies_in_flight_bytes: u64,
    /// How long a message is kept when the sender names no `expiresAt`.
    pub message_retention_days: u32,
    /// The latest `expiresAt` a sender may ask for, in days from reception.
    pub message_max_retention_days: u32,
    /// What one box may hold (sum of the sealed messages' sizes).
    pub box_quota_bytes: u64,
    /// How many messages one box may hold (however small they are).
    pub box_quota_messages: u64,
    /// Messages a sender (person or client) may post per minute on one instance; 0 is
    /// no limit. Past it, 429 with `Retry-After`.
    pub sender_rate_per_minute: u32,
    /// How many messages a sender may post at once before the rate applies.
    pub sender_burst: u32,
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_hours: u32,
}

impl Default for DepotSettings {
    fn default() -> Self {
        Self {
            message_max_bytes: 20 * 1024 * 1024,
            bodies_in_flight_bytes: 8 * 1024 * 1024,
            message_retention_days: 365,
            message_max_retention_days: 365,
            box_quota_bytes: 1024 * 1024 * 1024,
            box_quota_messages: 100_000,
            sender_rate_per_minute: 0,
            sender_burst: 100,
            idempotency_hours: 24,
        }
    }
}

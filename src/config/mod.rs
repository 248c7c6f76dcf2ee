//! Layered configuration: built-in defaults → `depot.toml` (or `DEPOT_CONFIG`) →
//! `DEPOT_*` environment variables, plus the conventional `DATABASE_URL` and
//! `AMQP_URL`. Secrets may be given as `*_FILE` paths; they are wrapped so that they
//! never print.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Every key the configuration understands, read off `Settings` itself (a new setting
/// is known the moment it exists), in the upper case of its `DEPOT_` variable; plus
/// `CONFIG` (the file's path) and the two secrets, which never serialize.
fn known_keys() -> Vec<String> {
    let mut keys: Vec<String> = match serde_json::to_value(Settings::default()) {
        Ok(serde_json::Value::Object(fields)) => {
            fields.keys().map(|k| k.to_ascii_uppercase()).collect()
        }
        _ => Vec::new(),
    };
    keys.extend(["CONFIG", "DATABASE_URL", "AMQP_URL"].map(String::from));
    keys
}

/// The variables of the `depot client` commands (API.md "Running"): not the service's
/// configuration, and not unknown either.
const CLIENT_KEYS: &[&str] = &["SERVER", "CLIENT_HOME"];

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
    pub workers: Option<usize>,
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
            workers: None,
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
    /// The PDP policy (TOML); the built-in one when unset.
    pub policy_file: Option<PathBuf>,
    pub session_ttl_seconds: u32,
    pub refresh_token_ttl_seconds: u32,
    pub login_max_failures_per_account: u32,
    pub login_max_failures_per_address: u32,
    /// How long an account or address stays blocked, and the window failures count in.
    pub login_lockout_seconds: u32,
}

impl Default for AuthzSettings {
    fn default() -> Self {
        Self {
            access_token_ttl_seconds: 300,
            max_assertion_lifetime_seconds: 300,
            clock_leeway_seconds: 10,
            signing_key_refresh_seconds: 10,
            policy_file: None,
            session_ttl_seconds: 8 * 3600,
            refresh_token_ttl_seconds: 30 * 24 * 3600,
            login_max_failures_per_account: 5,
            login_max_failures_per_address: 50,
            login_lockout_seconds: 15 * 60,
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
    /// How long a message is kept when the sender names no `expiresAt`.
    pub message_retention_days: u32,
    /// The latest `expiresAt` a sender may ask for, in days from reception.
    pub message_max_retention_days: u32,
    /// What one box may hold (sum of the sealed messages' sizes).
    pub box_quota_bytes: u64,
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_hours: u32,
}

impl Default for DepotSettings {
    fn default() -> Self {
        Self {
            message_max_bytes: 20 * 1024 * 1024,
            message_retention_days: 365,
            message_max_retention_days: 365,
            box_quota_bytes: 1024 * 1024 * 1024,
            idempotency_hours: 24,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("configuration: {0}")]
    Figment(#[from] Box<figment::Error>),
    #[error("configuration: cannot read {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The checked configuration the service runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    /// The issuer: every absolute URL is built from it (no trailing slash).
    pub issuer: String,
    pub database_url: SecretString,
    pub amqp_url: Option<SecretString>,
    pub master_key_file: PathBuf,
}

impl Config {
    /// Reads defaults → TOML file → environment, as `depot serve` does.
    pub fn load() -> Result<Self, ConfigError> {
        let file = std::env::var_os("DEPOT_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("depot.toml"));
        let known = known_keys();
        let figment = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::file(&file))
            // Only the settings: any other DEPOT_ variable (a typo, or one of the
            // `depot client` commands') is reported below, never a failure.
            .merge(
                Env::prefixed("DEPOT_")
                    .ignore(&["CONFIG"])
                    .only(&known.iter().map(String::as_str).collect::<Vec<_>>()),
            )
            .merge(Env::raw().only(&["DATABASE_URL", "AMQP_URL"]));
        for unknown in unknown_variables(std::env::vars().map(|(k, _)| k)) {
            tracing::warn!(variable = %unknown, "unknown DEPOT_ configuration variable ignored");
        }
        // The groups are flattened, which serde cannot combine with refusing unknown
        // fields: the file's keys are checked against the known ones here instead.
        if let Ok(text) = std::fs::read_to_string(&file)
            && let Some(unknown) = unknown_file_keys(&text).first()
        {
            return Err(ConfigError::Invalid(format!(
                "{}: unknown key {unknown:?}",
                file.display()
            )));
        }
        let settings: Settings = figment.extract().map_err(Box::new)?;
        Self::from_settings(settings)
    }

    /// Checks and completes raw settings (used by `load` and by tests).
    pub fn from_settings(settings: Settings) -> Result<Self, ConfigError> {
        let issuer = match &settings.service.public_url {
            Some(url) => {
                let parsed = url::Url::parse(url).map_err(|e| {
                    ConfigError::Invalid(format!("DEPOT_PUBLIC_URL {url:?} is not a URL: {e}"))
                })?;
                if !matches!(parsed.scheme(), "http" | "https")
                    || parsed.query().is_some()
                    || parsed.fragment().is_some()
                {
                    return Err(ConfigError::Invalid(format!(
                        "DEPOT_PUBLIC_URL {url:?} must be an http(s) URL without query or fragment"
                    )));
                }
                url.trim_end_matches('/').to_owned()
            }
            None => {
                let scheme = if settings.service.tls_cert_file.is_some() {
                    "https"
                } else {
                    "http"
                };
                format!("{scheme}://localhost:{}", settings.service.listen.port())
            }
        };
        let database_url = match secret_or_file(
            settings.storage.database_url.clone(),
            settings.storage.database_url_file.as_deref(),
        )? {
            Some(url) => url,
            None => {
                let path = settings.service.data_dir.join("depot.sqlite");
                SecretString::from(format!("sqlite://{}?mode=rwc", path.display()))
            }
        };
        let amqp_url = secret_or_file(
            settings.storage.amqp_url.clone(),
            settings.storage.amqp_url_file.as_deref(),
        )?;
        let master_key_file = settings
            .service
            .master_key_file
            .clone()
            .unwrap_or_else(|| settings.service.data_dir.join("master.key"));
        if settings.authz.access_token_ttl_seconds == 0
            || settings.authz.access_token_ttl_seconds > 3600
        {
            return Err(ConfigError::Invalid(
                "DEPOT_ACCESS_TOKEN_TTL_SECONDS must be between 1 and 3600".into(),
            ));
        }
        if settings.keys.keys_max_active == 0
            || settings.keys.key_lifetime_days == 0
            || settings.keys.key_inactivity_days == 0
            || !(10..=3600).contains(&settings.keys.key_registration_timeout_seconds)
        {
            return Err(ConfigError::Invalid(
                "DEPOT_KEYS_MAX_ACTIVE, DEPOT_KEY_LIFETIME_DAYS and DEPOT_KEY_INACTIVITY_DAYS must be positive, DEPOT_KEY_REGISTRATION_TIMEOUT_SECONDS between 10 and 3600".into(),
            ));
        }
        if settings.tsa.tsa_timeout_seconds == 0 || settings.tsa.tsa_retries > 10 {
            return Err(ConfigError::Invalid(
                "DEPOT_TSA_TIMEOUT_SECONDS must be positive and DEPOT_TSA_RETRIES at most 10"
                    .into(),
            ));
        }
        if settings.depot.message_retention_days == 0
            || settings.depot.message_retention_days > settings.depot.message_max_retention_days
            || settings.depot.idempotency_hours < 24
            || settings.depot.message_max_bytes < 1024
        {
            return Err(ConfigError::Invalid(
                "DEPOT_MESSAGE_RETENTION_DAYS must be from 1 to DEPOT_MESSAGE_MAX_RETENTION_DAYS, DEPOT_IDEMPOTENCY_HOURS at least 24 and DEPOT_MESSAGE_MAX_BYTES at least 1024".into(),
            ));
        }
        if settings.symkeys.symkey_max_ttl_seconds == 0 {
            return Err(ConfigError::Invalid(
                "DEPOT_SYMKEY_MAX_TTL_SECONDS must be positive".into(),
            ));
        }
        if settings.tsa.tsa_url.is_some() && settings.tsa.tsa_trust_anchors.is_none() {
            return Err(ConfigError::Invalid(
                "DEPOT_TSA_URL names another TSA: DEPOT_TSA_TRUST_ANCHORS must say which roots its replies chain to".into(),
            ));
        }
        if settings.service.tls_cert_file.is_some() != settings.service.tls_key_file.is_some() {
            return Err(ConfigError::Invalid(
                "DEPOT_TLS_CERT_FILE and DEPOT_TLS_KEY_FILE go together".into(),
            ));
        }
        Ok(Self {
            settings,
            issuer,
            database_url,
            amqp_url,
            master_key_file,
        })
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.expose_secret().starts_with("sqlite:")
    }

    /// An absolute URL under the issuer.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }
}

fn secret_or_file(
    value: Option<SecretString>,
    file: Option<&Path>,
) -> Result<Option<SecretString>, ConfigError> {
    match (value, file) {
        (Some(v), _) => Ok(Some(v)),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(|s| Some(SecretString::from(s.trim().to_owned())))
            .map_err(|source| ConfigError::File {
                path: path.to_owned(),
                source,
            }),
        (None, None) => Ok(None),
    }
}

/// The top-level keys of a TOML configuration that are no setting (none when the text
/// does not parse: figment reports that).
fn unknown_file_keys(text: &str) -> Vec<String> {
    let known = known_keys();
    text.parse::<toml::Table>()
        .map(|table| {
            table
                .keys()
                .filter(|key| {
                    !known.iter().any(|k| k.eq_ignore_ascii_case(key)) || *key == "config"
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

fn unknown_variables(names: impl Iterator<Item = String>) -> Vec<String> {
    let known = known_keys();
    names
        .filter_map(|name| {
            let key = name.strip_prefix("DEPOT_")?;
            (!known.iter().any(|k| k == key) && !CLIENT_KEYS.contains(&key)).then_some(name)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_defaults_to_localhost_and_listen_port() {
        let config = Config::from_settings(Settings::default()).unwrap();
        assert_eq!(config.issuer, "http://localhost:8080");
        assert!(config.is_sqlite());
    }

    #[test]
    fn public_url_loses_trailing_slash_and_rejects_queries() {
        let mut settings = Settings::default();
        settings.service.public_url = Some("https://depot.example/".into());
        assert_eq!(
            Config::from_settings(settings).unwrap().issuer,
            "https://depot.example"
        );
        let mut settings = Settings::default();
        settings.service.public_url = Some("https://depot.example/?x=1".into());
        assert!(Config::from_settings(settings).is_err());
    }

    #[test]
    fn every_setting_is_a_known_key() {
        let known = known_keys();
        for key in [
            "LISTEN",
            "DATABASE_URL",
            "AMQP_URL",
            "DATABASE_URL_FILE",
            "TSA_ACCURACY_MILLIS",
            "IDEMPOTENCY_HOURS",
            "CONFIG",
        ] {
            assert!(known.iter().any(|k| k == key), "{key} in {known:?}");
        }
        // One per serialized field of Settings, plus CONFIG and the two secrets.
        let fields = serde_json::to_value(Settings::default())
            .unwrap()
            .as_object()
            .unwrap()
            .len();
        assert_eq!(known.len(), fields + 3);
    }

    #[test]
    fn unknown_file_keys_are_found() {
        let text = "listen = \"127.0.0.1:9000\"\ntsa_accuracy_millis = 5\nlisten_port = 1\n";
        assert_eq!(unknown_file_keys(text), vec!["listen_port"]);
        assert!(unknown_file_keys("not toml [").is_empty());
    }

    #[test]
    fn grouped_settings_read_flat_keys() {
        let figment = Figment::from(Serialized::defaults(Settings::default())).merge(Toml::string(
            "tsa_accuracy_millis = 7\nlisten = \"127.0.0.1:9000\"",
        ));
        let settings: Settings = figment.extract().unwrap();
        assert_eq!(settings.tsa.tsa_accuracy_millis, 7);
        assert_eq!(settings.service.listen.port(), 9000);
        assert_eq!(settings.depot.idempotency_hours, 24);
    }

    #[test]
    fn unknown_depot_variables_are_reported() {
        let names = [
            "DEPOT_LISTEN",
            "DEPOT_LISTN",
            "PATH",
            "DEPOT_SERVER",
            "DEPOT_CLIENT_HOME",
        ]
        .map(String::from);
        assert_eq!(unknown_variables(names.into_iter()), vec!["DEPOT_LISTN"]);
    }
}

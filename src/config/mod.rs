//! Layered configuration: built-in defaults → `depot.toml` (or `depot serve --config
//! FILE`, or `DEPOT_CONFIG`) → `DEPOT_*` environment variables, plus the conventional
//! `DATABASE_URL` and `AMQP_URL`. The `depot client` commands' variables
//! (`DEPOT_SERVER`, `DEPOT_CLIENT_HOME`) are not settings: they never reach the
//! settings' parser. An unknown variable or file key is a warning, never fatal.
//! Secrets may be given as `*_FILE` paths; they are wrapped so that they never print.

use std::path::{Path, PathBuf};

mod settings;

pub use settings::{
    AuthzSettings, DepotSettings, DpopNonce, KeysSettings, LogFormat, ServiceSettings, Settings,
    SqliteDurability, StorageSettings, SymkeysSettings, TsaAuth, TsaSettings,
};

use crate::ops::forwarded::TrustedProxies;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};

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
    keys.extend(
        [
            "CONFIG",
            "DATABASE_URL",
            "AMQP_URL",
            "FEDERATION_CLIENT_SECRET",
        ]
        .map(String::from),
    );
    keys
}

/// The variables of the `depot client` commands (API.md "Running"): not the service's
/// configuration, and not unknown either.
const CLIENT_KEYS: &[&str] = &["SERVER", "CLIENT_HOME"];

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
    /// The proxies whose forwarding headers are believed (`DEPOT_TRUSTED_PROXIES`).
    pub trusted_proxies: TrustedProxies,
    /// The upstream OpenID Provider logins can be delegated to (`DEPOT_FEDERATION_*`).
    pub federation: Option<crate::authz::federation::Federation>,
}

impl Config {
    /// Reads defaults → TOML file → environment, as `depot serve` does. The file is
    /// `file` when given (`depot serve --config`), else `DEPOT_CONFIG`, else
    /// `depot.toml` in the working directory. Unknown `DEPOT_*` variables and unknown
    /// keys in the file are never fatal: they come back as warnings, for the caller to
    /// log once logging has started.
    pub fn load(file: Option<&Path>) -> Result<(Self, Vec<String>), ConfigError> {
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("DEPOT_CONFIG").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("depot.toml"));
        let known = known_keys();
        let figment = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::file(&file))
            // Only the settings: any other DEPOT_ variable (a typo, or one of the
            // `depot client` commands') never reaches the settings' parser.
            .merge(
                Env::prefixed("DEPOT_")
                    .ignore(&["CONFIG"])
                    .only(&known.iter().map(String::as_str).collect::<Vec<_>>()),
            )
            .merge(Env::raw().only(&["DATABASE_URL", "AMQP_URL"]));
        let mut warnings: Vec<String> = unknown_variables(std::env::vars().map(|(k, _)| k))
            .into_iter()
            .map(|name| {
                let key = name.trim_start_matches("DEPOT_");
                match closest_key(key) {
                    Some(k) => format!("unknown setting {name}: did you mean DEPOT_{k}?"),
                    None => format!("unknown setting {name}: ignored"),
                }
            })
            .collect();
        // The groups are flattened, which serde cannot combine with refusing unknown
        // fields: the file's keys are checked against the known ones here instead, and
        // like a variable an unknown key is a warning (figment ignores it).
        if let Ok(text) = std::fs::read_to_string(&file) {
            warnings.extend(unknown_file_keys(&text).into_iter().map(|key| {
                let file = file.display();
                match closest_key(&key) {
                    Some(k) => format!(
                        "{file}: unknown key {key:?}: did you mean {:?}?",
                        k.to_ascii_lowercase()
                    ),
                    None => format!("{file}: unknown key {key:?}: ignored"),
                }
            }));
        }
        let settings: Settings = figment.extract().map_err(Box::new)?;
        Ok((Self::from_settings(settings)?, warnings))
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
        // A SOAP session rarely outlives a working day; an assertion cannot be revoked.
        if !(60..=86_400).contains(&settings.authz.saml_ttl_seconds) {
            return Err(ConfigError::Invalid(
                "DEPOT_SAML_TTL_SECONDS must be between 60 and 86400".into(),
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
        if settings.depot.bodies_in_flight_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "DEPOT_BODIES_IN_FLIGHT_BYTES must be at least 1024".into(),
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
        let trusted_proxies = TrustedProxies::parse(
            settings
                .service
                .trusted_proxies
                .as_deref()
                .unwrap_or_default(),
        )
        .map_err(|e| ConfigError::Invalid(format!("DEPOT_TRUSTED_PROXIES: {e}")))?;
        if settings.service.management_listen == Some(settings.service.listen)
            && settings.service.listen.port() != 0
        {
            return Err(ConfigError::Invalid(
                "DEPOT_MANAGEMENT_LISTEN must differ from DEPOT_LISTEN".into(),
            ));
        }
        let raw = &settings.federation;
        let federation = crate::authz::federation::Federation::from_settings(
            raw,
            secret_or_file(
                raw.federation_client_secret.clone(),
                raw.federation_client_secret_file.as_deref(),
            )?,
        )
        .map_err(ConfigError::Invalid)?;
        Ok(Self {
            federation,
            settings,
            issuer,
            database_url,
            amqp_url,
            master_key_file,
            trusted_proxies,
        })
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.expose_secret().starts_with("sqlite:")
    }

    /// The SQLite database file, when the database is one (not `:memory:`).
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        let url = self.database_url.expose_secret();
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or_default();
        (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(path))
    }

    /// Where the audit stream goes (`ops::audit`).
    pub fn audit_log_file(&self) -> PathBuf {
        let service = &self.settings.service;
        service
            .audit_log
            .clone()
            .unwrap_or_else(|| service.data_dir.join("audit.log"))
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

/// The known key (upper case, without `DEPOT_`) nearest to `key`, when it is near
/// enough to be a typo of it: at most a third of its letters off (and at least one).
fn closest_key(key: &str) -> Option<String> {
    let key = key.to_ascii_uppercase();
    known_keys()
        .into_iter()
        .filter(|k| k != "CONFIG")
        .map(|k| (strsim::levenshtein(&key, &k), k))
        .min_by_key(|(distance, _)| *distance)
        .filter(|(distance, _)| *distance <= (key.len() / 3).max(1))
        .map(|(_, k)| k)
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
        // One per serialized field of Settings, plus CONFIG and the three secrets.
        let fields = serde_json::to_value(Settings::default())
            .unwrap()
            .as_object()
            .unwrap()
            .len();
        assert_eq!(known.len(), fields + 4);
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

    #[test]
    fn a_typo_names_the_nearest_key() {
        assert_eq!(closest_key("LISTN").as_deref(), Some("LISTEN"));
        assert_eq!(closest_key("tsa_retry").as_deref(), Some("TSA_RETRIES"));
        assert_eq!(closest_key("FOOBARBAZ"), None);
    }

    /// `depot.example.toml` names every setting, nothing else, with its true default:
    /// uncommented, it deserializes into `Settings`, no key of it is unknown, every key
    /// of `Settings` is in it, and every value whose default is not "none" is that
    /// default.
    #[test]
    fn the_example_file_names_every_setting_and_its_default() {
        let text = include_str!("../../depot.example.toml");
        let uncommented: String = text
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix("# ")?;
                let (key, _) = rest.split_once(" = ")?;
                key.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_')
                    .then(|| format!("{rest}\n"))
            })
            .collect();
        let table: toml::Table = uncommented.parse().unwrap();
        assert!(
            unknown_file_keys(&uncommented).is_empty(),
            "{:?}",
            unknown_file_keys(&uncommented)
        );
        let settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::string(&uncommented))
            .extract()
            .unwrap();
        Config::from_settings(settings).unwrap();
        let mut missing: Vec<String> = known_keys()
            .into_iter()
            .map(|k| k.to_ascii_lowercase())
            .filter(|k| k != "config" && !table.contains_key(k))
            .collect();
        missing.sort();
        assert!(missing.is_empty(), "not in depot.example.toml: {missing:?}");
        let defaults = serde_json::to_value(Settings::default()).unwrap();
        for (key, default) in defaults.as_object().unwrap() {
            if default.is_null() {
                continue;
            }
            let example = serde_json::to_value(&table[key]).unwrap();
            assert_eq!(&example, default, "the default of {key}");
        }
    }
}

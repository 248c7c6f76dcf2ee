//! The upstream OpenID Provider the built-in identity provider can delegate a login to
//! (the seed's IDP → FAS chain): what an operator writes (`federation_*` in
//! `depot.toml`, `DEPOT_FEDERATION_*` in the environment) and its checked form.
//!
//! The `acr` table maps the upstream's `acr` values to the eIDAS levels of this service
//! (API.md: `http://eidas.europa.eu/LoA/low|substantial|high`). A value that is not in
//! the table is refused: an unknown level of assurance is never guessed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::authz::scope::Acr;

/// How the depot authenticates at the upstream token endpoint (OIDC Core §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// HTTP Basic with the client id and secret (the OIDC default).
    ClientSecretBasic,
    /// The client id and secret as form parameters of the token request.
    ClientSecretPost,
    /// A JWT assertion (RFC 7523) signed with the depot's own signing key, whose public
    /// half the upstream reads at `{issuer}/oauth2/jwks`; no shared secret.
    PrivateKeyJwt,
}

/// The `acr` table as written: a TOML table (`{"urn:x:loa2" = "substantial"}`) or, in
/// an environment variable, `upstream=level` pairs separated by commas or spaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AcrTable {
    Table(BTreeMap<String, String>),
    Text(String),
}

/// The raw `federation_*` settings (flattened into the service's settings).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FederationSettings {
    /// The upstream issuer; federation is off when unset. Its
    /// `/.well-known/openid-configuration` names the endpoints and the JWK Set.
    pub federation_issuer: Option<String>,
    pub federation_client_id: Option<String>,
    #[serde(skip_serializing)]
    pub federation_client_secret: Option<SecretString>,
    pub federation_client_secret_file: Option<PathBuf>,
    pub federation_client_auth: ClientAuth,
    /// The scopes asked upstream (`openid` is always added).
    pub federation_scopes: String,
    /// The name on the login page's button ("Sign in with …"); the issuer's host when unset.
    pub federation_name: Option<String>,
    /// The claim (of the ID token, else of the UserInfo answer) that holds the SSIN.
    pub federation_ssin_claim: Option<String>,
    /// A claim naming the profiles this login may use (form values such as `citizen`,
    /// `professional:<nihii>`, or a bare kind such as `professional`); unset: all of
    /// the person's profiles in the authentic source.
    pub federation_profiles_claim: Option<String>,
    pub federation_acr_map: Option<AcrTable>,
}

impl Default for FederationSettings {
    fn default() -> Self {
        Self {
            federation_issuer: None,
            federation_client_id: None,
            federation_client_secret: None,
            federation_client_secret_file: None,
            federation_client_auth: ClientAuth::ClientSecretBasic,
            federation_scopes: "openid".to_owned(),
            federation_name: None,
            federation_ssin_claim: None,
            federation_profiles_claim: None,
            federation_acr_map: None,
        }
    }
}

/// The checked upstream configuration.
#[derive(Debug, Clone)]
pub struct Federation {
    /// Exactly as the upstream names itself (its ID tokens' `iss`).
    pub issuer: String,
    pub client_id: String,
    /// Required for `client_secret_*`; unused with `private_key_jwt`.
    pub client_secret: Option<SecretString>,
    pub client_auth: ClientAuth,
    /// Without `openid`, which is always asked.
    pub scopes: Vec<String>,
    pub name: String,
    pub ssin_claim: String,
    pub profiles_claim: Option<String>,
    pub acr_map: BTreeMap<String, Acr>,
}

impl Federation {
    /// The eIDAS level an upstream `acr` stands for; `None` when the table has no row.
    pub fn level(&self, upstream_acr: &str) -> Option<Acr> {
        self.acr_map.get(upstream_acr).copied()
    }

    /// The upstream `acr` values that reach at least `level`, for `acr_values`.
    pub fn values_at_least(&self, level: Acr) -> Vec<&str> {
        self.acr_map
            .iter()
            .filter(|(_, l)| **l >= level)
            .map(|(v, _)| v.as_str())
            .collect()
    }

    /// Checks the raw settings; `Ok(None)` when federation is off. `secret` is the
    /// client secret read from `federation_client_secret(_file)`.
    pub fn from_settings(
        raw: &FederationSettings,
        secret: Option<SecretString>,
    ) -> Result<Option<Self>, String> {
        let Some(issuer) = raw.federation_issuer.as_deref() else {
            return Ok(None);
        };
        let url = url::Url::parse(issuer)
            .map_err(|e| format!("DEPOT_FEDERATION_ISSUER {issuer:?} is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https")
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(format!(
                "DEPOT_FEDERATION_ISSUER {issuer:?} must be an http(s) URL without query or fragment"
            ));
        }
        let required = |value: &Option<String>, name: &str| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| format!("DEPOT_FEDERATION_ISSUER is set: {name} is required"))
        };
        let client_id = required(&raw.federation_client_id, "DEPOT_FEDERATION_CLIENT_ID")?;
        let ssin_claim = required(&raw.federation_ssin_claim, "DEPOT_FEDERATION_SSIN_CLAIM")?;
        if secret.is_none() && raw.federation_client_auth != ClientAuth::PrivateKeyJwt {
            return Err("DEPOT_FEDERATION_ISSUER is set: DEPOT_FEDERATION_CLIENT_SECRET (or _FILE) is required, unless DEPOT_FEDERATION_CLIENT_AUTH is private_key_jwt".to_owned());
        }
        let client_secret = secret;
        let table = raw.federation_acr_map.as_ref().ok_or_else(|| {
            "DEPOT_FEDERATION_ISSUER is set: DEPOT_FEDERATION_ACR_MAP is required (upstream acr → low, substantial or high)".to_owned()
        })?;
        let acr_map = parse_acr_table(table)?;
        let scopes = raw
            .federation_scopes
            .split_whitespace()
            .filter(|s| *s != "openid")
            .map(str::to_owned)
            .collect();
        let name = raw
            .federation_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| url.host_str().unwrap_or(issuer).to_owned());
        Ok(Some(Self {
            issuer: issuer.to_owned(),
            client_id,
            client_secret,
            client_auth: raw.federation_client_auth,
            scopes,
            name,
            ssin_claim,
            profiles_claim: raw
                .federation_profiles_claim
                .clone()
                .filter(|c| !c.trim().is_empty()),
            acr_map,
        }))
    }
}

/// A level as written in the table: `low`, `substantial`, `high` or the eIDAS URI.
fn level_of(text: &str) -> Option<Acr> {
    let text = text.trim();
    Acr::parse(text).or_else(|| {
        Acr::ALL
            .into_iter()
            .find(|a| a.as_str().ends_with(&format!("/{text}")))
    })
}

pub fn parse_acr_table(table: &AcrTable) -> Result<BTreeMap<String, Acr>, String> {
    let rows: Vec<(String, String)> = match table {
        AcrTable::Table(rows) => rows.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        AcrTable::Text(text) => text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                // The level is the last `=`'s right: an acr URI may hold `=` itself.
                pair.rsplit_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .ok_or_else(|| {
                        format!("DEPOT_FEDERATION_ACR_MAP: {pair:?} is not upstream=level")
                    })
            })
            .collect::<Result<_, _>>()?,
    };
    let mut map = BTreeMap::new();
    for (upstream, level) in rows {
        let upstream = upstream.trim();
        if upstream.is_empty() {
            return Err("DEPOT_FEDERATION_ACR_MAP: an empty upstream acr".into());
        }
        let level = level_of(&level).ok_or_else(|| {
            format!(
                "DEPOT_FEDERATION_ACR_MAP: {level:?} (for {upstream:?}) is not low, substantial or high"
            )
        })?;
        map.insert(upstream.to_owned(), level);
    }
    if map.is_empty() {
        return Err("DEPOT_FEDERATION_ACR_MAP is empty: every login would be refused".into());
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> FederationSettings {
        FederationSettings {
            federation_issuer: Some("https://idp.example".into()),
            federation_client_id: Some("depot".into()),
            federation_ssin_claim: Some("national_number".into()),
            federation_acr_map: Some(AcrTable::Text(
                "urn:idp:loa:1=low, urn:idp:loa:2=substantial https://x.example/?a=b=high".into(),
            )),
            ..FederationSettings::default()
        }
    }

    fn secret() -> Option<SecretString> {
        Some(SecretString::from("s3cret"))
    }

    #[test]
    fn off_without_an_issuer() {
        let off = FederationSettings::default();
        assert!(Federation::from_settings(&off, None).unwrap().is_none());
    }

    #[test]
    fn the_acr_table_reads_text_and_tables() {
        let f = Federation::from_settings(&raw(), secret())
            .unwrap()
            .unwrap();
        assert_eq!(f.level("urn:idp:loa:1"), Some(Acr::Low));
        assert_eq!(f.level("urn:idp:loa:2"), Some(Acr::Substantial));
        assert_eq!(f.level("https://x.example/?a=b"), Some(Acr::High));
        assert_eq!(f.level("urn:idp:loa:3"), None);
        assert_eq!(
            f.values_at_least(Acr::Substantial),
            vec!["https://x.example/?a=b", "urn:idp:loa:2"]
        );
        assert_eq!(f.name, "idp.example");
        assert!(f.scopes.is_empty());
        let table = AcrTable::Table(BTreeMap::from([(
            "a".to_owned(),
            "http://eidas.europa.eu/LoA/high".to_owned(),
        )]));
        assert_eq!(parse_acr_table(&table).unwrap()["a"], Acr::High);
    }

    #[test]
    fn incomplete_settings_are_refused() {
        for change in [
            (|r: &mut FederationSettings| r.federation_client_id = None) as fn(&mut _),
            |r| r.federation_ssin_claim = None,
            |r| r.federation_acr_map = None,
            |r| r.federation_acr_map = Some(AcrTable::Text("a=medium".into())),
            |r| r.federation_acr_map = Some(AcrTable::Text("nolevel".into())),
            |r| r.federation_acr_map = Some(AcrTable::Text(" ".into())),
            |r| r.federation_issuer = Some("ftp://idp.example".into()),
            |r| r.federation_issuer = Some("https://idp.example/?x=1".into()),
        ] {
            let mut r = raw();
            change(&mut r);
            assert!(Federation::from_settings(&r, secret()).is_err());
        }
        assert!(Federation::from_settings(&raw(), None).is_err());
        let mut signed = raw();
        signed.federation_client_auth = ClientAuth::PrivateKeyJwt;
        assert!(Federation::from_settings(&signed, None).unwrap().is_some());
    }
}

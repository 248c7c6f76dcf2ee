//! From the verified claims of an upstream login to this service's identity: the SSIN
//! (checked as one: `people::Ssin`), the eIDAS level (`acr` through the configured
//! table, refused when absent or unmapped) and, when a profiles claim is configured,
//! which of the person's profiles (from the authentic source, never from upstream) the
//! login may use. Pure functions; the person's existence is checked by the caller.

use serde_json::{Map, Value};

use super::config::Federation;
use super::error::FederationError;
use crate::authz::scope::Acr;
use crate::people::{Profile, Ssin};

/// What an upstream login stands for here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedLogin {
    pub ssin: Ssin,
    pub acr: Acr,
    /// The values of the profiles claim; `None` when no profiles claim is configured.
    pub profiles: Option<Vec<String>>,
}

/// Maps the claims (the ID token's, completed by UserInfo's) of an upstream login.
pub fn map_claims(
    federation: &Federation,
    claims: &Map<String, Value>,
) -> Result<MappedLogin, FederationError> {
    let acr = match claims.get("acr") {
        Some(Value::String(acr)) => federation
            .level(acr)
            .ok_or_else(|| FederationError::AcrUnmapped(acr.clone()))?,
        _ => return Err(FederationError::AcrMissing),
    };
    let ssin = match claims.get(&federation.ssin_claim) {
        Some(Value::String(text)) => {
            Ssin::parse(text).map_err(|_| FederationError::SsinMalformed)?
        }
        Some(_) => return Err(FederationError::SsinMalformed),
        None => return Err(FederationError::SsinMissing),
    };
    let profiles = federation
        .profiles_claim
        .as_ref()
        .map(|name| match claims.get(name) {
            Some(Value::String(one)) => one.split_whitespace().map(str::to_owned).collect(),
            Some(Value::Array(many)) => many
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        });
    Ok(MappedLogin {
        ssin,
        acr,
        profiles,
    })
}

/// Whether `profile` is among `allowed` (its form value, or its bare kind).
pub fn allows(allowed: &[String], profile: &Profile) -> bool {
    let value = profile.form_value();
    allowed
        .iter()
        .any(|a| *a == value || a.as_str() == profile.kind())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use secrecy::SecretString;
    use serde_json::json;

    use super::super::config::ClientAuth;
    use super::*;
    use crate::people::Nihii;

    fn federation(profiles_claim: Option<&str>) -> Federation {
        Federation {
            issuer: "https://idp.example".into(),
            client_id: "depot".into(),
            client_secret: Some(SecretString::from("s")),
            client_auth: ClientAuth::ClientSecretBasic,
            scopes: vec![],
            name: "IdP".into(),
            ssin_claim: "national_number".into(),
            profiles_claim: profiles_claim.map(str::to_owned),
            acr_map: BTreeMap::from([
                ("urn:loa:1".to_owned(), Acr::Low),
                ("urn:loa:2".to_owned(), Acr::Substantial),
            ]),
        }
    }

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn a_mapped_login() {
        let mapped = map_claims(
            &federation(None),
            &claims(json!({"sub": "x", "acr": "urn:loa:2", "national_number": "85073003328"})),
        )
        .unwrap();
        assert_eq!(mapped.ssin.as_str(), "85073003328");
        assert_eq!(mapped.acr, Acr::Substantial);
        assert_eq!(mapped.profiles, None);
    }

    #[test]
    fn refusals() {
        let f = federation(None);
        let cases = [
            (json!({"national_number": "85073003328"}), "acr missing"),
            (
                json!({"acr": "urn:loa:9", "national_number": "85073003328"}),
                "acr unmapped",
            ),
            (
                json!({"acr": ["urn:loa:1"], "national_number": "85073003328"}),
                "acr not a string",
            ),
            (json!({"acr": "urn:loa:1"}), "ssin missing"),
            (
                json!({"acr": "urn:loa:1", "national_number": "85073003329"}),
                "bad checksum",
            ),
            (
                json!({"acr": "urn:loa:1", "national_number": 85073003328_u64}),
                "a number",
            ),
        ];
        let expected = [
            FederationError::AcrMissing,
            FederationError::AcrUnmapped("urn:loa:9".into()),
            FederationError::AcrMissing,
            FederationError::SsinMissing,
            FederationError::SsinMalformed,
            FederationError::SsinMalformed,
        ];
        for ((value, name), want) in cases.into_iter().zip(expected) {
            let got = map_claims(&f, &claims(value)).unwrap_err();
            assert_eq!(got.to_string(), want.to_string(), "{name}");
        }
    }

    #[test]
    fn the_profiles_claim_restricts() {
        let f = federation(Some("roles"));
        let mapped = map_claims(
            &f,
            &claims(json!({"acr": "urn:loa:1", "national_number": "85073003328",
                "roles": ["professional", "organization:0203201340"]})),
        )
        .unwrap();
        let allowed = mapped.profiles.unwrap();
        // 123456: check digits 97 − (123456 mod 97) = 25; qualification 004.
        let nihii = Nihii::parse("12345625004").unwrap();
        let doctor = Profile::Professional {
            quality: "doctor".into(),
            nihii,
        };
        assert!(allows(&allowed, &doctor));
        assert!(!allows(&allowed, &Profile::Citizen));
        let none = map_claims(
            &f,
            &claims(json!({"acr": "urn:loa:1", "national_number": "85073003328"})),
        )
        .unwrap();
        assert_eq!(none.profiles, Some(vec![]));
    }
}

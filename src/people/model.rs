//! Persons and their profiles, and the rules a registration must satisfy.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::identifiers::{Cbe, Identifier, Nihii, Ssin};

/// Qualities of health professionals that the profile and the PDP know.
pub const QUALITIES: &[&str] = &[
    "doctor",
    "dentist",
    "pharmacist",
    "nurse",
    "midwife",
    "physiotherapist",
    "psychologist",
    "paramedic",
];

/// A profile a person holds: how they may present themselves to an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "profile", rename_all = "lowercase")]
pub enum Profile {
    Citizen,
    Professional { quality: String, nihii: Nihii },
    Organization { cbe: Cbe },
    Mandatee { mandator: Identifier },
}

impl Profile {
    /// The kind, as the PDP and the `identity.profile` claim name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Profile::Citizen => "citizen",
            Profile::Professional { .. } => "professional",
            Profile::Organization { .. } => "organization",
            Profile::Mandatee { .. } => "mandatee",
        }
    }

    pub fn quality(&self) -> Option<&str> {
        match self {
            Profile::Professional { quality, .. } => Some(quality),
            _ => None,
        }
    }

    /// The value of the profile radio button (API.md).
    pub fn form_value(&self) -> String {
        match self {
            Profile::Citizen => "citizen".into(),
            Profile::Professional { nihii, .. } => format!("professional:{nihii}"),
            Profile::Organization { cbe } => format!("organization:{cbe}"),
            Profile::Mandatee { mandator } => {
                let (kind, value) = identifier_parts(mandator);
                format!("mandatee:{kind}:{value}")
            }
        }
    }

    /// The `identity` claim of a token issued under this profile (API.md).
    pub fn identity(&self, ssin: &Ssin) -> Value {
        match self {
            Profile::Citizen => json!({"profile": "citizen", "ssin": ssin}),
            Profile::Professional { quality, nihii } => json!({
                "profile": "professional", "ssin": ssin, "quality": quality, "nihii": nihii,
            }),
            Profile::Organization { cbe } => {
                json!({"profile": "organization", "cbe": cbe, "ssin": ssin})
            }
            Profile::Mandatee { mandator } => {
                json!({"profile": "mandatee", "ssin": ssin, "mandator": mandator})
            }
        }
    }
}

pub fn identifier_parts(id: &Identifier) -> (&'static str, &str) {
    match id {
        Identifier::Ssin(v) => ("ssin", v.as_str()),
        Identifier::Cbe(v) => ("cbe", v.as_str()),
        Identifier::Nihii(v) => ("nihii", v.as_str()),
    }
}

/// A person as the authentic source holds them.
#[derive(Debug, Clone)]
pub struct Person {
    pub ssin: Ssin,
    pub name: String,
    pub password_hash: Option<String>,
    pub sealed_totp_secret: Option<Vec<u8>>,
    pub profiles: Vec<Profile>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl Person {
    pub fn has_totp(&self) -> bool {
        self.sealed_totp_secret.is_some()
    }

    pub fn profile_by_form_value(&self, value: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.form_value() == value)
    }
}

/// `POST /admin/persons` as received; fields are checked one by one so that an error
/// names the field at fault.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonRegistration {
    pub ssin: String,
    pub name: String,
    pub password: Option<String>,
    /// Base32 (RFC 4648) TOTP secret, at least 128 bits.
    pub totp_secret: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub profiles: Vec<Value>,
}

/// A checked registration; the password still in clear, to be hashed by the caller.
#[derive(Debug, Clone)]
pub struct NewPerson {
    pub ssin: Ssin,
    pub name: String,
    pub password: Option<String>,
    pub totp_secret: Option<Vec<u8>>,
    pub profiles: Vec<Profile>,
}

/// The field at fault and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidPerson {
    pub field: String,
    pub reason: String,
}

fn invalid(field: impl Into<String>, reason: impl ToString) -> InvalidPerson {
    InvalidPerson {
        field: field.into(),
        reason: reason.to_string(),
    }
}

const MIN_PASSWORD: usize = 8;
const MAX_PASSWORD: usize = 256;
/// RFC 4226 §4: the shared secret MUST be at least 128 bits.
const MIN_TOTP_SECRET_BYTES: usize = 16;

impl PersonRegistration {
    pub fn validate(self) -> Result<NewPerson, InvalidPerson> {
        let ssin = Ssin::parse(&self.ssin).map_err(|e| invalid("ssin", e))?;
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(invalid("name", "must be 1 to 200 characters"));
        }
        if let Some(p) = &self.password {
            let n = p.chars().count();
            if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&n) {
                return Err(invalid(
                    "password",
                    format!("must be {MIN_PASSWORD} to {MAX_PASSWORD} characters"),
                ));
            }
        }
        let totp_secret = self
            .totp_secret
            .as_deref()
            .map(|text| {
                let bytes = totp_rs::Secret::try_from_base32(text.trim_end_matches('='))
                    .map_err(|_| invalid("totp_secret", "is not base32 (RFC 4648)"))?
                    .as_bytes()
                    .to_vec();
                if bytes.len() < MIN_TOTP_SECRET_BYTES {
                    return Err(invalid("totp_secret", "must hold at least 128 bits"));
                }
                Ok(bytes)
            })
            .transpose()?;
        if self.profiles.is_empty() {
            return Err(invalid("profiles", "at least one profile is required"));
        }
        let mut profiles = Vec::with_capacity(self.profiles.len());
        for (i, raw) in self.profiles.iter().enumerate() {
            let profile = parse_profile(raw).map_err(|(sub, reason)| {
                invalid(
                    match sub {
                        Some(sub) => format!("profiles[{i}].{sub}"),
                        None => format!("profiles[{i}]"),
                    },
                    reason,
                )
            })?;
            if profiles.contains(&profile) {
                return Err(invalid(format!("profiles[{i}]"), "is listed twice"));
            }
            if let Profile::Mandatee {
                mandator: Identifier::Ssin(m),
            } = &profile
                && *m == ssin
            {
                return Err(invalid(
                    format!("profiles[{i}].mandator"),
                    "a person cannot be their own mandator",
                ));
            }
            profiles.push(profile);
        }
        Ok(NewPerson {
            ssin,
            name: name.to_owned(),
            password: self.password,
            totp_secret,
            profiles,
        })
    }
}

type ProfileError = (Option<&'static str>, String);

fn text<'a>(raw: &'a Value, field: &'static str) -> Result<&'a str, ProfileError> {
    raw.get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| (Some(field), "is required (a string)".to_owned()))
}

fn no_other_fields(raw: &Value, allowed: &[&str]) -> Result<(), ProfileError> {
    let unknown = raw
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys())
        .find(|k| k.as_str() != "profile" && !allowed.contains(&k.as_str()));
    match unknown {
        Some(k) => Err((None, format!("unknown field {k:?}"))),
        None => Ok(()),
    }
}

fn parse_profile(raw: &Value) -> Result<Profile, ProfileError> {
    if !raw.is_object() {
        return Err((None, "must be an object".into()));
    }
    match text(raw, "profile")? {
        "citizen" => {
            no_other_fields(raw, &[])?;
            Ok(Profile::Citizen)
        }
        "professional" => {
            no_other_fields(raw, &["quality", "nihii"])?;
            let quality = text(raw, "quality")?;
            if !QUALITIES.contains(&quality) {
                return Err((
                    Some("quality"),
                    format!(
                        "unknown quality {quality:?} (one of {})",
                        QUALITIES.join(", ")
                    ),
                ));
            }
            let nihii =
                Nihii::parse(text(raw, "nihii")?).map_err(|e| (Some("nihii"), e.to_string()))?;
            Ok(Profile::Professional {
                quality: quality.to_owned(),
                nihii,
            })
        }
        "organization" => {
            no_other_fields(raw, &["cbe"])?;
            let cbe = Cbe::parse(text(raw, "cbe")?).map_err(|e| (Some("cbe"), e.to_string()))?;
            Ok(Profile::Organization { cbe })
        }
        "mandatee" => {
            no_other_fields(raw, &["mandator"])?;
            let mandator = raw
                .get("mandator")
                .ok_or_else(|| (Some("mandator"), "is required".to_owned()))?;
            let kind = mandator.get("type").and_then(Value::as_str);
            let value = mandator
                .get("value")
                .and_then(Value::as_str)
                .ok_or_else(|| (Some("mandator.value"), "is required".to_owned()))?;
            let bad = |e: super::IdentifierError| (Some("mandator.value"), e.to_string());
            let mandator = match kind {
                Some("ssin") => Identifier::Ssin(Ssin::parse(value).map_err(bad)?),
                Some("cbe") => Identifier::Cbe(Cbe::parse(value).map_err(bad)?),
                _ => {
                    return Err((
                        Some("mandator.type"),
                        "must be ssin or cbe (a mandator is a person or an organization)".into(),
                    ));
                }
            };
            Ok(Profile::Mandatee { mandator })
        }
        other => Err((
            Some("profile"),
            format!("unknown profile {other:?} (citizen, professional, organization, mandatee)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const SSIN: &str = "85073003328";

    fn nihii() -> String {
        let six = 123456u64;
        format!("{six}{:02}004", 97 - six % 97)
    }

    fn registration(extra: Value) -> PersonRegistration {
        let mut base =
            json!({"ssin": SSIN, "name": "An Peeters", "profiles": [{"profile": "citizen"}]});
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn valid_person_with_every_profile() {
        let person = registration(json!({
            "password": "correct horse",
            "totp_secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
            "profiles": [
                {"profile": "citizen"},
                {"profile": "professional", "quality": "doctor", "nihii": nihii()},
                {"profile": "organization", "cbe": "0203201340"},
                {"profile": "mandatee", "mandator": {"type": "cbe", "value": "0203201340"}},
            ],
        }))
        .validate()
        .unwrap();
        assert_eq!(person.profiles.len(), 4);
        assert_eq!(person.totp_secret.unwrap().len(), 20);
        let values: Vec<String> = person.profiles.iter().map(Profile::form_value).collect();
        assert_eq!(values[0], "citizen");
        assert_eq!(values[1], format!("professional:{}", nihii()));
        assert_eq!(values[3], "mandatee:cbe:0203201340");
        let identity = person.profiles[1].identity(&person.ssin);
        assert_eq!(identity["quality"], "doctor");
        assert_eq!(identity["ssin"], SSIN);
    }

    #[test]
    fn each_error_names_its_field() {
        let cases = [
            (json!({"ssin": "85073003329"}), "ssin"),
            (json!({"name": " "}), "name"),
            (json!({"password": "short"}), "password"),
            (json!({"totp_secret": "not base32!"}), "totp_secret"),
            (json!({"totp_secret": "JBSWY3DP"}), "totp_secret"),
            (json!({"profiles": []}), "profiles"),
            (
                json!({"profiles": [{"profile": "king"}]}),
                "profiles[0].profile",
            ),
            (
                json!({"profiles": [{"profile": "professional", "quality": "doctor", "nihii": "12345600004"}]}),
                "profiles[0].nihii",
            ),
            (
                json!({"profiles": [{"profile": "professional", "quality": "wizard", "nihii": nihii()}]}),
                "profiles[0].quality",
            ),
            (
                json!({"profiles": [{"profile": "organization", "cbe": "0203201341"}]}),
                "profiles[0].cbe",
            ),
            (
                json!({"profiles": [{"profile": "citizen"}, {"profile": "mandatee", "mandator": {"type": "ssin", "value": "1"}}]}),
                "profiles[1].mandator.value",
            ),
            (
                json!({"profiles": [{"profile": "mandatee", "mandator": {"type": "ssin", "value": SSIN}}]}),
                "profiles[0].mandator",
            ),
            (
                json!({"profiles": [{"profile": "citizen"}, {"profile": "citizen"}]}),
                "profiles[1]",
            ),
            (
                json!({"profiles": [{"profile": "citizen", "nihii": "x"}]}),
                "profiles[0]",
            ),
        ];
        for (extra, field) in cases {
            let err = registration(extra.clone()).validate().unwrap_err();
            assert_eq!(err.field, field, "{extra}");
        }
    }
}

/// An organization known by its CBE number (the enterprises of the Crossroads Bank).
#[derive(Debug, Clone)]
pub struct Organization {
    pub cbe: Cbe,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

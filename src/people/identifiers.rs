//! Belgian identifiers, parsed once at the edge (API.md "Identifiers").
//!
//! - SSIN: 11 digits `YYMMDD SSS CC`, `CC = 97 − (first nine mod 97)`, or for people born
//!   from 2000 `97 − ("2" ‖ first nine mod 97)`. BIS numbers add 20 or 40 to the month.
//! - CBE: 10 digits, `last two = 97 − (first eight mod 97)`.
//! - NIHII: 11 digits, a six-digit number, two check digits `97 − (six mod 97)`, and a
//!   three-digit qualification code.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("must be {0} digits")]
    Length(usize),
    #[error("check digits do not match")]
    Checksum,
    #[error("month {0:02} is not a valid SSIN or BIS month")]
    Month(u32),
    #[error("unknown identifier type {0:?} (expected ssin, cbe or nihii)")]
    UnknownType(String),
}

fn digits(value: &str, len: usize) -> Result<&str, IdentifierError> {
    if value.len() == len && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value)
    } else {
        Err(IdentifierError::Length(len))
    }
}

fn number(digits: &str) -> u64 {
    digits
        .bytes()
        .fold(0, |acc, b| acc * 10 + u64::from(b - b'0'))
}

fn check_97(base: u64, check: u64) -> bool {
    97 - (base % 97) == check
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A national register or BIS number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ssin(String);
string_newtype!(Ssin);

impl Ssin {
    pub fn parse(value: &str) -> Result<Self, IdentifierError> {
        let value = digits(value, 11)?;
        let month = number(&value[2..4]) as u32;
        if !matches!(month, 0..=12 | 20..=32 | 40..=52) {
            return Err(IdentifierError::Month(month));
        }
        let base = number(&value[..9]);
        let check = number(&value[9..]);
        if check_97(base, check) || check_97(2_000_000_000 + base, check) {
            Ok(Self(value.to_owned()))
        } else {
            Err(IdentifierError::Checksum)
        }
    }
}

/// An enterprise number of the Crossroads Bank for Enterprises.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cbe(String);
string_newtype!(Cbe);

impl Cbe {
    pub fn parse(value: &str) -> Result<Self, IdentifierError> {
        let value = digits(value, 10)?;
        if check_97(number(&value[..8]), number(&value[8..])) {
            Ok(Self(value.to_owned()))
        } else {
            Err(IdentifierError::Checksum)
        }
    }
}

/// A health-care provider number (RIZIV/INAMI).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Nihii(String);
string_newtype!(Nihii);

impl Nihii {
    pub fn parse(value: &str) -> Result<Self, IdentifierError> {
        let value = digits(value, 11)?;
        if check_97(number(&value[..6]), number(&value[6..8])) {
            Ok(Self(value.to_owned()))
        } else {
            Err(IdentifierError::Checksum)
        }
    }

    /// The three-digit qualification code.
    pub fn qualification(&self) -> &str {
        &self.0[8..]
    }
}

/// `{"type": "ssin" | "cbe" | "nihii", "value": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum Identifier {
    Ssin(Ssin),
    Cbe(Cbe),
    Nihii(Nihii),
}

impl Identifier {
    /// An identifier given as its type and value apart (query parameters, selectors).
    pub fn parse(kind: &str, value: &str) -> Result<Self, IdentifierError> {
        match kind {
            "ssin" => Ssin::parse(value).map(Self::Ssin),
            "cbe" => Cbe::parse(value).map(Self::Cbe),
            "nihii" => Nihii::parse(value).map(Self::Nihii),
            other => Err(IdentifierError::UnknownType(other.to_owned())),
        }
    }

    /// The identifier named by the query parameters `identity_type` and
    /// `identity_value` (both or neither); an error names the parameter at fault.
    pub fn from_query(
        kind: Option<&str>,
        value: Option<&str>,
    ) -> Result<Option<Self>, (&'static str, String)> {
        match (kind, value) {
            (None, None) => Ok(None),
            (Some(kind), Some(value)) => match Self::parse(kind, value) {
                Ok(id) => Ok(Some(id)),
                Err(IdentifierError::UnknownType(_)) => {
                    Err(("identity_type", "must be ssin, nihii or cbe".into()))
                }
                Err(e) => Err(("identity_value", e.to_string())),
            },
            (None, Some(_)) => Err(("identity_type", "identity_value needs identity_type".into())),
            (Some(_), None) => Err((
                "identity_value",
                "identity_type needs identity_value".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a valid SSIN from its first nine digits.
    fn ssin(first9: &str, born_2000s: bool) -> String {
        let base = first9.parse::<u64>().unwrap() + if born_2000s { 2_000_000_000 } else { 0 };
        format!("{first9}{:02}", 97 - base % 97)
    }

    #[test]
    fn ssin_checksums_before_and_after_2000() {
        assert!(Ssin::parse(&ssin("850730033", false)).is_ok());
        assert!(Ssin::parse(&ssin("050730033", true)).is_ok());
        // BIS numbers: month + 20 and month + 40.
        assert!(Ssin::parse(&ssin("852730033", false)).is_ok());
        assert!(Ssin::parse(&ssin("854730033", false)).is_ok());
    }

    #[test]
    fn ssin_refusals() {
        let good = ssin("850730033", false);
        let mut bad = good.clone().into_bytes();
        bad[10] = if bad[10] == b'9' { b'0' } else { bad[10] + 1 };
        let bad = String::from_utf8(bad).unwrap();
        assert_eq!(Ssin::parse(&bad), Err(IdentifierError::Checksum));
        assert_eq!(Ssin::parse("8507300331"), Err(IdentifierError::Length(11)));
        assert_eq!(Ssin::parse("85073003a12"), Err(IdentifierError::Length(11)));
        assert_eq!(
            Ssin::parse(&ssin("851530033", false)),
            Err(IdentifierError::Month(15))
        );
    }

    #[test]
    fn cbe_and_nihii() {
        // 0203.201.340 is the CBE of the National Bank of Belgium.
        assert!(Cbe::parse("0203201340").is_ok());
        assert_eq!(Cbe::parse("0203201341"), Err(IdentifierError::Checksum));
        let six = 123456u64;
        let nihii = format!("{six}{:02}004", 97 - six % 97);
        assert_eq!(Nihii::parse(&nihii).unwrap().qualification(), "004");
        assert_eq!(Nihii::parse("12345600004"), Err(IdentifierError::Checksum));
    }

    #[test]
    fn identifier_json_shape() {
        let id: Identifier =
            serde_json::from_str(r#"{"type":"cbe","value":"0203201340"}"#).unwrap();
        assert_eq!(id, Identifier::Cbe(Cbe::parse("0203201340").unwrap()));
        assert!(serde_json::from_str::<Identifier>(r#"{"type":"cbe","value":"1"}"#).is_err());
    }
}

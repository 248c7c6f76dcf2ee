//! Whose key it is: taken from the access token at registration (a person under one
//! of their profiles, or a system client), or named by an administrator.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::authz::tokens::AccessTokenClaims;

/// The owner of a key, with the identifiers a JWKS search can find it by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// `ssin:<ssin>` for a person, `client:<client_id>` for a system client,
    /// `cbe:<cbe>` for an organization's certificate: who may list and revoke it.
    pub owner: String,
    pub ssin: Option<String>,
    /// `citizen`, `professional`, `organization`, `mandatee` or `system`.
    pub profile: String,
    pub nihii: Option<String>,
    pub cbe: Option<String>,
    /// The `identity` claim the key was registered under.
    pub identity: Value,
}

fn text(identity: &Value, name: &str) -> Option<String> {
    identity
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

impl Owner {
    /// The owner a stored key was registered for.
    pub fn of_key(row: &entity::public_key::Model) -> Self {
        Self {
            owner: row.owner.clone(),
            ssin: row.ssin.clone(),
            profile: row.profile.clone(),
            nihii: row.nihii.clone(),
            cbe: row.cbe.clone(),
            identity: row.identity.clone(),
        }
    }

    /// The owner a token speaks for.
    pub fn of_token(claims: &AccessTokenClaims) -> Result<Self, String> {
        let identity = &claims.identity;
        let profile = text(identity, "profile")
            .ok_or_else(|| "the token carries no identity profile".to_owned())?;
        if profile == "system" {
            return Ok(Self {
                owner: format!("client:{}", claims.client_id),
                ssin: None,
                profile,
                nihii: None,
                cbe: text(identity, "cbe"),
                identity: identity.clone(),
            });
        }
        let ssin = text(identity, "ssin")
            .ok_or_else(|| "the token's identity names no person".to_owned())?;
        Ok(Self {
            owner: format!("ssin:{ssin}"),
            ssin: Some(ssin),
            nihii: text(identity, "nihii"),
            cbe: text(identity, "cbe"),
            profile,
            identity: identity.clone(),
        })
    }

    /// The owner's identifier as API.md writes identifiers (`{"type", "value"}`):
    /// the organization for organization and system keys, else the person (by SSIN,
    /// or by NIHII for a certificate imported for a NIHII).
    pub fn identifier(&self) -> Value {
        match (self.profile.as_str(), &self.cbe, &self.ssin, &self.nihii) {
            ("organization" | "system", Some(cbe), _, _) => json!({"type": "cbe", "value": cbe}),
            (_, _, Some(ssin), _) => json!({"type": "ssin", "value": ssin}),
            (_, _, None, Some(nihii)) => json!({"type": "nihii", "value": nihii}),
            (_, Some(cbe), None, None) => json!({"type": "cbe", "value": cbe}),
            _ => Value::Null,
        }
    }
}

//! The client registry's domain: what a registered client is, and the rules a
//! registration must satisfy (RFC 6749 §2, RFC 7591 metadata semantics, RFC 8252 for
//! native-app redirect URIs).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::jwks::{ClientJwks, JwksError};
use super::scope::{Acr, Scope, ScopeSet};
use crate::people::Cbe;

/// Claims named by API.md that a system client's static claims may never override.
pub const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "client_id",
    "scope",
    "acr",
    "amr",
    "auth_time",
    "identity",
    "permissions",
    "keys",
    "cnf",
    "act",
    "delegation",
    "typ",
];

/// An OAuth client identifier: 1–128 characters of the URI "unreserved" set.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(value: &str) -> Result<Self, String> {
        let ok = !value.is_empty()
            && value.len() <= 128
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err("must be 1 to 128 characters of A-Z a-z 0-9 - . _ ~".into())
        }
    }

    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientType {
    /// A browser or native app: no credentials, PKCE only.
    Public,
    /// A server-side app acting for persons: private_key_jwt.
    Confidential,
    /// A system acting for itself (client credentials): private_key_jwt.
    System,
}

impl ClientType {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientType::Public => "public",
            ClientType::Confidential => "confidential",
            ClientType::System => "system",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Public, Self::Confidential, Self::System]
            .into_iter()
            .find(|t| t.as_str() == value)
    }
}

/// A registered client, as the registry holds it.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: ClientId,
    pub client_type: ClientType,
    pub name: String,
    pub organization: Option<Cbe>,
    pub redirect_uris: Vec<String>,
    pub scopes: ScopeSet,
    pub claims: Map<String, Value>,
    pub jwks: Option<ClientJwks>,
    pub min_acr: Option<Acr>,
    pub allow_none_attestation: bool,
    /// RFC 9449 §5.2: every token request must carry a DPoP proof.
    pub dpop_bound_access_tokens: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A registration request as received (`POST /admin/clients`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientRegistration {
    pub client_id: Option<String>,
    #[serde(rename = "type")]
    pub client_type: String,
    pub name: String,
    pub organization: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    #[schema(value_type = Option<Object>)]
    pub claims: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    pub min_acr: Option<String>,
    pub attestation: Option<String>,
    /// RFC 9449 §5.2 (client metadata): every access token must be DPoP-bound.
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
}

/// A registration that breaks a rule, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidRegistration {
    pub field: String,
    pub reason: String,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> InvalidRegistration {
    InvalidRegistration {
        field: field.into(),
        reason: reason.into(),
    }
}

impl ClientRegistration {
    /// Checks every rule and returns the client to store (the organization's existence
    /// is the store's to check).
    pub fn validate(
        self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Client, InvalidRegistration> {
        let id = match &self.client_id {
            Some(id) => ClientId::parse(id).map_err(|r| invalid("client_id", r))?,
            None => ClientId::generate(),
        };
        let client_type = ClientType::parse(&self.client_type)
            .ok_or_else(|| invalid("type", "must be public, confidential or system"))?;
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(invalid("name", "must be 1 to 200 characters"));
        }
        let organization = self
            .organization
            .as_deref()
            .map(Cbe::parse)
            .transpose()
            .map_err(|e| invalid("organization", e.to_string()))?;

        let mut scopes = Vec::with_capacity(self.scopes.len());
        for (i, s) in self.scopes.iter().enumerate() {
            scopes.push(
                Scope::parse(s).ok_or_else(|| {
                    invalid(format!("scopes[{i}]"), format!("unknown scope {s:?}"))
                })?,
            );
        }
        let scopes: ScopeSet = scopes.into_iter().collect();
        if scopes.is_empty() {
            return Err(invalid("scopes", "at least one scope is required"));
        }
        if client_type == ClientType::System && scopes.contains(Scope::Openid) {
            return Err(invalid(
                "scopes",
                "openid is for clients acting for persons, not for a system client",
            ));
        }
        // API.md: `admin` is for system clients only, so no person's token ever
        // carries it.
        if client_type != ClientType::System && scopes.contains(Scope::Admin) {
            return Err(invalid(
                "scopes",
                "admin is for system clients only, not for a client acting for persons",
            ));
        }

        for (i, uri) in self.redirect_uris.iter().enumerate() {
            check_redirect_uri(uri).map_err(|r| invalid(format!("redirect_uris[{i}]"), r))?;
        }
        match client_type {
            ClientType::Public | ClientType::Confidential if self.redirect_uris.is_empty() => {
                return Err(invalid(
                    "redirect_uris",
                    "at least one is required for this type",
                ));
            }
            ClientType::System if !self.redirect_uris.is_empty() => {
                return Err(invalid(
                    "redirect_uris",
                    "a system client has no redirect URIs",
                ));
            }
            _ => {}
        }

        let jwks = match (&self.jwks, client_type) {
            (Some(_), ClientType::Public) => {
                return Err(invalid("jwks", "a public client has no keys"));
            }
            (None, ClientType::Confidential | ClientType::System) => {
                return Err(invalid(
                    "jwks",
                    "required for private_key_jwt client authentication",
                ));
            }
            (Some(value), _) => Some(ClientJwks::parse(value).map_err(|e| match e {
                JwksError::Key { index, reason } => invalid(format!("jwks.keys[{index}]"), reason),
                JwksError::Set(reason) => invalid("jwks", reason),
            })?),
            (None, ClientType::Public) => None,
        };

        let claims = self.claims.unwrap_or_default();
        if !claims.is_empty() && client_type != ClientType::System {
            return Err(invalid("claims", "only a system client has static claims"));
        }
        if let Some(name) = claims
            .keys()
            .find(|k| RESERVED_CLAIMS.contains(&k.as_str()))
        {
            return Err(invalid(format!("claims.{name}"), "is a reserved claim"));
        }

        let min_acr = self
            .min_acr
            .as_deref()
            .map(|v| Acr::parse(v).ok_or_else(|| invalid("min_acr", "must be an eIDAS LoA URI")))
            .transpose()?;
        let allow_none_attestation = match self.attestation.as_deref() {
            None => false,
            Some("none") => true,
            Some(_) => return Err(invalid("attestation", "the only value is \"none\"")),
        };

        Ok(Client {
            id,
            client_type,
            name: name.to_owned(),
            organization,
            redirect_uris: self.redirect_uris,
            scopes,
            claims,
            jwks,
            min_acr,
            allow_none_attestation,
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
            created_at: now,
        })
    }
}

/// A redirect URI is absolute, has no fragment (RFC 6749 §3.1.2), and is `https`, a
/// loopback `http` URI, or a private-use scheme with a dot (RFC 8252 §7).
fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let parsed = url::Url::parse(uri).map_err(|e| format!("not an absolute URI: {e}"))?;
    if parsed.fragment().is_some() {
        return Err("must not contain a fragment".into());
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => match parsed.host_str() {
            Some("127.0.0.1" | "[::1]" | "localhost") => Ok(()),
            _ => Err("http is only allowed for loopback addresses".into()),
        },
        scheme if scheme.contains('.') => Ok(()),
        _ => Err("must be https, loopback http, or a private-use scheme (reverse domain)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn system(extra: Value) -> ClientRegistration {
        let mut base = json!({
            "type": "system", "name": "Hospital gateway", "scopes": ["depot:send"],
            "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
                "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}
        });
        if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
            base.extend(extra.clone());
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn a_valid_system_client() {
        let client = system(json!({"claims": {"department": "radiology"}}))
            .validate(chrono::Utc::now())
            .unwrap();
        assert_eq!(client.client_type, ClientType::System);
        assert_eq!(client.claims["department"], "radiology");
    }

    #[test]
    fn each_rule_names_its_field() {
        let cases = [
            (json!({"client_id": "has space"}), "client_id"),
            (json!({"type": "daemon"}), "type"),
            (json!({"scopes": ["depot:write"]}), "scopes[0]"),
            (json!({"scopes": []}), "scopes"),
            (json!({"jwks": null}), "jwks"),
            (json!({"claims": {"sub": "x"}}), "claims.sub"),
            (json!({"min_acr": "high"}), "min_acr"),
            (json!({"attestation": "packed"}), "attestation"),
            (json!({"organization": "0203201341"}), "organization"),
            (
                json!({"redirect_uris": ["https://a.example/cb"]}),
                "redirect_uris",
            ),
        ];
        for (extra, field) in cases {
            let err = system(extra.clone())
                .validate(chrono::Utc::now())
                .unwrap_err();
            assert_eq!(err.field, field, "{extra}");
        }
    }

    #[test]
    fn redirect_uri_rules() {
        assert!(check_redirect_uri("https://app.example/cb?x=1").is_ok());
        assert!(check_redirect_uri("http://127.0.0.1/cb").is_ok());
        assert!(check_redirect_uri("be.example.app:/cb").is_ok());
        assert!(check_redirect_uri("http://app.example/cb").is_err());
        assert!(check_redirect_uri("https://app.example/cb#frag").is_err());
        assert!(check_redirect_uri("/relative").is_err());
    }
}

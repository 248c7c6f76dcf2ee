//! JWT access tokens (RFC 9068): what they carry and how they are minted.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::scope::ScopeSet;
use super::signing::{KeyRing, SigningError};

/// RFC 9068 §2.1 `typ` header value.
pub const AT_JWT: &str = "at+jwt";

/// `aud`: one string, or an array when a token serves several resources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn from_vec(mut values: Vec<String>) -> Self {
        if values.len() == 1 {
            Self::One(values.remove(0))
        } else {
            Self::Many(values)
        }
    }

    pub fn contains(&self, value: &str) -> bool {
        match self {
            Self::One(one) => one == value,
            Self::Many(many) => many.iter().any(|v| v == value),
        }
    }
}

/// A reference to a registered key active for the (user, client) at issue time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyReference {
    pub kid: String,
    #[serde(rename = "use")]
    pub key_use: String,
    pub jkt: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    pub identity: Value,
    #[serde(default)]
    pub permissions: Vec<String>,
    #[serde(default)]
    pub keys: Vec<KeyReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Value>,
    /// The id of the delegation a token acting for another organization was issued
    /// under (API.md "Organizations acting for organizations"): the token check
    /// refuses the token once that delegation has ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegation: Option<String>,
    /// A system client's static claims (never one of the names above).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AccessTokenClaims {
    pub fn scopes(&self) -> ScopeSet {
        ScopeSet::parse(&self.scope).unwrap_or_default()
    }

    /// The thumbprint of the key the token is bound to (`cnf.jkt`, RFC 9449 §6.1).
    pub fn bound_to(&self) -> Option<&str> {
        self.cnf
            .as_ref()
            .and_then(|c| c.get("jkt"))
            .and_then(Value::as_str)
    }

    /// `DPoP` for a bound token, else `Bearer` (RFC 9449 §5, RFC 7662 §2.2).
    pub fn token_type(&self) -> &'static str {
        if self.bound_to().is_some() {
            "DPoP"
        } else {
            "Bearer"
        }
    }
}

/// What a grant decided; the minting adds times, ids and the signature.
#[derive(Debug, Clone)]
pub struct Grant {
    pub subject: String,
    pub client_id: String,
    pub scopes: ScopeSet,
    pub audience: Vec<String>,
    pub acr: Option<String>,
    pub identity: Value,
    pub permissions: Vec<String>,
    pub keys: Vec<KeyReference>,
    pub act: Option<Value>,
    /// The delegation the token is issued under, if any.
    pub delegation: Option<String>,
    pub extra: Map<String, Value>,
    /// The thumbprint of the key the token is bound to (RFC 9449 §6), if any.
    pub jkt: Option<String>,
}

/// The token endpoint's success answer (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// RFC 8693 §2.2.1: what a token exchange issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

/// A minted access token and its id, for whoever must be able to revoke it.
pub struct Minted {
    pub response: TokenResponse,
    pub jti: String,
}

pub fn mint(
    ring: &KeyRing,
    issuer: &str,
    now: DateTime<Utc>,
    ttl_seconds: i64,
    grant: Grant,
) -> Result<Minted, SigningError> {
    let iat = now.timestamp();
    let mut extra = grant.extra;
    extra.retain(|k, _| !super::client::RESERVED_CLAIMS.contains(&k.as_str()));
    let claims = AccessTokenClaims {
        iss: issuer.to_owned(),
        sub: grant.subject,
        aud: Audience::from_vec(grant.audience),
        exp: iat + ttl_seconds,
        iat,
        nbf: iat,
        jti: uuid::Uuid::new_v4().to_string(),
        client_id: grant.client_id,
        scope: grant.scopes.to_string(),
        acr: grant.acr,
        identity: grant.identity,
        permissions: grant.permissions,
        keys: grant.keys,
        cnf: grant.jkt.map(|jkt| serde_json::json!({ "jkt": jkt })),
        act: grant.act,
        delegation: grant.delegation,
        extra,
    };
    Ok(Minted {
        response: TokenResponse {
            access_token: ring.sign(AT_JWT, &claims)?,
            token_type: claims.token_type(),
            expires_in: ttl_seconds,
            scope: claims.scope,
            refresh_token: None,
            id_token: None,
            issued_token_type: None,
        },
        jti: claims.jti,
    })
}

//! What the grants keep of a person's authorization: the grant an authorization code
//! and its refresh tokens carry, stored as JSON with them. Shared by the grant types
//! and their storage.

use serde::{Deserialize, Serialize};

use crate::authz::scope::{Acr, ScopeSet};
use crate::people::{Profile, Ssin};

/// A person's authorization, as an authorization code and its refresh tokens keep it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PersonGrant {
    pub ssin: Ssin,
    pub client_id: String,
    pub scope: String,
    pub audience: Vec<String>,
    pub profile: Profile,
    pub acr: Acr,
    pub amr: Vec<String>,
    pub auth_time: i64,
    /// The key a public client's refresh tokens are bound to (RFC 9449 §5): the
    /// thumbprint of the DPoP proof's key at the code exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
}

/// What an authorization code carries besides the grant: its bindings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeGrant {
    #[serde(flatten)]
    pub person: PersonGrant,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub nonce: Option<String>,
}

impl PersonGrant {
    pub fn scopes(&self) -> ScopeSet {
        ScopeSet::parse(&self.scope).unwrap_or_default()
    }
}

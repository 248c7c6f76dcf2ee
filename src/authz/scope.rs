//! Scopes, the resources they imply (RFC 8707 audiences), and eIDAS levels.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "depot:send")]
    DepotSend,
    #[serde(rename = "depot:read")]
    DepotRead,
    #[serde(rename = "keys:register")]
    KeysRegister,
    #[serde(rename = "keys:read")]
    KeysRead,
    #[serde(rename = "symkeys:create")]
    SymkeysCreate,
    #[serde(rename = "symkeys:read")]
    SymkeysRead,
    #[serde(rename = "tsa")]
    Tsa,
    #[serde(rename = "admin")]
    Admin,
    /// Token exchange (RFC 8693): the app may act for the person towards other
    /// services; implies the resource `{issuer}/oauth2/token`.
    #[serde(rename = "exchange")]
    Exchange,
    /// OpenID Connect: an id_token and the userinfo endpoint; no resource server.
    #[serde(rename = "openid")]
    Openid,
}

impl Scope {
    pub const ALL: [Scope; 10] = [
        Scope::DepotSend,
        Scope::DepotRead,
        Scope::KeysRegister,
        Scope::KeysRead,
        Scope::SymkeysCreate,
        Scope::SymkeysRead,
        Scope::Tsa,
        Scope::Admin,
        Scope::Exchange,
        Scope::Openid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::DepotSend => "depot:send",
            Scope::DepotRead => "depot:read",
            Scope::KeysRegister => "keys:register",
            Scope::KeysRead => "keys:read",
            Scope::SymkeysCreate => "symkeys:create",
            Scope::SymkeysRead => "symkeys:read",
            Scope::Tsa => "tsa",
            Scope::Admin => "admin",
            Scope::Exchange => "exchange",
            Scope::Openid => "openid",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// The resource server whose audience this scope implies (none for `openid`).
    pub fn resource(self) -> Option<Resource> {
        match self {
            Scope::DepotSend | Scope::DepotRead => Some(Resource::Depot),
            Scope::KeysRegister | Scope::KeysRead => Some(Resource::Keys),
            Scope::SymkeysCreate | Scope::SymkeysRead => Some(Resource::Symkeys),
            Scope::Tsa => Some(Resource::Tsa),
            Scope::Admin => Some(Resource::Admin),
            Scope::Exchange => Some(Resource::Token),
            Scope::Openid => None,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes; its text form is the space-delimited list of RFC 6749 §3.3.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    /// Parses a `scope` parameter; the error names the first unknown scope.
    pub fn parse(text: &str) -> Result<Self, String> {
        text.split(' ')
            .filter(|s| !s.is_empty())
            .map(|s| Scope::parse(s).ok_or_else(|| s.to_owned()))
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn difference<'a>(&'a self, other: &'a ScopeSet) -> impl Iterator<Item = Scope> + 'a {
        self.0.difference(&other.0).copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    /// The resources these scopes imply, in a stable order.
    pub fn resources(&self) -> BTreeSet<Resource> {
        self.0.iter().filter_map(|s| s.resource()).collect()
    }

    pub fn to_vec(&self) -> Vec<Scope> {
        self.0.iter().copied().collect()
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for scope in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
            first = false;
        }
        Ok(())
    }
}

/// Our resource servers; the identifier of each is `{issuer}/{path}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    Depot,
    Keys,
    Symkeys,
    Tsa,
    Admin,
    /// The token endpoint, as the audience of tokens that may be exchanged (RFC 8693).
    Token,
}

impl Resource {
    pub const ALL: [Resource; 6] = [
        Resource::Depot,
        Resource::Keys,
        Resource::Symkeys,
        Resource::Tsa,
        Resource::Admin,
        Resource::Token,
    ];

    pub fn path(self) -> &'static str {
        match self {
            Resource::Depot => "depot",
            Resource::Keys => "keys",
            Resource::Symkeys => "symkeys",
            Resource::Tsa => "tsa",
            Resource::Admin => "admin",
            Resource::Token => "oauth2/token",
        }
    }

    /// The name a policy file gives the resource (its path, `token` for the token
    /// endpoint).
    pub fn policy_name(self) -> &'static str {
        match self {
            Resource::Token => "token",
            other => other.path(),
        }
    }

    /// The RFC 8707 resource indicator and the `aud` the resource server demands.
    pub fn identifier(self, issuer: &str) -> String {
        format!("{issuer}/{}", self.path())
    }

    pub fn from_identifier(issuer: &str, value: &str) -> Option<Self> {
        let path = value.strip_prefix(issuer)?.strip_prefix('/')?;
        Self::ALL.into_iter().find(|r| r.path() == path)
    }
}

/// eIDAS levels of assurance, as `acr` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Acr {
    #[serde(rename = "http://eidas.europa.eu/LoA/low")]
    Low,
    #[serde(rename = "http://eidas.europa.eu/LoA/substantial")]
    Substantial,
    #[serde(rename = "http://eidas.europa.eu/LoA/high")]
    High,
}

impl Acr {
    pub const ALL: [Acr; 3] = [Acr::Low, Acr::Substantial, Acr::High];

    pub fn as_str(self) -> &'static str {
        match self {
            Acr::Low => "http://eidas.europa.eu/LoA/low",
            Acr::Substantial => "http://eidas.europa.eu/LoA/substantial",
            Acr::High => "http://eidas.europa.eu/LoA/high",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_text_round_trip_and_unknown_named() {
        let set = ScopeSet::parse("keys:read  depot:send").unwrap();
        assert_eq!(set.to_string(), "depot:send keys:read");
        assert_eq!(
            ScopeSet::parse("depot:send depot:write"),
            Err("depot:write".into())
        );
    }

    #[test]
    fn scopes_imply_resources() {
        let set = ScopeSet::parse("depot:send depot:read tsa").unwrap();
        let resources: Vec<_> = set.resources().into_iter().collect();
        assert_eq!(resources, vec![Resource::Depot, Resource::Tsa]);
    }

    #[test]
    fn resource_identifiers() {
        let issuer = "https://depot.example";
        assert_eq!(
            Resource::Keys.identifier(issuer),
            "https://depot.example/keys"
        );
        assert_eq!(
            Resource::from_identifier(issuer, "https://depot.example/tsa"),
            Some(Resource::Tsa)
        );
        assert_eq!(
            Resource::from_identifier(issuer, "https://depot.example/tsa/"),
            None
        );
        assert_eq!(Resource::from_identifier(issuer, "https://other/tsa"), None);
    }

    #[test]
    fn acr_levels_are_ordered() {
        assert!(Acr::Low < Acr::Substantial && Acr::Substantial < Acr::High);
        assert_eq!(
            Acr::parse("http://eidas.europa.eu/LoA/high"),
            Some(Acr::High)
        );
    }
}

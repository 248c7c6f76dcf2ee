//! The parameters of `/oauth2/authorize` (RFC 6749 §4.1.1, RFC 7636, OpenID Connect
//! Core §3.1.2.1, RFC 8707, RFC 9700), checked in the order that decides where an error
//! goes: before the redirect URI is trusted, to a page; after, back to the client.

use serde::{Deserialize, Serialize};

use crate::authz::client::{Client, ClientType};
use crate::authz::params::Params;
use crate::authz::pdp::Policy;
use crate::authz::scope::{Acr, Resource, Scope, ScopeSet};

/// What `prompt` asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A checked authorization request: what the rest of the flow works from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizeParams {
    pub client_id: String,
    pub redirect_uri: String,
    /// The granted scopes, as the space-delimited text.
    pub scope: String,
    /// The audience: resource identifiers.
    pub audience: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    /// The lowest level this authorization accepts (client, resources, `acr_values`).
    pub required_acr: Acr,
    pub ui_locales: Option<String>,
}

impl AuthorizeParams {
    pub fn scopes(&self) -> ScopeSet {
        ScopeSet::parse(&self.scope).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or its redirect URI cannot be trusted: shown on a page, never redirected.
    Page(String),
    /// Sent back to the (trusted) redirect URI.
    Redirect {
        error: &'static str,
        description: String,
    },
}

fn redirect(error: &'static str, description: impl Into<String>) -> AuthorizeError {
    AuthorizeError::Redirect {
        error,
        description: description.into(),
    }
}

/// Step 1: the client id and redirect URI, before anything else is read.
pub fn client_and_redirect(raw: &Params) -> Result<(&str, Option<&str>), AuthorizeError> {
    for name in ["client_id", "redirect_uri"] {
        if raw.all(name).count() > 1 {
            return Err(AuthorizeError::Page(format!(
                "{name} is given more than once"
            )));
        }
    }
    let client_id = raw
        .get("client_id")
        .ok_or_else(|| AuthorizeError::Page("client_id is missing".into()))?;
    Ok((client_id, raw.get("redirect_uri")))
}

/// Whether `requested` may be used with a client that registered `registered`: the
/// same string, or for a loopback IP literal any port (RFC 8252 §7.3).
pub fn redirect_uri_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(reg), Ok(req)) = (url::Url::parse(registered), url::Url::parse(requested)) else {
        return false;
    };
    let loopback = matches!(reg.host_str(), Some("127.0.0.1" | "[::1]"));
    loopback
        && reg.scheme() == "http"
        && req.scheme() == "http"
        && reg.host_str() == req.host_str()
        && reg.path() == req.path()
        && reg.query() == req.query()
        && req.fragment().is_none()
        && req.username().is_empty()
        && req.password().is_none()
}

/// Step 2: the redirect URI must be one the client registered.
pub fn trusted_redirect(
    client: &Client,
    redirect_uri: Option<&str>,
) -> Result<String, AuthorizeError> {
    if client.client_type == ClientType::System {
        return Err(AuthorizeError::Page(
            "a system client cannot use the authorization endpoint".into(),
        ));
    }
    let uri = redirect_uri.ok_or_else(|| AuthorizeError::Page("redirect_uri is missing".into()))?;
    if client
        .redirect_uris
        .iter()
        .any(|registered| redirect_uri_matches(registered, uri))
    {
        Ok(uri.to_owned())
    } else {
        Err(AuthorizeError::Page(
            "redirect_uri is not registered for this client".into(),
        ))
    }
}

const MAX_STATE: usize = 2048;
const MAX_NONCE: usize = 512;

/// Step 3: everything else; errors from here on go back to the client.
pub fn check(
    raw: &Params,
    client: &Client,
    redirect_uri: String,
    issuer: &str,
    policy: &Policy,
) -> Result<AuthorizeParams, AuthorizeError> {
    if let Some(name) = raw.duplicate() {
        return Err(redirect(
            "invalid_request",
            format!("{name} is given more than once"),
        ));
    }
    if raw.get("request").is_some() {
        return Err(redirect(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    if raw.get("request_uri").is_some() {
        return Err(redirect(
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    match raw.get("response_type") {
        Some("code") => {}
        None => return Err(redirect("invalid_request", "response_type is missing")),
        Some(other) => {
            return Err(redirect(
                "unsupported_response_type",
                format!(
                    "response_type {other:?} is not supported: only \"code\" (the implicit and hybrid flows are refused, RFC 9700 §2.1.2)"
                ),
            ));
        }
    }
    if raw.get("response_mode").is_some_and(|m| m != "query") {
        return Err(redirect("invalid_request", "response_mode must be query"));
    }
    // PKCE (RFC 7636) for every client, S256 only.
    let code_challenge = raw.get("code_challenge").ok_or_else(|| {
        redirect(
            "invalid_request",
            "code_challenge is required (PKCE, RFC 7636)",
        )
    })?;
    match raw.get("code_challenge_method") {
        Some("S256") => {}
        Some("plain") => {
            return Err(redirect(
                "invalid_request",
                "code_challenge_method plain is not accepted: use S256",
            ));
        }
        _ => {
            return Err(redirect(
                "invalid_request",
                "code_challenge_method must be S256",
            ));
        }
    }
    if code_challenge.len() != 43
        || !code_challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(redirect(
            "invalid_request",
            "code_challenge must be the base64url SHA-256 of the verifier (43 characters)",
        ));
    }

    let scopes = ScopeSet::parse(raw.get("scope").unwrap_or_default())
        .map_err(|unknown| redirect("invalid_scope", format!("unknown scope {unknown:?}")))?;
    if scopes.is_empty() {
        return Err(redirect("invalid_scope", "no scope requested"));
    }
    // API.md: no person's token ever carries `admin`, whatever a client holds.
    if scopes.contains(Scope::Admin) {
        return Err(redirect(
            "invalid_scope",
            "the scope admin is for system clients only; a person never grants it",
        ));
    }
    if let Some(missing) = scopes
        .iter()
        .find(|s| *s != Scope::Openid && !client.scopes.contains(*s))
    {
        return Err(redirect(
            "invalid_scope",
            format!("the scope {missing} is not registered for this client"),
        ));
    }
    let implied = scopes.resources();
    let mut audience: Vec<Resource> = Vec::new();
    for value in raw.all("resource") {
        let resource = Resource::from_identifier(issuer, value)
            .ok_or_else(|| redirect("invalid_target", format!("unknown resource {value:?}")))?;
        if !implied.contains(&resource) {
            return Err(redirect(
                "invalid_target",
                format!("the requested scopes do not apply to the resource {value}"),
            ));
        }
        if !audience.contains(&resource) {
            audience.push(resource);
        }
    }
    if audience.is_empty() {
        audience = implied.into_iter().collect();
    }

    let mut prompt = Prompt::default();
    for value in raw.get("prompt").unwrap_or_default().split(' ') {
        match value {
            "" => {}
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            other => {
                return Err(redirect(
                    "invalid_request",
                    format!("prompt value {other:?} is not supported (none, login, consent)"),
                ));
            }
        }
    }
    if prompt.none && (prompt.login || prompt.consent) {
        return Err(redirect(
            "invalid_request",
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age = raw
        .get("max_age")
        .map(|v| {
            v.parse::<u32>()
                .map(i64::from)
                .map_err(|_| redirect("invalid_request", "max_age must be a number of seconds"))
        })
        .transpose()?;
    let state = raw.get("state").map(str::to_owned);
    if state.as_ref().is_some_and(|s| s.len() > MAX_STATE) {
        return Err(redirect("invalid_request", "state is too long"));
    }
    let nonce = raw.get("nonce").map(str::to_owned);
    if nonce.as_ref().is_some_and(|n| n.len() > MAX_NONCE) {
        return Err(redirect("invalid_request", "nonce is too long"));
    }
    // acr_values lists acceptable levels; the lowest known one is the minimum asked.
    let asked = raw
        .get("acr_values")
        .unwrap_or_default()
        .split(' ')
        .filter_map(Acr::parse)
        .min();
    let required_acr = [
        Some(Acr::Low),
        client.min_acr,
        policy.min_acr(&audience),
        asked,
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(Acr::Low);

    Ok(AuthorizeParams {
        client_id: client.id.to_string(),
        redirect_uri,
        scope: scopes.to_string(),
        audience: audience.iter().map(|r| r.identifier(issuer)).collect(),
        state,
        nonce,
        code_challenge: code_challenge.to_owned(),
        prompt,
        max_age,
        required_acr,
        ui_locales: raw.get("ui_locales").map(str::to_owned),
    })
}

/// The redirect back to the client, with `iss` (RFC 9207) and `state`.
pub fn redirect_to_client(
    redirect_uri: &str,
    issuer: &str,
    state: Option<&str>,
    params: &[(&str, &str)],
) -> String {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return redirect_uri.to_owned();
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", issuer);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_compare_exactly_but_loopback_ports_vary() {
        let reg = "https://app.example/cb";
        assert!(redirect_uri_matches(reg, reg));
        for bad in [
            "https://app.example/cb/extra",
            "https://app.example/cb?x=1",
            "https://app.example/cbx",
            "https://app.example/CB",
            "https://app.example:8443/cb",
            "http://app.example/cb",
        ] {
            assert!(!redirect_uri_matches(reg, bad), "{bad}");
        }
        let loopback = "http://127.0.0.1/callback";
        assert!(redirect_uri_matches(
            loopback,
            "http://127.0.0.1:53123/callback"
        ));
        assert!(!redirect_uri_matches(
            loopback,
            "http://127.0.0.1:53123/callback/x"
        ));
        assert!(!redirect_uri_matches(
            loopback,
            "http://127.0.0.1:53123/callback?x"
        ));
        assert!(!redirect_uri_matches(
            loopback,
            "http://localhost:53123/callback"
        ));
        assert!(!redirect_uri_matches(
            loopback,
            "http://u@127.0.0.1:5/callback"
        ));
        assert!(redirect_uri_matches(
            "http://[::1]/cb",
            "http://[::1]:6000/cb"
        ));
    }

    #[test]
    fn the_client_redirect_carries_state_and_iss() {
        let url = redirect_to_client(
            "https://app.example/cb?keep=1",
            "https://idp.example",
            Some("s t"),
            &[("code", "abc")],
        );
        assert_eq!(
            url,
            "https://app.example/cb?keep=1&code=abc&state=s+t&iss=https%3A%2F%2Fidp.example"
        );
    }
}

//! RFC 6749 §4.4: the client credentials grant, for system clients acting for
//! themselves. The client is already authenticated (private_key_jwt).

use serde_json::{Map, Value, json};

use crate::authz::client::{Client, ClientType};
use crate::authz::error::{OAuthError, OAuthErrorCode};
use crate::authz::form::OAuthForm;
use crate::authz::pdp::{Policy, Subject};
use crate::authz::scope::{Resource, ScopeSet};
use crate::authz::tokens::Grant;

/// Decides what the token says; minting is the caller's.
pub fn grant(
    client: &Client,
    form: &OAuthForm,
    issuer: &str,
    policy: &Policy,
) -> Result<Grant, OAuthError> {
    // Step 1: only system clients act for themselves.
    if client.client_type != ClientType::System {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "only system clients may use the client_credentials grant",
        ));
    }
    // Step 2: the scopes asked (default: all registered, RFC 6749 §3.3), each registered.
    let scopes = match form.get("scope") {
        Some(text) => ScopeSet::parse(text).map_err(|unknown| {
            OAuthError::new(
                OAuthErrorCode::InvalidScope,
                format!("unknown scope {unknown:?}"),
            )
        })?,
        None => client.scopes.clone(),
    };
    if let Some(missing) = scopes.difference(&client.scopes).next() {
        return Err(OAuthError::new(
            OAuthErrorCode::InvalidScope,
            format!("the scope {missing} is not registered for this client"),
        ));
    }
    if scopes.is_empty() || scopes.resources().is_empty() {
        return Err(OAuthError::new(
            OAuthErrorCode::InvalidScope,
            "no scope of a resource server requested",
        ));
    }
    // Step 3: the audience (RFC 8707): exactly the resources asked, each implied by the
    // scopes; or every resource the scopes imply.
    let implied = scopes.resources();
    let mut audience = Vec::new();
    for value in form.all("resource") {
        let resource = Resource::from_identifier(issuer, value).ok_or_else(|| {
            OAuthError::new(
                OAuthErrorCode::InvalidTarget,
                format!("unknown resource {value:?}"),
            )
        })?;
        if !implied.contains(&resource) {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidTarget,
                format!("the requested scopes do not apply to the resource {value}"),
            ));
        }
        audience.push(resource);
    }
    if audience.is_empty() {
        audience = implied.into_iter().collect();
    }
    audience.dedup();
    // Step 4: the claims of a system client.
    let mut identity = Map::new();
    identity.insert("profile".into(), json!("system"));
    if let Some(cbe) = &client.organization {
        identity.insert("cbe".into(), json!(cbe));
    }
    // Step 5: what the PDP grants a system at these resources.
    let permissions = policy.permissions(
        &audience,
        Subject {
            profile: "system",
            quality: None,
        },
    );
    Ok(Grant {
        subject: client.id.to_string(),
        client_id: client.id.to_string(),
        scopes,
        audience: audience.into_iter().map(|r| r.identifier(issuer)).collect(),
        acr: None,
        identity: Value::Object(identity),
        permissions,
        // The keystore's active keys of the client, added by the token endpoint.
        keys: Vec::new(),
        act: None,
        extra: client.claims.clone(),
        // Bound by the token endpoint when the request carried a DPoP proof.
        jkt: None,
    })
}

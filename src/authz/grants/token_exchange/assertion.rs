//! The holder-of-key assertion of an exchange (`requested_token_type` `saml2`,
//! API.md): the subject's identity and permissions, the `acr` as the authentication
//! context, and the actor key as the key the SOAP client must prove it holds.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::{Decided, SAML2_TOKEN_TYPE};
use crate::authz::context::AuthzContext;
use crate::authz::error::OAuthError;
use crate::authz::saml::{AssertionInput, SamlIssuer};
use crate::authz::tokens::TokenResponse;

/// Signs the assertion (off the async workers: an RSA signature by libxmlsec1) and
/// answers it as RFC 8693 §2.2.1 does: base64url of the XML, `token_type` `N_A`.
pub async fn issue(
    ctx: &AuthzContext,
    saml: &SamlIssuer,
    decided: Decided,
    now: DateTime<Utc>,
) -> Result<TokenResponse, OAuthError> {
    let Some(actor) = decided.actor else {
        return Err(OAuthError::invalid_request(
            "a holder-of-key assertion needs an actor_token",
        ));
    };
    let ttl = i64::from(ctx.config.settings.authz.saml_ttl_seconds);
    let saml = saml.clone();
    let subject = decided.subject;
    let holder = Value::Object(actor.jwk);
    let audience = decided.saml_audience;
    let permissions = decided.permissions;
    let scope = decided.scopes.to_string();
    let signed = tokio::task::spawn_blocking(move || {
        saml.assertion(&AssertionInput {
            name_id: &subject.sub,
            identity: &subject.identity,
            permissions: &permissions,
            acr: subject.acr.as_deref(),
            audience: &audience,
            holder: &holder,
            issued_at: now,
            not_on_or_after: now + Duration::seconds(ttl),
        })
    })
    .await
    .map_err(|e| OAuthError::server_error("E-SAML", &e.to_string()))?
    .map_err(|e| OAuthError::server_error("E-SAML", &e))?;
    tracing::info!(assertion = %signed.id, client_id = %subject.client_id, "SAML holder-of-key assertion issued");
    Ok(TokenResponse {
        access_token: B64.encode(signed.xml.as_bytes()),
        token_type: "N_A",
        expires_in: ttl,
        scope,
        refresh_token: None,
        id_token: None,
        issued_token_type: Some(SAML2_TOKEN_TYPE),
    })
}

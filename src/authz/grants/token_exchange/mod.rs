//! RFC 8693: token exchange. A client holding a person's access token with scope
//! `exchange` obtains, for that person, either a new access token in which it is the
//! actor (`act`, nested for chains) or a SAML 2.0 holder-of-key assertion for SOAP
//! services whose key is that of the actor token (API.md "Token exchange").
//!
//! The steps, in order: the requested type; the subject token (ours, issued to this
//! client, live, with scope `exchange`, permission `token:exchange` and the person's
//! consent to it); the scopes and audience, narrowed; the actor token (a key of the
//! pair, or of the client); then what is issued.

pub mod actor;
pub mod assertion;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use self::actor::{ActorKey, JWT_TOKEN_TYPE, Pair};
use super::store;
use crate::authz::bearer::{TokenError, TokenVerifier};
use crate::authz::client_auth::AuthenticatedClient;
use crate::authz::context::AuthzContext;
use crate::authz::error::{OAuthError, OAuthErrorCode};
use crate::authz::form::OAuthForm;
use crate::authz::pdp::Subject;
use crate::authz::scope::{Resource, Scope, ScopeSet};
use crate::authz::tokens::{AccessTokenClaims, Grant, TokenResponse, mint};

pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const SAML2_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:saml2";

/// The permission the PDP grants a token that may be exchanged (API.md "Permissions").
pub const PERMISSION: &str = "token:exchange";

fn invalid_grant(description: impl Into<String>) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidGrant, description)
}

/// What is asked for (RFC 8693 §2.1 `requested_token_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    AccessToken,
    Saml2,
}

/// An exchange every check has passed: what the issued token says.
pub struct Decided {
    pub requested: Requested,
    pub subject: AccessTokenClaims,
    /// The person the subject token speaks for (none for a system client).
    pub person: Option<crate::people::Ssin>,
    /// Their keystore owner: `ssin:<ssin>`, or `client:<client_id>`.
    pub owner: String,
    pub actor: Option<ActorKey>,
    pub scopes: ScopeSet,
    /// The resources of an access token.
    pub resources: Vec<Resource>,
    /// The audience of an assertion (`audience`, default `{issuer}/soap`).
    pub saml_audience: String,
    pub permissions: Vec<String>,
    /// The thumbprint the new access token is bound to: the actor key's, else the
    /// request's DPoP proof's.
    pub jkt: Option<String>,
}

/// Runs every check of the exchange; `proof_jkt` is the thumbprint of the request's
/// DPoP proof key, if any.
pub async fn decide(
    ctx: &AuthzContext,
    verifier: &TokenVerifier,
    client: &AuthenticatedClient,
    form: &OAuthForm,
    proof_jkt: Option<&str>,
) -> Result<Decided, OAuthError> {
    let client = &client.client;
    // Step 1: the types (RFC 8693 §2.2.2: an unsupported one is `invalid_request`).
    let requested = match form.get("requested_token_type") {
        None | Some(ACCESS_TOKEN_TYPE) => Requested::AccessToken,
        Some(SAML2_TOKEN_TYPE) => Requested::Saml2,
        Some(other) => {
            return Err(OAuthError::invalid_request(format!(
                "the requested_token_type {other:?} is not supported ({ACCESS_TOKEN_TYPE} or {SAML2_TOKEN_TYPE})"
            )));
        }
    };
    let subject_token = form.require("subject_token")?;
    match form.require("subject_token_type")? {
        ACCESS_TOKEN_TYPE => {}
        other => {
            return Err(OAuthError::invalid_request(format!(
                "the subject_token_type {other:?} is not supported ({ACCESS_TOKEN_TYPE})"
            )));
        }
    }
    let actor_token = match (form.get("actor_token"), form.get("actor_token_type")) {
        (None, None) => None,
        (Some(token), Some(JWT_TOKEN_TYPE)) => Some(token),
        (Some(_), Some(other)) => {
            return Err(OAuthError::invalid_request(format!(
                "the actor_token_type {other:?} is not supported ({JWT_TOKEN_TYPE})"
            )));
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_request(
                "an actor_token needs its actor_token_type",
            ));
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "actor_token_type without an actor_token",
            ));
        }
    };
    if requested == Requested::Saml2 && actor_token.is_none() {
        return Err(OAuthError::invalid_request(
            "a holder-of-key assertion needs an actor_token: its key is the holder's",
        ));
    }

    // Step 2: the subject token.
    let subject = subject_claims(ctx, verifier, subject_token, client.id.as_str()).await?;
    if let Some(bound) = subject.bound_to()
        && proof_jkt != Some(bound)
    {
        return Err(invalid_grant(
            "the subject token is DPoP-bound: the request needs a DPoP proof by its key",
        ));
    }
    let person = person_of(&subject);
    if let Some(ssin) = &person {
        consent_in_force(ctx, ssin, client.id.as_str()).await?;
    }

    // Step 3: the scopes and audience, within the subject token's (before the actor
    // token, whose jti a refusal here must not use up).
    let held = subject.scopes();
    let scopes = match form.get("scope") {
        Some(text) => {
            let asked = ScopeSet::parse(text).map_err(|unknown| {
                OAuthError::new(
                    OAuthErrorCode::InvalidScope,
                    format!("unknown scope {unknown:?}"),
                )
            })?;
            if let Some(beyond) = asked.difference(&held).next() {
                return Err(OAuthError::new(
                    OAuthErrorCode::InvalidScope,
                    format!("the scope {beyond} is not in the subject token's"),
                ));
            }
            asked
        }
        // `exchange` itself only when asked for, so that a chain goes on by choice.
        None => held.iter().filter(|s| *s != Scope::Exchange).collect(),
    };
    let implied = scopes.resources();
    if implied.is_empty() {
        return Err(OAuthError::new(
            OAuthErrorCode::InvalidScope,
            "no scope of a resource server asked",
        ));
    }
    let issuer = &ctx.config.issuer;
    let mut resources = Vec::new();
    let targets: Vec<&str> = match requested {
        Requested::AccessToken => form.all("resource").chain(form.all("audience")).collect(),
        Requested::Saml2 => form.all("resource").collect(),
    };
    for value in targets {
        let resource = Resource::from_identifier(issuer, value)
            .filter(|r| implied.contains(r))
            .ok_or_else(|| {
                OAuthError::new(
                    OAuthErrorCode::InvalidTarget,
                    format!("the scopes asked do not apply to the target {value}"),
                )
            })?;
        if !resources.contains(&resource) {
            resources.push(resource);
        }
    }
    if resources.is_empty() {
        resources = implied.into_iter().collect();
    }
    let saml_audience = match requested {
        Requested::Saml2 => saml_audience(form, issuer)?,
        Requested::AccessToken => String::new(),
    };
    let identity = &subject.identity;
    let permissions = ctx.policy.permissions(
        &resources,
        Subject {
            profile: identity["profile"].as_str().unwrap_or_default(),
            quality: identity["quality"].as_str(),
        },
    );
    // Step 4: the actor token, by a key of the pair or of the client.
    let owner = match &person {
        Some(ssin) => format!("ssin:{}", ssin.as_str()),
        None => format!("client:{}", client.id),
    };
    let actor = match actor_token {
        Some(token) => Some(
            actor::verify(
                ctx,
                token,
                Pair {
                    owner: &owner,
                    client,
                },
            )
            .await?,
        ),
        None => None,
    };

    let jkt = actor
        .as_ref()
        .map(|a| a.jkt.clone())
        .or(proof_jkt.map(str::to_owned));
    Ok(Decided {
        requested,
        subject,
        person,
        owner,
        actor,
        scopes,
        resources,
        saml_audience,
        permissions,
        jkt,
    })
}

/// The assertion's audience: one absolute URI, by default `{issuer}/soap`.
fn saml_audience(form: &OAuthForm, issuer: &str) -> Result<String, OAuthError> {
    let mut audiences = form.all("audience");
    let Some(audience) = audiences.next() else {
        return Ok(format!("{issuer}/soap"));
    };
    if audiences.next().is_some() {
        return Err(OAuthError::new(
            OAuthErrorCode::InvalidTarget,
            "one audience at most",
        ));
    }
    match url::Url::parse(audience) {
        Ok(_) => Ok(audience.to_owned()),
        Err(_) => Err(OAuthError::new(
            OAuthErrorCode::InvalidTarget,
            format!("the audience {audience:?} is not an absolute URI"),
        )),
    }
}

/// Step 2: an access token of ours, live, issued to this client, that may be
/// exchanged: scope `exchange`, audience the token endpoint, permission
/// `token:exchange`.
async fn subject_claims(
    ctx: &AuthzContext,
    verifier: &TokenVerifier,
    token: &str,
    client_id: &str,
) -> Result<AccessTokenClaims, OAuthError> {
    let claims = verifier.verify(token).await.map_err(|e| match e {
        TokenError::Internal(fault) => OAuthError::server_error("E-SUBJECT-TOKEN", &fault),
        other => invalid_grant(format!("subject token: {other}")),
    })?;
    if claims.client_id != client_id {
        return Err(invalid_grant(
            "subject token: it was issued to another client",
        ));
    }
    if !claims.scopes().contains(Scope::Exchange) {
        return Err(invalid_grant("subject token: it lacks the scope exchange"));
    }
    if !claims
        .aud
        .contains(&Resource::Token.identifier(&ctx.config.issuer))
        || !claims.permissions.iter().any(|p| p == PERMISSION)
    {
        return Err(invalid_grant(format!(
            "subject token: the policy did not grant it the permission {PERMISSION}"
        )));
    }
    Ok(claims)
}

/// The person a token speaks for (none for a system client).
fn person_of(claims: &AccessTokenClaims) -> Option<crate::people::Ssin> {
    if claims.identity["profile"].as_str() == Some("system") {
        return None;
    }
    crate::people::Ssin::parse(&claims.sub).ok()
}

/// The person's consent to `exchange` for this client is still in force: withdrawn
/// at `/account`, it ends every exchange of their tokens.
async fn consent_in_force(
    ctx: &AuthzContext,
    ssin: &crate::people::Ssin,
    client_id: &str,
) -> Result<(), OAuthError> {
    let consent = crate::authz::login::store::consent(&ctx.db, ssin, client_id)
        .await
        .map_err(|e| OAuthError::server_error("E-CONSENT", &e))?;
    if consent.is_some_and(|scopes| scopes.contains(Scope::Exchange)) {
        Ok(())
    } else {
        Err(invalid_grant(
            "subject token: the person's consent to exchange for this client was withdrawn",
        ))
    }
}

/// RFC 8693 §4.1: the client acts; an earlier actor is nested inside.
fn act_of(client_id: &str, earlier: Option<&Value>) -> Value {
    let mut act = json!({ "sub": client_id, "client_id": client_id });
    if let Some(earlier) = earlier {
        act["act"] = earlier.clone();
    }
    act
}

/// Mints the access token of an exchange: the subject's `sub`, `identity`, `acr`;
/// the client as `act`; bound to the actor key; expiring no later than the subject
/// token. A person's exchanged tokens are recorded, so that withdrawing the consent
/// revokes them.
pub async fn issue_access(
    ctx: &AuthzContext,
    decided: Decided,
    now: DateTime<Utc>,
) -> Result<TokenResponse, OAuthError> {
    let subject = &decided.subject;
    let client_id = subject.client_id.clone();
    let keys = ctx
        .keystore
        .references(&ctx.db, &decided.owner, &client_id, now)
        .await
        .map_err(|e| OAuthError::server_error("E-KEYS-CLAIM", &e))?;
    let issuer = &ctx.config.issuer;
    let grant = Grant {
        subject: subject.sub.clone(),
        client_id: client_id.clone(),
        scopes: decided.scopes.clone(),
        audience: decided
            .resources
            .iter()
            .map(|r| r.identifier(issuer))
            .collect(),
        acr: subject.acr.clone(),
        identity: subject.identity.clone(),
        permissions: decided.permissions.clone(),
        keys,
        act: Some(act_of(&client_id, subject.act.as_ref())),
        extra: subject.extra.clone(),
        jkt: decided.jkt.clone(),
        // A token acting for an organization under a delegation dies with it, and so
        // does what it is exchanged for.
        delegation: subject.delegation.clone(),
    };
    let ttl = i64::from(ctx.config.settings.authz.access_token_ttl_seconds)
        .min(subject.exp - now.timestamp());
    if ttl <= 0 {
        return Err(invalid_grant("subject token: it has expired"));
    }
    let ring = ctx
        .keys
        .ring()
        .await
        .map_err(|e| OAuthError::server_error("E-KEYS", &e))?;
    let minted =
        mint(&ring, issuer, now, ttl, grant).map_err(|e| OAuthError::server_error("E-SIGN", &e))?;
    if let Some(ssin) = &decided.person {
        let leeway = i64::from(ctx.config.settings.authz.clock_leeway_seconds);
        let expires_at = now + chrono::Duration::seconds(ttl + leeway);
        store::record_exchanged(
            &ctx.db,
            &minted.jti,
            ssin.as_str(),
            &client_id,
            now,
            expires_at,
        )
        .await
        .map_err(|e| OAuthError::server_error("E-EXCHANGE-STORE", &e))?;
    }
    let mut response = minted.response;
    response.issued_token_type = Some(ACCESS_TOKEN_TYPE);
    Ok(response)
}

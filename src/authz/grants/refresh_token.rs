//! RFC 6749 §6 with the rotation of RFC 9700 §4.14.2: a refresh token is used once and
//! replaced by a new one of the same family; a used one presented again revokes the
//! whole family. Confidential clients prove who they are (`private_key_jwt`); a public
//! client names itself (`client_id`, RFC 6749 §6: "if the client type is confidential
//! or the client was issued client credentials"), and rotation with reuse detection is
//! what makes its refresh tokens acceptable (RFC 9700 §2.2.2, §4.14.2): a stolen token
//! is good for one use, and the next use by either party revokes the family.

use sea_orm::TransactionTrait;

use super::person::{self, access_expiry};
use super::store;
use crate::authz::client::ClientType;
use crate::authz::client_auth::AuthenticatedClient;
use crate::authz::context::AuthzContext;
use crate::authz::error::{OAuthError, OAuthErrorCode};
use crate::authz::form::OAuthForm;
use crate::authz::grants::model::PersonGrant;
use crate::authz::scope::{Scope, ScopeSet};
use crate::authz::tokens::TokenResponse;
use crate::crypto::token_digest;

fn invalid_grant(description: &str) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidGrant, description)
}

/// Rotates the refresh token; `jkt` is the thumbprint of the request's DPoP proof key.
pub async fn refresh(
    ctx: &AuthzContext,
    client: &AuthenticatedClient,
    form: &OAuthForm,
    jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let client = &client.client;
    // Step 1: the client was authenticated as its type requires; system clients have no
    // person's grant to refresh (they ask for client credentials again).
    if client.client_type == ClientType::System {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "system clients get new tokens with client_credentials",
        ));
    }
    // Step 2: the token, bound to the client it was issued to, and its ctx.
    let token = form.require("refresh_token")?;
    let digest = token_digest(token);
    let stored = store::find_refresh(&ctx.db, &digest)
        .await
        .map_err(|e| OAuthError::server_error("E-REFRESH-STORE", &e))?
        .ok_or_else(|| invalid_grant("the refresh token is unknown or has expired"))?;
    if stored.client_id != client.id.as_str() {
        return Err(invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if stored.revoked_at.is_some() {
        return Err(invalid_grant("the refresh token has been revoked"));
    }
    if stored.used_at.is_some() {
        return Err(reused(ctx, &stored.family).await);
    }
    if stored.expires_at <= ctx.clock.now() {
        return Err(invalid_grant("the refresh token has expired"));
    }
    // Step 2b: a public client's refresh token is bound to a key and needs a proof by
    // it (RFC 9449 §5); refused before the token is used up. (One issued unbound,
    // before DPoP, is no longer good: the person logs in again.)
    if client.client_type == ClientType::Public && stored.grant.jkt.is_none() {
        return Err(invalid_grant(
            "a public client's refresh token must be DPoP-bound: log in again",
        ));
    }
    if let Some(bound) = &stored.grant.jkt {
        match jkt {
            None => {
                return Err(OAuthError::new(
                    OAuthErrorCode::InvalidDpopProof,
                    "the refresh token is DPoP-bound: send a DPoP proof by its key",
                ));
            }
            Some(jkt) if jkt != bound => {
                return Err(invalid_grant(
                    "the refresh token is bound to another key than the DPoP proof's",
                ));
            }
            Some(_) => {}
        }
    }
    // Step 3: a narrower scope may be asked, never a wider one (RFC 6749 §6).
    let mut grant = stored.grant.clone();
    if let Some(text) = form.get("scope") {
        let asked = ScopeSet::parse(text).map_err(|unknown| {
            OAuthError::new(
                OAuthErrorCode::InvalidScope,
                format!("unknown scope {unknown:?}"),
            )
        })?;
        if asked.is_empty() || !asked.is_subset(&grant.scopes()) {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidScope,
                "the scope may only narrow what was granted",
            ));
        }
        narrow(&mut grant, &asked, &ctx.config.issuer);
    }
    // Step 3b: decided afresh, as at the login (API.md "Permissions"): the person must
    // still hold the profile the grant was given under, the token gets only the scopes
    // the client still has, and the PDP decides the permissions from the policy in
    // force when the token is minted.
    let person = crate::people::store::get_person(&ctx.db, &grant.ssin)
        .await
        .map_err(|e| OAuthError::server_error("E-REFRESH-PERSON", &e))?;
    if !person.is_some_and(|p| p.profiles.contains(&grant.profile)) {
        return Err(invalid_grant(
            "the profile this grant was given under is no longer the person's: log in again",
        ));
    }
    let held: Vec<&str> = grant
        .scopes()
        .iter()
        .filter(|s| *s == Scope::Openid || client.scopes.contains(*s))
        .map(Scope::as_str)
        .collect();
    let held = ScopeSet::parse(&held.join(" ")).unwrap_or_default();
    let beyond_openid = |set: &ScopeSet| set.iter().any(|s| s != Scope::Openid);
    if beyond_openid(&grant.scopes()) && !beyond_openid(&held) {
        return Err(invalid_grant(
            "the client no longer has any of the scopes of this grant",
        ));
    }
    narrow(&mut grant, &held, &ctx.config.issuer);
    // Step 4: the next tokens, then, in one transaction, the rotation decided by the
    // database and the new refresh token stored.
    let minted = person::mint_tokens(
        ctx,
        client.client_type,
        &grant,
        None,
        Some(person::Rotation {
            family: &stored.family,
            expires_at: stored.expires_at,
            grant: &stored.grant,
        }),
        jkt,
    )
    .await?;
    let txn = ctx
        .db
        .begin()
        .await
        .map_err(|e| OAuthError::server_error("E-REFRESH-STORE", &e))?;
    if !store::consume_refresh(&txn, &digest, ctx.clock.now())
        .await
        .map_err(|e| OAuthError::server_error("E-REFRESH-STORE", &e))?
    {
        drop(txn);
        return Err(reused(ctx, &stored.family).await);
    }
    let issued = minted.store(&txn).await?;
    txn.commit()
        .await
        .map_err(|e| OAuthError::server_error("E-REFRESH-STORE", &e))?;
    Ok(issued.response)
}

/// The grant narrowed to `scopes` and the audiences they imply.
fn narrow(grant: &mut PersonGrant, scopes: &ScopeSet, issuer: &str) {
    let resources = scopes.resources();
    grant.audience.retain(|aud| {
        crate::authz::scope::Resource::from_identifier(issuer, aud)
            .is_some_and(|r| resources.contains(&r))
    });
    grant.scope = scopes.to_string();
}

async fn reused(ctx: &AuthzContext, family: &str) -> OAuthError {
    match store::revoke_family(&ctx.db, family, ctx.clock.now(), access_expiry(ctx)).await {
        Ok(_) => {
            tracing::warn!(family, "refresh token reused: its family is revoked");
            invalid_grant(
                "the refresh token was already used; every token of its family is revoked",
            )
        }
        Err(e) => OAuthError::server_error("E-REFRESH-REVOKE", &e),
    }
}

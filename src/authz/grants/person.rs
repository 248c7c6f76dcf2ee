//! What a person authorized a client to do, and the tokens minted from it: the access
//! token (identity, PDP permissions, acr), the id_token, a refresh token.

use chrono::{DateTime, Duration, Utc};
use sea_orm::ConnectionTrait;
use serde_json::Map;

use super::model::PersonGrant;
use super::store::{self, NewRefresh};
use crate::authz::client::ClientType;
use crate::authz::context::AuthzContext;
use crate::authz::error::OAuthError;
use crate::authz::id_token::{self, IdTokenInput};
use crate::authz::scope::{Resource, Scope};
use crate::authz::tokens::{Grant, TokenResponse, mint};

impl PersonGrant {
    /// The access token's content, bound to `jkt` when given; permissions come from the
    /// PDP, key references from the keystore.
    async fn access_grant(
        &self,
        ctx: &AuthzContext,
        jkt: Option<&str>,
    ) -> Result<Grant, OAuthError> {
        let issuer = &ctx.config.issuer;
        let resources: Vec<Resource> = self
            .audience
            .iter()
            .filter_map(|aud| Resource::from_identifier(issuer, aud))
            .collect();
        let permissions = ctx.policy.permissions(
            &resources,
            crate::authz::pdp::Subject {
                profile: self.profile.kind(),
                quality: self.profile.quality(),
            },
        );
        let audience = if self.audience.is_empty() {
            // Only `openid`: the token is good for the userinfo endpoint alone.
            vec![ctx.config.url("/oauth2/userinfo")]
        } else {
            self.audience.clone()
        };
        let keys = ctx
            .keystore
            .references(
                &ctx.db,
                &format!("ssin:{}", self.ssin),
                &self.client_id,
                ctx.clock.now(),
            )
            .await
            .map_err(|e| OAuthError::server_error("E-KEYS-CLAIM", &e))?;
        Ok(Grant {
            subject: self.ssin.to_string(),
            client_id: self.client_id.clone(),
            scopes: self.scopes(),
            audience,
            acr: Some(self.acr.as_str().to_owned()),
            identity: self.profile.identity(&self.ssin),
            permissions,
            keys,
            act: None,
            delegation: None,
            extra: Map::new(),
            jkt: jkt.map(str::to_owned),
        })
    }
}

/// What was issued, for the caller to remember (a code's reuse revokes it).
pub struct Issued {
    pub response: TokenResponse,
    pub access_jti: String,
    pub refresh_family: Option<String>,
}

/// A refresh token being rotated: the new one joins its family, ends when the family
/// does, and keeps the family's grant (RFC 6749 §6: "identical" scope), whatever the
/// access token minted with it was narrowed to.
pub struct Rotation<'a> {
    pub family: &'a str,
    pub expires_at: DateTime<Utc>,
    pub grant: &'a PersonGrant,
}

/// Mints the access token of `grant` (bound to `jkt`, the key of the request's DPoP
/// proof, when there was one), the id_token (scope `openid`) and a refresh token: a new
/// family's, or the next of `rotation`. A public client gets a refresh token only when its grant is bound
/// to a DPoP key (RFC 9449 §5): rotated on every use, its reuse revoking the family
/// (RFC 9700 §2.2.2), and good only with a proof by that key. Nothing is stored yet:
/// the caller stores the refresh token ([`Minted::store`]) in the transaction that
/// uses up its code or its predecessor, so that the exchange is one commit.
pub async fn mint_tokens(
    ctx: &AuthzContext,
    client_type: ClientType,
    grant: &PersonGrant,
    nonce: Option<&str>,
    rotation: Option<Rotation<'_>>,
    jkt: Option<&str>,
) -> Result<Minted, OAuthError> {
    let ring = ctx
        .keys
        .ring()
        .await
        .map_err(|e| OAuthError::server_error("E-KEYS", &e))?;
    let settings = &ctx.config.settings;
    let now = ctx.clock.now();
    let ttl = i64::from(settings.authz.access_token_ttl_seconds);
    let minted = mint(
        &ring,
        &ctx.config.issuer,
        now,
        ttl,
        grant.access_grant(ctx, jkt).await?,
    )
    .map_err(|e| OAuthError::server_error("E-SIGN", &e))?;
    let mut response = minted.response;
    if grant.scopes().contains(Scope::Openid) {
        let input = IdTokenInput {
            subject: grant.ssin.as_str(),
            client_id: &grant.client_id,
            auth_time: grant.auth_time,
            acr: grant.acr,
            amr: &grant.amr,
            nonce,
            access_token: &response.access_token,
        };
        response.id_token = Some(
            id_token::mint(&ring, &ctx.config.issuer, now, ttl, &input)
                .map_err(|e| OAuthError::server_error("E-SIGN", &e))?,
        );
    }
    let refreshable = match client_type {
        ClientType::Confidential => true,
        ClientType::Public => grant.jkt.is_some(),
        ClientType::System => false,
    };
    let refresh = if refreshable {
        let token =
            crate::crypto::random_token().map_err(|e| OAuthError::server_error("E-RAND", &e))?;
        let (family, expires_at, kept) = match rotation {
            Some(r) => (r.family.to_owned(), r.expires_at, r.grant),
            None => (
                uuid::Uuid::new_v4().to_string(),
                now + Duration::seconds(i64::from(settings.authz.refresh_token_ttl_seconds)),
                grant,
            ),
        };
        response.refresh_token = Some(token.clone());
        Some(PendingRefresh {
            digest: crate::crypto::token_digest(&token),
            family,
            grant: kept.clone(),
            expires_at,
        })
    } else {
        None
    };
    Ok(Minted {
        response,
        access_jti: minted.jti,
        refresh,
        now,
    })
}

/// Tokens minted, their refresh token not stored yet.
pub struct Minted {
    response: TokenResponse,
    access_jti: String,
    refresh: Option<PendingRefresh>,
    now: DateTime<Utc>,
}

struct PendingRefresh {
    digest: String,
    family: String,
    grant: PersonGrant,
    expires_at: DateTime<Utc>,
}

impl Minted {
    /// Stores the refresh token (when there is one) through `db`, the caller's
    /// transaction.
    pub async fn store(self, db: &impl ConnectionTrait) -> Result<Issued, OAuthError> {
        if let Some(refresh) = &self.refresh {
            let new = NewRefresh {
                digest: &refresh.digest,
                family: &refresh.family,
                grant: &refresh.grant,
                access_jti: &self.access_jti,
                expires_at: refresh.expires_at,
            };
            store::insert_refresh(db, &new, self.now)
                .await
                .map_err(|e| OAuthError::server_error("E-REFRESH-STORE", &e))?;
        }
        Ok(Issued {
            response: self.response,
            access_jti: self.access_jti,
            refresh_family: self.refresh.map(|r| r.family),
        })
    }
}

/// How long an access token revoked now could otherwise still be accepted.
pub fn access_expiry(ctx: &AuthzContext) -> DateTime<Utc> {
    let settings = &ctx.config.settings;
    ctx.clock.now()
        + Duration::seconds(
            i64::from(settings.authz.access_token_ttl_seconds)
                + i64::from(settings.authz.clock_leeway_seconds),
        )
}

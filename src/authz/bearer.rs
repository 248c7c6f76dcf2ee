//! The one access-token check every resource module uses (RFC 6750, RFC 9068 §4):
//! signature by one of our keys, `typ` `at+jwt`, `iss`, `exp`/`nbf` with a small
//! leeway against the injected clock, revocation, then audience and scope.
//! Failures are 401 (bad or missing token) or 403 (wrong audience or scope), each
//! with its `WWW-Authenticate` challenge.

use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use jsonwebtoken::{Algorithm, Validation};

use super::scope::{Resource, Scope};
use super::signing::SigningKeys;
use super::store;
use super::tokens::{AT_JWT, AccessTokenClaims};
use crate::cache::Memo;
use crate::clock::Clock;
use crate::problem::Problem;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("no bearer token")]
    Missing,
    #[error("{0}")]
    Invalid(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token has been revoked")]
    Revoked,
    #[error("the token's audience does not include {0}")]
    Audience(String),
    #[error("the token lacks the scope {0}")]
    Scope(Scope),
    /// The policy did not grant the token this permission (API.md "Permissions").
    #[error("the token lacks the permission {0}")]
    Permission(&'static str),
    #[error("internal: {0}")]
    Internal(String),
}

/// Checks our access tokens.
#[derive(Clone)]
pub struct TokenVerifier {
    pub issuer: Arc<str>,
    pub keys: Arc<SigningKeys>,
    pub revocations: store::Revocations,
    /// Tokens whose signature verified, with their claims (see `verify`).
    pub verified: Arc<Memo<String, AccessTokenClaims>>,
    pub clock: Clock,
    pub leeway_seconds: i64,
}

impl TokenVerifier {
    /// Everything but audience and scope: what introspection asks.
    pub async fn verify(&self, token: &str) -> Result<AccessTokenClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| TokenError::Invalid("the token is not a JWT".into()))?;
        let typ = header.typ.as_deref().unwrap_or_default();
        if !typ.eq_ignore_ascii_case(AT_JWT) && !typ.eq_ignore_ascii_case("application/at+jwt") {
            return Err(TokenError::Invalid(
                "the token is not an at+jwt access token".into(),
            ));
        }
        if header.alg != Algorithm::ES256 {
            return Err(TokenError::Invalid(
                "the token's algorithm is not ES256".into(),
            ));
        }
        let kid = header
            .kid
            .ok_or_else(|| TokenError::Invalid("the token names no key".into()))?;
        let ring = self
            .keys
            .ring_for(&kid)
            .await
            .map_err(|e| TokenError::Internal(e.to_string()))?;
        let key = ring.decoding_key(&kid).ok_or_else(|| {
            TokenError::Invalid("the token is signed by an unknown or withdrawn key".into())
        })?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[&*self.issuer]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        // Time and audience are checked below, against the injected clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        // A client sends the same token with every call until it expires: its
        // signature, verified once, holds for the same bytes under the same key, which
        // is still in the ring (checked above, so a withdrawn key refuses at once). Time
        // and revocation are checked below on every call.
        let claims = self.verified.get_or_try_insert(token, || {
            jsonwebtoken::decode::<AccessTokenClaims>(token, key, &validation)
                .map(|data| data.claims)
                .map_err(|e| match e.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidIssuer => {
                        TokenError::Invalid("the token was issued by someone else".into())
                    }
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                        TokenError::Invalid("the token's signature does not verify".into())
                    }
                    _ => TokenError::Invalid(format!("the token is malformed: {e}")),
                })
        })?;
        let now = self.clock.now().timestamp();
        if claims.exp + self.leeway_seconds <= now {
            return Err(TokenError::Expired);
        }
        if claims.nbf - self.leeway_seconds > now || claims.iat - self.leeway_seconds > now {
            return Err(TokenError::Invalid("the token is not valid yet".into()));
        }
        if self
            .revocations
            .is_revoked(&claims.jti)
            .await
            .map_err(|e| TokenError::Internal(e.to_string()))?
        {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    }

    /// The whole check of a resource server: the token, then its audience, scope and
    /// the permission the PDP granted it.
    pub async fn authorize(
        &self,
        token: Option<&str>,
        resource: Resource,
        scope: Scope,
        permission: &'static str,
    ) -> Result<AccessTokenClaims, TokenError> {
        let claims = self.verify(token.ok_or(TokenError::Missing)?).await?;
        let audience = resource.identifier(&self.issuer);
        if !claims.aud.contains(&audience) {
            return Err(TokenError::Audience(audience));
        }
        if !claims.scopes().contains(scope) {
            return Err(TokenError::Scope(scope));
        }
        if !claims.permissions.iter().any(|p| p == permission) {
            return Err(TokenError::Permission(permission));
        }
        Ok(claims)
    }

    /// [`authorize`](Self::authorize) for a request, with the error as a problem.
    pub async fn require(
        &self,
        req: &HttpRequest,
        resource: Resource,
        scope: Scope,
        permission: &'static str,
    ) -> Result<AccessTokenClaims, Problem> {
        let token = bearer_token(req).map_err(|e| challenge(e, resource))?;
        self.authorize(token, resource, scope, permission)
            .await
            .map_err(|e| challenge(e, resource))
    }
}

/// The token of an `Authorization: Bearer` header (RFC 6750 §2.1). Other ways of
/// sending it (query, form) are not accepted.
pub fn bearer_token(req: &HttpRequest) -> Result<Option<&str>, TokenError> {
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| TokenError::Invalid("the Authorization header is not text".into()))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(TokenError::Invalid(
            "the Authorization header is not a Bearer token".into(),
        )),
    }
}

fn quote(text: &str) -> String {
    text.replace(['"', '\\'], "'")
}

/// RFC 6750 §3: the problem and its `WWW-Authenticate` challenge.
pub fn challenge(error: TokenError, resource: Resource) -> Problem {
    challenge_realm(error, resource.path())
}

/// [`challenge`] for a realm that is not one of the resource servers.
pub fn challenge_realm(error: TokenError, realm: &str) -> Problem {
    let (status, slug, code) = match &error {
        TokenError::Missing => (StatusCode::UNAUTHORIZED, "unauthenticated", None),
        TokenError::Invalid(_) | TokenError::Expired | TokenError::Revoked => (
            StatusCode::UNAUTHORIZED,
            "invalid-token",
            Some("invalid_token"),
        ),
        TokenError::Audience(_) | TokenError::Scope(_) => (
            StatusCode::FORBIDDEN,
            "insufficient-scope",
            Some("insufficient_scope"),
        ),
        // RFC 6750 §3.1 has no code of its own for a permission the policy withheld:
        // the nearest, `insufficient_scope`, with the problem naming the permission.
        TokenError::Permission(_) => (
            StatusCode::FORBIDDEN,
            "insufficient-permission",
            Some("insufficient_scope"),
        ),
        TokenError::Internal(e) => return Problem::internal("E-TOKEN", e),
    };
    let mut header = format!("Bearer realm=\"{realm}\"");
    if let Some(code) = code {
        header.push_str(&format!(
            ", error=\"{code}\", error_description=\"{}\"",
            quote(&error.to_string())
        ));
    }
    if let TokenError::Scope(scope) = &error {
        header.push_str(&format!(", scope=\"{scope}\""));
    }
    Problem::new(status, slug, error.to_string()).with_header("www-authenticate", header)
}

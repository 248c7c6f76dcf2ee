//! The one access-token check every resource module uses (RFC 6750, RFC 9068 §4):
//! signature by one of our keys, `typ` `at+jwt`, `iss`, `exp`/`nbf` with a small
//! leeway against the injected clock, revocation, the client's and (for a token acting
//! for another organization) the delegation's standing, then audience and scope.
//! A DPoP-bound token (RFC 9449) comes with the `DPoP` scheme and a proof by its key.
//! Failures are 401 (bad or missing token or proof) or 403 (wrong audience, scope or
//! permission), each with its `WWW-Authenticate` challenge.

use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use jsonwebtoken::{Algorithm, Validation};

use super::delegation::store::DelegationStanding;
use super::dpop::{self, DpopError, DpopVerifier};
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
    /// API.md "Organizations acting for organizations": ended, or past its `notAfter`.
    #[error("the delegation this token was issued under has ended")]
    DelegationEnded,
    #[error("the token's audience does not include {0}")]
    Audience(String),
    #[error("the token lacks the scope {0}")]
    Scope(Scope),
    /// The policy did not grant the token this permission (API.md "Permissions").
    #[error("the token lacks the permission {0}")]
    Permission(&'static str),
    /// The DPoP proof (RFC 9449) failed.
    #[error("{0}")]
    Dpop(DpopError),
    /// `error`, for a token presented with `scheme` (which decides the challenge).
    #[error("{error}")]
    Failed {
        scheme: Scheme,
        error: Box<TokenError>,
    },
    #[error("internal: {0}")]
    Internal(crate::fault::Fault),
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
    /// Checks the proofs that come with DPoP-bound tokens.
    pub dpop: DpopVerifier,
    /// Whether a token's client still exists, as registered when it was issued.
    pub clients: store::Clients,
    /// Whether the delegation a token acting for another organization was issued
    /// under is still in force.
    pub delegations: DelegationStanding,
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
            .map_err(|e| TokenError::Internal(crate::fault::Fault::of(&e)))?;
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
            .map_err(|e| TokenError::Internal(crate::fault::Fault::of(&e)))?
        {
            return Err(TokenError::Revoked);
        }
        // A deleted client's tokens die with it, and a client registered again under the
        // same id does not inherit the tokens of the one before.
        match self
            .clients
            .registered_at(&claims.client_id)
            .await
            .map_err(|e| TokenError::Internal(crate::fault::Fault::of(&e)))?
        {
            None => {
                return Err(TokenError::Invalid(
                    "the token's client no longer exists".into(),
                ));
            }
            Some(registered) if claims.iat < registered => {
                return Err(TokenError::Invalid(
                    "the token was issued before its client was registered again".into(),
                ));
            }
            Some(_) => {}
        }
        // A token issued under a delegation lives no longer than the delegation: not
        // past its `notAfter`, and not once it is ended (at any instance: within
        // `DelegationStanding::TTL`).
        if let Some(id) = &claims.delegation {
            let standing = self
                .delegations
                .of(id)
                .await
                .map_err(|e| TokenError::Internal(crate::fault::Fault::of(&e)))?;
            if !standing.in_force_at(self.clock.now()) {
                return Err(TokenError::DelegationEnded);
            }
        }
        Ok(claims)
    }

    /// The whole check of a resource server: the token, then its audience, scope and
    /// the permission the PDP granted it.
    pub fn permits(
        &self,
        claims: &AccessTokenClaims,
        resource: Resource,
        scope: Scope,
        permission: &'static str,
    ) -> Result<(), TokenError> {
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
        Ok(())
    }

    /// The token a request presents, verified, with its proof of possession when it is
    /// DPoP-bound (RFC 9449 §7): a bound token comes with the `DPoP` scheme and a proof
    /// of this request by the key its `cnf.jkt` names; an unbound one as `Bearer`.
    pub async fn authenticate(&self, req: &HttpRequest) -> Result<Presented, TokenError> {
        let (scheme, token) = presented_token(req)?.ok_or(TokenError::Missing)?;
        let failed = |error| TokenError::Failed {
            scheme,
            error: Box::new(error),
        };
        let claims = self.verify(token).await.map_err(failed)?;
        let bound = claims.bound_to();
        match (scheme, bound) {
            (Scheme::Bearer, None) => {}
            (Scheme::Bearer, Some(_)) => {
                return Err(TokenError::Failed {
                    scheme: Scheme::Dpop,
                    error: Box::new(TokenError::Invalid(
                        "the token is DPoP-bound: send it with the DPoP scheme and a proof".into(),
                    )),
                });
            }
            (Scheme::Dpop, None) => {
                return Err(failed(TokenError::Invalid(
                    "the token is not DPoP-bound: send it as a Bearer token".into(),
                )));
            }
            (Scheme::Dpop, Some(jkt)) => {
                let proof = dpop::proof_of(req)
                    .map_err(TokenError::Dpop)?
                    .ok_or_else(|| {
                        TokenError::Dpop(DpopError::Invalid(
                            "a DPoP-bound token needs a DPoP proof header".into(),
                        ))
                    })?;
                let url = format!("{}{}", self.issuer, req.path());
                let target = dpop::Target {
                    method: req.method().as_str(),
                    url: &url,
                    access_token: Some(token),
                    bound_to: Some(jkt),
                };
                self.dpop
                    .check(proof, &target)
                    .await
                    .map_err(TokenError::Dpop)?;
            }
        }
        Ok(Presented { scheme, claims })
    }

    /// [`authenticate`](Self::authenticate) then [`permits`](Self::permits), with the
    /// error as a problem and its challenge.
    pub async fn require(
        &self,
        req: &HttpRequest,
        resource: Resource,
        scope: Scope,
        permission: &'static str,
    ) -> Result<AccessTokenClaims, Problem> {
        let fail = |e| challenge(e, resource);
        let presented = self.authenticate(req).await.map_err(fail)?;
        self.permits(&presented.claims, resource, scope, permission)
            .map_err(|error| {
                fail(TokenError::Failed {
                    scheme: presented.scheme,
                    error: Box::new(error),
                })
            })?;
        Ok(presented.claims)
    }
}

/// How a token was presented (RFC 6750 §2.1, RFC 9449 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    Dpop,
}

/// A verified token and how it came.
#[derive(Debug)]
pub struct Presented {
    pub scheme: Scheme,
    pub claims: AccessTokenClaims,
}

/// The token of an `Authorization: Bearer` or `Authorization: DPoP` header. Other
/// ways of sending it (query, form) are not accepted.
pub fn presented_token(req: &HttpRequest) -> Result<Option<(Scheme, &str)>, TokenError> {
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| TokenError::Invalid("the Authorization header is not text".into()))?;
    let scheme = |name: &str| {
        if name.eq_ignore_ascii_case("bearer") {
            Some(Scheme::Bearer)
        } else if name.eq_ignore_ascii_case("dpop") {
            Some(Scheme::Dpop)
        } else {
            None
        }
    };
    match value.split_once(' ') {
        Some((name, token)) if !token.trim().is_empty() => match scheme(name) {
            Some(scheme) => Ok(Some((scheme, token.trim()))),
            None => Err(TokenError::Invalid(
                "the Authorization header is neither a Bearer nor a DPoP token".into(),
            )),
        },
        _ => Err(TokenError::Invalid(
            "the Authorization header is neither a Bearer nor a DPoP token".into(),
        )),
    }
}

fn quote(text: &str) -> String {
    text.replace(['"', '\\'], "'")
}

/// RFC 6750 §3 and RFC 9449 §7.1: the problem and its `WWW-Authenticate` challenge.
pub fn challenge(error: TokenError, resource: Resource) -> Problem {
    challenge_realm(error, resource.path())
}

/// [`challenge`] for a realm that is not one of the resource servers. A request with no
/// token is told both schemes; a failure is answered in the scheme the token came with
/// (a DPoP-bound token sent as Bearer, and every proof failure, in DPoP's).
pub fn challenge_realm(error: TokenError, realm: &str) -> Problem {
    let (scheme, error) = match error {
        TokenError::Failed { scheme, error } => (Some(scheme), *error),
        TokenError::Dpop(e) => (Some(Scheme::Dpop), TokenError::Dpop(e)),
        other => (None, other),
    };
    let (status, slug, code) = match &error {
        TokenError::Missing => (StatusCode::UNAUTHORIZED, "unauthenticated", None),
        TokenError::Invalid(_)
        | TokenError::Expired
        | TokenError::Revoked
        | TokenError::DelegationEnded => (
            StatusCode::UNAUTHORIZED,
            "invalid-token",
            Some("invalid_token"),
        ),
        TokenError::Dpop(DpopError::Invalid(_)) => (
            StatusCode::UNAUTHORIZED,
            "invalid-dpop-proof",
            Some("invalid_dpop_proof"),
        ),
        TokenError::Dpop(DpopError::UseNonce(_)) => (
            StatusCode::UNAUTHORIZED,
            "use-dpop-nonce",
            Some("use_dpop_nonce"),
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
        TokenError::Dpop(DpopError::Internal(e)) | TokenError::Internal(e) => {
            return Problem::internal("E-TOKEN", e);
        }
        TokenError::Failed { .. } => unreachable!("unwrapped above"),
    };
    let algs = format!("algs=\"{}\"", dpop::ALGS.join(" "));
    let mut header = match scheme {
        Some(Scheme::Dpop) => format!("DPoP realm=\"{realm}\""),
        _ => format!("Bearer realm=\"{realm}\""),
    };
    if let Some(code) = code {
        header.push_str(&format!(
            ", error=\"{code}\", error_description=\"{}\"",
            quote(&error.to_string())
        ));
    }
    if let TokenError::Scope(scope) = &error {
        header.push_str(&format!(", scope=\"{scope}\""));
    }
    if scheme == Some(Scheme::Dpop) {
        header.push_str(&format!(", {algs}"));
    }
    let mut problem =
        Problem::new(status, slug, error.to_string()).with_header("www-authenticate", header);
    if scheme.is_none() {
        problem = problem.with_header(
            "www-authenticate",
            format!("DPoP realm=\"{realm}\", {algs}"),
        );
    }
    if let TokenError::Dpop(DpopError::UseNonce(nonce)) = &error {
        problem = problem.with_header("dpop-nonce", nonce.clone());
    }
    problem
}

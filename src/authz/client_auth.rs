//! Client authentication at the token, introspection and revocation endpoints:
//! `private_key_jwt` (RFC 7523 §2.2 and §3, OpenID Connect Core §9) for confidential and
//! system clients, `none` for public clients. Shared secrets (`client_secret_basic`,
//! `client_secret_post`, `client_secret_jwt`) are refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::client::{Client, ClientType};
use super::error::OAuthError;
use super::form::OAuthForm;
use super::jwks::SigAlg;
use super::tokens::Audience;
use crate::authz::context::AuthzContext;

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const MAX_ASSERTION_BYTES: usize = 8 * 1024;
/// Header members that would make us fetch or trust a key the assertion itself names.
const FORBIDDEN_HEADERS: &[&str] = &["jku", "x5u", "jwk", "x5c", "crit"];

/// The claims of a JWT a client signs about itself: a client assertion, or the
/// actor token of a token exchange (RFC 8693 §2.1), which follows the same rules.
#[derive(Debug, Deserialize)]
pub(crate) struct AssertionClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
    pub jti: Option<String>,
}

/// How the client proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    PrivateKeyJwt,
    None,
}

#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    pub client: Client,
    pub method: AuthMethod,
}

fn decode_segment(segment: &str) -> Result<Value, OAuthError> {
    B64.decode(segment)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| OAuthError::invalid_client("the client assertion is not a JWS"))
}

/// A client assertion as read before any key is looked up: not yet verified.
pub struct UnverifiedAssertion {
    header: Value,
    alg: SigAlg,
    claims: AssertionClaims,
}

/// Reads a client assertion's header and claims (RFC 7523 §3), without verifying it.
pub fn read_assertion(assertion: &str) -> Result<UnverifiedAssertion, OAuthError> {
    if assertion.len() > MAX_ASSERTION_BYTES {
        return Err(OAuthError::invalid_client(
            "the client assertion is too large",
        ));
    }
    let segments: Vec<&str> = assertion.split('.').collect();
    let [header, payload, _signature] = segments.as_slice() else {
        return Err(OAuthError::invalid_client(
            "the client assertion is not a compact JWS",
        ));
    };
    let header = decode_segment(header)?;
    let alg = header["alg"].as_str().unwrap_or_default();
    let alg = SigAlg::parse(alg).ok_or_else(|| {
        OAuthError::invalid_client(format!(
            "the assertion algorithm {alg:?} is not accepted (ES256, ES384, PS256, EdDSA)"
        ))
    })?;
    if let Some(member) = FORBIDDEN_HEADERS.iter().find(|m| header.get(**m).is_some()) {
        return Err(OAuthError::invalid_client(format!(
            "the assertion header member {member:?} is not accepted"
        )));
    }
    let claims: AssertionClaims =
        serde_json::from_value(decode_segment(payload)?).map_err(|e| {
            OAuthError::invalid_client(format!("the assertion claims are malformed: {e}"))
        })?;
    Ok(UnverifiedAssertion {
        header,
        alg,
        claims,
    })
}

/// Authenticates the caller of an OAuth endpoint (token, introspection, revocation).
pub async fn authenticate(
    ctx: &AuthzContext,
    authorization: Option<&str>,
    form: &OAuthForm,
) -> Result<AuthenticatedClient, OAuthError> {
    if authorization.is_some_and(|h| h.trim_start().to_ascii_lowercase().starts_with("basic"))
        || form.get("client_secret").is_some()
    {
        return Err(OAuthError::invalid_client(
            "client secrets are not accepted: authenticate with private_key_jwt",
        ));
    }
    let Some(assertion) = form.get("client_assertion") else {
        return authenticate_public(ctx, form).await;
    };
    if form.get("client_assertion_type") != Some(JWT_BEARER) {
        return Err(OAuthError::invalid_client(format!(
            "client_assertion_type must be {JWT_BEARER}"
        )));
    }
    let UnverifiedAssertion {
        header,
        alg,
        claims: unverified,
    } = read_assertion(assertion)?;
    if let Some(client_id) = form.get("client_id")
        && client_id != unverified.iss
    {
        return Err(OAuthError::invalid_client(
            "client_id does not match the assertion's iss",
        ));
    }

    let client = ctx
        .clients
        .get(&unverified.iss)
        .await
        .map_err(|e| OAuthError::server_error("E-CLIENT", &e))?
        .ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
    let jwks = match (&client.jwks, client.client_type) {
        (Some(jwks), ClientType::Confidential | ClientType::System) => jwks,
        _ => {
            return Err(OAuthError::invalid_client(
                "this client does not use private_key_jwt",
            ));
        }
    };
    let kid = header["kid"].as_str();
    let candidates: Vec<_> = jwks
        .keys
        .iter()
        .filter(|k| k.can_sign() && k.sig_alg == Some(alg))
        .filter(|k| kid.is_none_or(|kid| k.kid == kid))
        .collect();
    let verified = candidates.iter().any(|key| {
        key.verifier()
            .ok()
            .and_then(|v| josekit::jws::deserialize_compact(assertion, &*v).ok())
            .is_some()
    });
    if !verified {
        return Err(OAuthError::invalid_client(
            "the client assertion is not signed by a registered key of this client",
        ));
    }

    let expires_at = check_claims(ctx, &unverified)?;
    let jti = unverified.jti.as_deref().unwrap_or_default();
    // RFC 7523 §3 item 7: a jti is accepted once; kept until the assertion expires.
    let fresh = ctx
        .replays
        .first_use(&unverified.iss, jti, expires_at)
        .await
        .map_err(|e| OAuthError::server_error("E-JTI", &e))?;
    if !fresh {
        return Err(OAuthError::invalid_client(
            "the client assertion was already used (jti replay)",
        ));
    }
    Ok(AuthenticatedClient {
        client: Client::clone(&client),
        method: AuthMethod::PrivateKeyJwt,
    })
}

/// The time checks and the binding of the assertion to this server and client; the
/// instant until which its `jti` must be remembered.
pub(crate) fn check_claims(
    ctx: &AuthzContext,
    claims: &AssertionClaims,
) -> Result<DateTime<Utc>, OAuthError> {
    let settings = &ctx.config.settings;
    let leeway = i64::from(settings.authz.clock_leeway_seconds);
    let max_lifetime = i64::from(settings.authz.max_assertion_lifetime_seconds);
    let now = ctx.clock.now().timestamp();
    if claims.sub != claims.iss {
        return Err(OAuthError::invalid_client(
            "the assertion's sub must equal its iss",
        ));
    }
    // API.md, and the audience rule of the RFC 7523 update: one string, this server's
    // issuer or its token endpoint, whichever endpoint is called. An array, or another
    // endpoint's URL, could be an assertion meant for (or made by) someone else.
    let issuer = ctx.config.issuer.as_str();
    let token_endpoint = ctx.config.url("/oauth2/token");
    let single = match &claims.aud {
        Audience::One(aud) => Some(aud.as_str()),
        Audience::Many(_) => None,
    };
    if !single.is_some_and(|aud| aud == issuer || aud == token_endpoint) {
        return Err(OAuthError::invalid_client(format!(
            "the assertion's aud must be one string, {issuer} or {token_endpoint}"
        )));
    }
    let exp = claims
        .exp
        .ok_or_else(|| OAuthError::invalid_client("the assertion has no exp"))?;
    if exp + leeway <= now {
        return Err(OAuthError::invalid_client(
            "the client assertion has expired",
        ));
    }
    if exp - now > max_lifetime + leeway {
        return Err(OAuthError::invalid_client(format!(
            "the assertion's exp is more than {max_lifetime} s ahead"
        )));
    }
    if claims.nbf.is_some_and(|nbf| nbf - leeway > now)
        || claims.iat.is_some_and(|iat| iat - leeway > now)
    {
        return Err(OAuthError::invalid_client(
            "the client assertion is not valid yet",
        ));
    }
    match claims.jti.as_deref() {
        Some(jti) if !jti.is_empty() && jti.len() <= 256 => {}
        _ => {
            return Err(OAuthError::invalid_client(
                "the assertion needs a jti of 1 to 256 characters",
            ));
        }
    }
    DateTime::from_timestamp(exp + leeway, 0)
        .ok_or_else(|| OAuthError::invalid_client("the assertion's exp is out of range"))
}

/// `none`: a public client names itself and proves nothing but PKCE later.
async fn authenticate_public(
    ctx: &AuthzContext,
    form: &OAuthForm,
) -> Result<AuthenticatedClient, OAuthError> {
    let client_id = form.get("client_id").ok_or_else(|| {
        OAuthError::invalid_client("no client authentication: use private_key_jwt")
    })?;
    let client = ctx
        .clients
        .get(client_id)
        .await
        .map_err(|e| OAuthError::server_error("E-CLIENT", &e))?
        .ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
    if client.client_type != ClientType::Public {
        return Err(OAuthError::invalid_client(
            "this client must authenticate with private_key_jwt",
        ));
    }
    Ok(AuthenticatedClient {
        client: Client::clone(&client),
        method: AuthMethod::None,
    })
}

//! The actor token of a token exchange (RFC 8693 §2.1): a JWT the requesting client
//! signs about itself (`iss` = `sub` = its client_id, `aud` = the issuer, at most five
//! minutes of life, a `jti` accepted once), with the key the exchanged token will be
//! held by. API.md: a key registered in the keystore for this (person, client) pair
//! with use `sig` (a device key: the public-client case), or one of the client's own
//! registered keys (the confidential case). The `jti`s share the replay store of the
//! client assertions, so a client assertion is never accepted as an actor token or the
//! other way round.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use josekit::jws::JwsVerifier;
use serde_json::{Map, Value};

use crate::authz::client::{Client, ClientType};
use crate::authz::client_auth::{AssertionClaims, check_claims};
use crate::authz::context::AuthzContext;
use crate::authz::dpop::ALGS;
use crate::authz::error::{OAuthError, OAuthErrorCode};
use crate::authz::jwks::verifier_for;
use crate::keys::{KeyUse, Status};

/// RFC 8693 §3: the only actor token type accepted.
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
const MAX_ACTOR_TOKEN_BYTES: usize = 8 * 1024;
/// Header members that would make us trust a key the token itself names.
const FORBIDDEN_HEADERS: &[&str] = &["jku", "x5u", "jwk", "x5c", "crit"];

fn invalid(description: impl std::fmt::Display) -> OAuthError {
    OAuthError::new(
        OAuthErrorCode::InvalidGrant,
        format!("actor token: {description}"),
    )
}

/// The key that signed a valid actor token: the holder of what is issued.
#[derive(Debug, Clone)]
pub struct ActorKey {
    pub kid: String,
    /// The public JWK, with `x5c` when the key came with a certificate.
    pub jwk: Map<String, Value>,
    /// Its RFC 7638 thumbprint: the `cnf.jkt` of an exchanged access token.
    pub jkt: String,
}

/// Whose device keys may sign: the keystore owner of the subject token.
pub struct Pair<'a> {
    /// `ssin:<ssin>` for a person, `client:<client_id>` for a system client.
    pub owner: &'a str,
    pub client: &'a Client,
}

fn segment(part: &str, what: &str) -> Result<Value, OAuthError> {
    B64.decode(part)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| invalid(format!("the {what} is not base64url JSON")))
}

/// Verifies `token` as the actor token of `pair`; its `jti` is used up.
pub async fn verify(
    ctx: &AuthzContext,
    token: &str,
    pair: Pair<'_>,
) -> Result<ActorKey, OAuthError> {
    // Step 1: a compact JWS of a size worth reading, with a key id and an accepted alg.
    if token.len() > MAX_ACTOR_TOKEN_BYTES {
        return Err(invalid("too large"));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, _signature] = parts.as_slice() else {
        return Err(invalid("not a compact JWS"));
    };
    let header = segment(header, "header")?;
    let alg = header["alg"].as_str().unwrap_or_default();
    if let Some(member) = FORBIDDEN_HEADERS.iter().find(|m| header.get(**m).is_some()) {
        return Err(invalid(format!(
            "the header member {member:?} is not accepted"
        )));
    }
    let kid = header["kid"]
        .as_str()
        .ok_or_else(|| invalid("the header names no key (kid)"))?;
    let claims: AssertionClaims = serde_json::from_value(segment(payload, "payload")?)
        .map_err(|e| invalid(format!("the claims are malformed: {e}")))?;
    // Step 2: made by the requesting client about itself.
    if claims.iss != pair.client.id.as_str() {
        return Err(invalid("its iss is not the requesting client"));
    }
    // Step 3: the key, registered and active for the pair, or one of the client's own.
    let (key, verifier) = key_of(ctx, kid, alg, &pair).await?;
    josekit::jws::deserialize_compact(token, &*verifier)
        .map_err(|_| invalid("the signature does not verify with the key it names"))?;
    // Step 4: sub = iss, aud, lifetime, jti, as for a client assertion; then used up.
    let expires_at = check_claims(ctx, &claims).map_err(|e| invalid(e.error_description))?;
    let jti = claims.jti.as_deref().unwrap_or_default();
    let fresh = ctx
        .replays
        .first_use(pair.client.id.as_str(), jti, expires_at)
        .await
        .map_err(|e| OAuthError::server_error("E-JTI", &e))?;
    if !fresh {
        return Err(invalid("it was already used (jti replay)"));
    }
    Ok(key)
}

/// The key `kid` may sign for `pair`: a key of the keystore registered for this owner
/// and client, for signing, active now; else (a confidential or system client) a
/// signing key of the client's registered JWK Set. With the verifier for `alg`: one
/// of [`ALGS`] for a device key, the client key's own algorithm for a client key.
async fn key_of(
    ctx: &AuthzContext,
    kid: &str,
    alg: &str,
    pair: &Pair<'_>,
) -> Result<(ActorKey, Arc<dyn JwsVerifier>), OAuthError> {
    let now = ctx.clock.now();
    let row = crate::keys::store::get(&ctx.db, kid)
        .await
        .map_err(|e| OAuthError::server_error("E-ACTOR-KEY", &e))?;
    if let Some(row) = row
        && row.owner == pair.owner
        && row.client_id.as_deref() == Some(pair.client.id.as_str())
    {
        if !crate::keys::store::key_use(&row).serves(KeyUse::Sig) {
            return Err(invalid(format!(
                "the key {kid} is not registered for signing"
            )));
        }
        let status = crate::keys::store::status(&row, &ctx.keystore.policy, now);
        if status != Status::Active {
            return Err(invalid(format!(
                "the key {kid} is not active ({})",
                status.as_str()
            )));
        }
        let Value::Object(jwk) = row.jwk else {
            return Err(OAuthError::server_error(
                "E-ACTOR-KEY",
                &"a stored key's jwk is not an object",
            ));
        };
        if !ALGS.contains(&alg) {
            return Err(invalid(format!(
                "the algorithm {alg:?} is not accepted ({})",
                ALGS.join(", ")
            )));
        }
        let verifier = verifier_for(alg, &jwk).map_err(invalid)?;
        let key = ActorKey {
            kid: row.kid,
            jwk,
            jkt: row.jkt,
        };
        return Ok((key, verifier));
    }
    let own = match (&pair.client.jwks, pair.client.client_type) {
        (Some(jwks), ClientType::Confidential | ClientType::System) => {
            jwks.find(kid).filter(|k| k.can_sign())
        }
        _ => None,
    };
    match own {
        Some(key) => {
            if key.sig_alg.map(|a| a.as_str()) != Some(alg) {
                return Err(invalid(format!(
                    "the key {kid} signs with another algorithm than {alg:?}"
                )));
            }
            let verifier = key
                .verifier()
                .map_err(|e| OAuthError::server_error("E-ACTOR-KEY", &e))?;
            let actor = ActorKey {
                kid: key.kid.clone(),
                jwk: key.jwk.clone(),
                jkt: key.jkt.clone(),
            };
            Ok((actor, verifier))
        }
        None => Err(invalid(format!(
            "the key {kid} is not registered and active for this person and client"
        ))),
    }
}

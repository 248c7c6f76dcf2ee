//! RFC 6749 §4.1.3 with RFC 7636 §4.6: redeeming an authorization code. The code is
//! single use, lives 60 s, and is bound to the client, the redirect URI and the PKCE
//! challenge; a code presented twice revokes what it issued (RFC 6749 §4.1.2).

use sea_orm::TransactionTrait;

use super::person::{self, access_expiry};
use super::store;
use crate::authz::client::ClientType;
use crate::authz::client_auth::AuthenticatedClient;
use crate::authz::context::AuthzContext;
use crate::authz::error::{OAuthError, OAuthErrorCode};
use crate::authz::form::OAuthForm;
use crate::authz::tokens::TokenResponse;
use crate::crypto::{secrets_equal, token_digest};

fn invalid_grant(description: &str) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidGrant, description)
}

/// RFC 7636 §4.1: 43 to 128 characters of the unreserved set.
fn well_formed_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// RFC 7636 §4.2: `BASE64URL(SHA256(verifier))`.
pub fn s256(verifier: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(openssl::sha::sha256(verifier.as_bytes()))
}

/// Redeems the code; `jkt` is the thumbprint of the request's DPoP proof key, if any.
pub async fn exchange(
    ctx: &AuthzContext,
    client: &AuthenticatedClient,
    form: &OAuthForm,
    jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let client = &client.client;
    // Step 1: only clients acting for persons redeem codes.
    if client.client_type == ClientType::System {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "a system client cannot use the authorization_code grant",
        ));
    }
    // Step 2: the parameters.
    let code = form.require("code")?;
    let redirect_uri = form.require("redirect_uri")?;
    let verifier = form
        .get("code_verifier")
        .ok_or_else(|| OAuthError::invalid_request("code_verifier is required (PKCE, RFC 7636)"))?;
    if !well_formed_verifier(verifier) {
        return Err(OAuthError::invalid_request(
            "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~",
        ));
    }
    // Step 3: the code, and what it is bound to.
    let digest = token_digest(code);
    let stored = store::find_code(&ctx.db, &digest)
        .await
        .map_err(|e| OAuthError::server_error("E-CODE-STORE", &e))?
        .ok_or_else(|| invalid_grant("the code is unknown or has expired"))?;
    if stored.used_at.is_some() {
        return Err(reused(ctx, &stored).await);
    }
    if stored.client_id != client.id.as_str() {
        return Err(invalid_grant("the code was issued to another client"));
    }
    if stored.expires_at <= ctx.clock.now() {
        return Err(invalid_grant("the code has expired"));
    }
    if stored.grant.redirect_uri != redirect_uri {
        return Err(invalid_grant(
            "redirect_uri differs from the one of the authorization request",
        ));
    }
    if !secrets_equal(&s256(verifier), &stored.grant.code_challenge) {
        return Err(invalid_grant(
            "the code_verifier does not match the code_challenge (PKCE)",
        ));
    }
    // Step 4: the tokens. A public client's refresh tokens are bound to the proof's
    // key (RFC 9449 §5).
    let mut grant = stored.grant.person.clone();
    if client.client_type == ClientType::Public {
        grant.jkt = jkt.map(str::to_owned);
    }
    let minted = person::mint_tokens(
        ctx,
        client.client_type,
        &grant,
        stored.grant.nonce.as_deref(),
        None,
        jkt,
    )
    .await?;
    // Step 5, one transaction: the code used up (decided by the database, so two
    // instances cannot both win), the refresh token stored, and what the code issued
    // remembered against it. Nothing is changed unless all of it is.
    let txn = ctx
        .db
        .begin()
        .await
        .map_err(|e| OAuthError::server_error("E-CODE-STORE", &e))?;
    if !store::consume_code(&txn, &digest, ctx.clock.now())
        .await
        .map_err(|e| OAuthError::server_error("E-CODE-STORE", &e))?
    {
        drop(txn);
        return Err(reused(ctx, &stored).await);
    }
    let issued = minted.store(&txn).await?;
    store::record_code_issue(
        &txn,
        &digest,
        &issued.access_jti,
        issued.refresh_family.as_deref(),
    )
    .await
    .map_err(|e| OAuthError::server_error("E-CODE-STORE", &e))?;
    txn.commit()
        .await
        .map_err(|e| OAuthError::server_error("E-CODE-STORE", &e))?;
    Ok(issued.response)
}

/// A code presented a second time: whoever has it, what it issued is withdrawn.
async fn reused(ctx: &AuthzContext, stored: &store::StoredCode) -> OAuthError {
    let now = ctx.clock.now();
    let expiry = access_expiry(ctx);
    let mut result = Ok(0);
    if let Some(jti) = &stored.access_jti {
        result = crate::authz::store::revoke_token(&ctx.db, jti, &stored.client_id, now, expiry)
            .await
            .map(|()| 1)
            .map_err(store::StoreError::from);
    }
    if let Some(family) = &stored.refresh_family
        && result.is_ok()
    {
        result = store::revoke_family(&ctx.db, family, now, expiry).await;
    }
    if let Err(e) = result {
        return OAuthError::server_error("E-CODE-REVOKE", &e);
    }
    tracing::warn!(client_id = %stored.client_id, "authorization code reused: its tokens are revoked");
    invalid_grant("the code was already used; the tokens issued with it are revoked")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    #[test]
    fn s256_of_the_rfc_example() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(well_formed_verifier(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        ));
        assert!(!well_formed_verifier("short"));
        assert!(!well_formed_verifier(&"é".repeat(43)));
    }
}

//! The upstream's ID token, checked as OIDC Core §3.1.3.7 says, by the `openidconnect`
//! crate where it can: a signature by a key of the upstream's JWK Set with one of the
//! asymmetric algorithms its discovery document advertises (never `none`, never HMAC,
//! whatever it advertises; step 6 would allow trusting TLS instead, which we do not),
//! `iss` (step 2), `aud` with no audience we do not trust (step 3), `azp` when present
//! (step 5, which the crate leaves to us), `exp` and `iat` with a minute of clock skew
//! (steps 9, 10), the `nonce` of this login (step 11), and `at_hash` when present
//! (§3.1.3.8).

use chrono::{DateTime, Utc};
use openidconnect::core::{CoreIdTokenVerifier, CoreJwsSigningAlgorithm, CoreProviderMetadata};
use openidconnect::{
    AccessToken, AccessTokenHash, ClaimsVerificationError, ClientId, Nonce,
    SignatureVerificationError,
};
use serde_json::{Map, Value};

use super::config::Federation;
use super::error::FederationError;

/// The allowed difference between the upstream's clock and ours (RFC 7519 §4.1.4).
const CLOCK_LEEWAY: chrono::Duration = chrono::Duration::seconds(60);

/// Why an ID token is refused when no key of the cached JWK Set matches it (the caller
/// then fetches the keys again: the upstream may have rotated).
pub const UNKNOWN_KEY: &str = "no key of the upstream's JWK Set matches its kid and alg";

fn unavailable(what: impl std::fmt::Display) -> FederationError {
    FederationError::Unavailable(what.to_string())
}

/// The asymmetric algorithms the upstream advertises for ID tokens.
fn allowed_algs(metadata: &CoreProviderMetadata) -> Vec<CoreJwsSigningAlgorithm> {
    metadata
        .id_token_signing_alg_values_supported()
        .iter()
        .filter(|alg| {
            !matches!(
                alg,
                CoreJwsSigningAlgorithm::None
                    | CoreJwsSigningAlgorithm::HmacSha256
                    | CoreJwsSigningAlgorithm::HmacSha384
                    | CoreJwsSigningAlgorithm::HmacSha512
            )
        })
        .cloned()
        .collect()
}

/// OIDC Core §3.1.3.7 on `id_token` at time `now`; answers its verified claims.
pub fn verify(
    id_token: &str,
    metadata: &CoreProviderMetadata,
    config: &Federation,
    nonce: &str,
    access_token: &AccessToken,
    now: DateTime<Utc>,
) -> Result<Map<String, Value>, FederationError> {
    let refused = |what: String| FederationError::IdToken(what);
    let token: openidconnect::core::CoreIdToken = id_token
        .parse()
        .map_err(|e| refused(format!("not a signed JWT: {e}")))?;
    let algs = allowed_algs(metadata);
    if algs.is_empty() {
        return Err(unavailable(
            "the upstream advertises no asymmetric ID token algorithm",
        ));
    }
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new(config.client_id.clone()),
        metadata.issuer().clone(),
        metadata.jwks().clone(),
    )
    .set_allowed_algs(algs)
    .set_time_fn(move || now - CLOCK_LEEWAY)
    .set_issue_time_verifier_fn(move |iat| {
        if iat > now + CLOCK_LEEWAY {
            Err(format!("issued in the future ({iat})"))
        } else {
            Ok(())
        }
    });
    let claims = token
        .claims(&verifier, &Nonce::new(nonce.to_owned()))
        .map_err(|e| match e {
            ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            ) => refused(UNKNOWN_KEY.into()),
            other => refused(other.to_string()),
        })?;
    // Step 5 (the library leaves `azp` to its callers): when present, it is us.
    if let Some(azp) = claims.authorized_party()
        && azp.as_str() != config.client_id
    {
        return Err(refused(format!(
            "its authorized party (azp) is {}, not this client",
            azp.as_str()
        )));
    }
    if let Some(stated) = claims.access_token_hash() {
        let alg = token.signing_alg().map_err(|e| refused(e.to_string()))?;
        let key = token
            .signing_key(&verifier)
            .map_err(|e| refused(e.to_string()))?;
        let actual = AccessTokenHash::from_token(access_token, alg, key)
            .map_err(|e| refused(format!("at_hash: {e}")))?;
        if actual != *stated {
            return Err(refused("at_hash is not that of the access token".into()));
        }
    }
    // The signature covers these bytes: the claims are read from them as sent.
    payload(id_token).ok_or_else(|| refused("its payload is not a JSON object".into()))
}

fn payload(jwt: &str) -> Option<Map<String, Value>> {
    use base64::Engine as _;
    let part = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use josekit::jws::{ES256, JwsHeader};
    use secrecy::SecretString;
    use serde_json::json;

    use super::super::config::ClientAuth;
    use super::*;
    use crate::authz::scope::Acr;

    const ISSUER: &str = "https://idp.example";

    struct Signer {
        pem: Vec<u8>,
        public: Value,
    }

    fn signer(kid: &str) -> Signer {
        let pair = ES256.generate_key_pair().unwrap();
        let mut public: Value =
            serde_json::from_str(&pair.to_jwk_public_key().to_string()).unwrap();
        public["kid"] = json!(kid);
        public["alg"] = json!("ES256");
        public["use"] = json!("sig");
        Signer {
            pem: pair.to_pem_private_key(),
            public,
        }
    }

    fn metadata(keys: &[&Signer], algs: &[&str]) -> CoreProviderMetadata {
        let keys: Vec<&Value> = keys.iter().map(|k| &k.public).collect();
        let metadata: CoreProviderMetadata = serde_json::from_value(json!({
            "issuer": ISSUER,
            "authorization_endpoint": format!("{ISSUER}/auth"),
            "token_endpoint": format!("{ISSUER}/token"),
            "jwks_uri": format!("{ISSUER}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": algs,
        }))
        .unwrap();
        metadata.set_jwks(serde_json::from_value(json!({ "keys": keys })).unwrap())
    }

    fn federation() -> Federation {
        Federation {
            issuer: ISSUER.into(),
            client_id: "depot".into(),
            client_secret: Some(SecretString::from("s")),
            client_auth: ClientAuth::ClientSecretBasic,
            scopes: vec![],
            name: "IdP".into(),
            ssin_claim: "national_number".into(),
            profiles_claim: None,
            acr_map: BTreeMap::from([("urn:loa:2".to_owned(), Acr::Substantial)]),
        }
    }

    fn sign(key: &Signer, claims: &Value) -> String {
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        header.set_key_id(key.public["kid"].as_str().unwrap());
        let signer = ES256.signer_from_pem(&key.pem).unwrap();
        josekit::jws::serialize_compact(claims.to_string().as_bytes(), &header, &signer).unwrap()
    }

    fn claims(now: DateTime<Utc>) -> Value {
        json!({
            "iss": ISSUER, "sub": "upstream-subject", "aud": "depot",
            "iat": now.timestamp(), "exp": now.timestamp() + 300,
            "nonce": "n-1", "acr": "urn:loa:2", "national_number": "85073003328",
            "at_hash": B64.encode(&openssl::sha::sha256(b"the-access-token")[..16]),
        })
    }

    fn check(
        token: &str,
        metadata: &CoreProviderMetadata,
        now: DateTime<Utc>,
    ) -> Result<Map<String, Value>, FederationError> {
        let access = AccessToken::new("the-access-token".into());
        verify(token, metadata, &federation(), "n-1", &access, now)
    }

    fn refusal(token: &str, metadata: &CoreProviderMetadata, now: DateTime<Utc>) -> String {
        match check(token, metadata, now) {
            Err(FederationError::IdToken(why)) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_token_of_the_upstream_for_this_login_gives_its_claims() {
        let now = Utc::now();
        let key = signer("k1");
        let token = sign(&key, &claims(now));
        let verified = check(&token, &metadata(&[&key], &["ES256"]), now).unwrap();
        assert_eq!(verified["national_number"], "85073003328");
        assert_eq!(verified["acr"], "urn:loa:2");
    }

    #[test]
    fn another_issuer_audience_party_nonce_or_at_hash_is_refused() {
        let now = Utc::now();
        let key = signer("k1");
        let keys = metadata(&[&key], &["ES256"]);
        for (member, value, says) in [
            ("iss", json!("https://other.example"), "issuer"),
            ("aud", json!("other-client"), "audience"),
            ("aud", json!(["depot", "other-client"]), "audience"),
            ("azp", json!("other-client"), "authorized party"),
            ("nonce", json!("n-2"), "nonce"),
            ("at_hash", json!("AAAAAAAAAAAAAAAAAAAAAA"), "at_hash"),
        ] {
            let mut changed = claims(now);
            changed[member] = value.clone();
            let why = refusal(&sign(&key, &changed), &keys, now).to_lowercase();
            assert!(why.contains(says), "{member}={value}: {why}");
        }
    }

    #[test]
    fn a_bad_signature_an_unknown_key_or_an_unadvertised_alg_is_refused() {
        let now = Utc::now();
        let key = signer("k1");
        let keys = metadata(&[&key], &["ES256"]);
        // Another key under the upstream's kid.
        let forged = sign(&signer("k1"), &claims(now));
        assert!(
            refusal(&forged, &keys, now)
                .to_lowercase()
                .contains("signature")
        );
        // Claims altered after signing.
        let token = sign(&key, &claims(now));
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut changed = claims(now);
        changed["national_number"] = json!("85073003427");
        parts[1] = B64.encode(changed.to_string());
        refusal(&parts.join("."), &keys, now);
        // A kid the JWK Set does not hold: the caller fetches the keys again.
        assert_eq!(
            refusal(&sign(&signer("k9"), &claims(now)), &keys, now),
            UNKNOWN_KEY
        );
        // ES256 is not among the algorithms the upstream advertises.
        refusal(&token, &metadata(&[&key], &["RS256"]), now);
    }

    #[test]
    fn none_and_hmac_are_never_accepted() {
        let now = Utc::now();
        let key = signer("k1");
        // Even when the upstream advertises them.
        let keys = metadata(&[&key], &["ES256", "HS256", "none"]);
        let body = B64.encode(claims(now).to_string());
        let none = format!("{}.{body}.", B64.encode(r#"{"alg":"none"}"#));
        refusal(&none, &keys, now);
        let hs = format!(
            "{}.{body}.c2ln",
            B64.encode(r#"{"alg":"HS256","kid":"k1"}"#)
        );
        refusal(&hs, &keys, now);
        let only_weak = metadata(&[&key], &["HS256", "none"]);
        assert!(matches!(
            check(&sign(&key, &claims(now)), &only_weak, now),
            Err(FederationError::Unavailable(_))
        ));
    }

    #[test]
    fn an_expired_or_future_token_is_refused() {
        let now = Utc::now();
        let key = signer("k1");
        let keys = metadata(&[&key], &["ES256"]);
        let token = sign(&key, &claims(now));
        let later =
            now + chrono::Duration::seconds(300) + CLOCK_LEEWAY + chrono::Duration::seconds(1);
        assert!(refusal(&token, &keys, later).contains("expired"));
        let earlier = now - CLOCK_LEEWAY - chrono::Duration::seconds(5);
        assert!(refusal(&token, &keys, earlier).contains("future"));
    }
}

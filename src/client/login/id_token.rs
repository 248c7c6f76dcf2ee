//! The id_token of a login, checked by a relying-party library (the `openidconnect`
//! crate) as OpenID Connect Core §3.1.3.7 says: signed with ES256 by a key of the
//! issuer's JWK Set (`{issuer}/oauth2/jwks`; step 6 would allow trusting the TLS
//! connection instead, but a token is only as good as the check that reads it), issued
//! by the issuer (step 2), for this client alone (step 3), unexpired (step 9, with a
//! small leeway for clocks that disagree), and carrying this login's nonce (step 11).
//! When it has an `at_hash`, that binds it to the access token issued with it (§3.1.3.8).

use chrono::{DateTime, Duration, Utc};
use openidconnect::core::{
    CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
};
use openidconnect::{AccessToken, AccessTokenHash, ClientId, IssuerUrl, Nonce};

use super::LoginError;
use super::token_endpoint::{endpoint, send_json};

/// How far the client's clock may be behind (expiry) or ahead of (issue time) the
/// server's before a fresh id_token is refused (RFC 7519 §4.1.4: "some small leeway").
pub const CLOCK_LEEWAY: Duration = Duration::seconds(60);

/// What the id_token of one login must say.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The issuer as the server names itself (no trailing slash).
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// The `nonce` of this login's authorization request.
    pub nonce: &'a str,
    /// The access token issued with it, for `at_hash`.
    pub access_token: &'a str,
}

/// The issuer's signing keys, from its JWK Set (`{issuer}/oauth2/jwks`). Keys of types
/// the library does not know are left out.
pub async fn fetch_jwks(
    http: &reqwest::Client,
    issuer: &str,
) -> Result<CoreJsonWebKeySet, LoginError> {
    let url = endpoint(issuer, "/oauth2/jwks");
    let (status, body) = send_json(http.get(&url), &url).await?;
    let unexpected = |detail: String| LoginError::UnexpectedResponse {
        url: url.clone(),
        status: status.as_u16(),
        detail,
    };
    if !status.is_success() {
        return Err(unexpected("no JWK Set".into()));
    }
    serde_json::from_slice(&body).map_err(|e| unexpected(format!("not a JWK Set: {e}")))
}

/// Checks `id_token` (see the module documentation) at time `now`, with the issuer's
/// keys `jwks`; answers the subject it names.
pub fn verify(
    id_token: &str,
    jwks: CoreJsonWebKeySet,
    expected: &Expected<'_>,
    now: DateTime<Utc>,
) -> Result<String, LoginError> {
    let refused = |what: String| LoginError::IdToken(what);
    let token: CoreIdToken = id_token
        .parse()
        .map_err(|e| refused(format!("not a signed JWT: {e}")))?;
    let issuer = IssuerUrl::new(expected.issuer.to_owned())
        .map_err(|e| refused(format!("the issuer {} is not a URL: {e}", expected.issuer)))?;
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new(expected.client_id.to_owned()),
        issuer,
        jwks,
    )
    // The server signs with ES256 (API.md); a token cannot choose another algorithm.
    .set_allowed_algs([CoreJwsSigningAlgorithm::EcdsaP256Sha256])
    .set_time_fn(move || now - CLOCK_LEEWAY)
    .set_issue_time_verifier_fn(move |iat| {
        if iat > now + CLOCK_LEEWAY {
            Err(format!("issued in the future ({iat})"))
        } else {
            Ok(())
        }
    });
    let claims = token
        .claims(&verifier, &Nonce::new(expected.nonce.to_owned()))
        .map_err(|e| refused(e.to_string()))?;
    if let Some(stated) = claims.access_token_hash() {
        let alg = token
            .signing_alg()
            .map_err(|e| refused(format!("at_hash: {e}")))?;
        let key = token
            .signing_key(&verifier)
            .map_err(|e| refused(format!("at_hash: {e}")))?;
        let actual = AccessTokenHash::from_token(
            &AccessToken::new(expected.access_token.to_owned()),
            alg,
            key,
        )
        .map_err(|e| refused(format!("at_hash: {e}")))?;
        if actual != *stated {
            return Err(refused(
                "its at_hash is not that of the access token issued with it".into(),
            ));
        }
    }
    Ok(claims.subject().to_string())
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use josekit::jws::{ES256, JwsHeader};
    use serde_json::{Value, json};

    use super::*;

    const ISSUER: &str = "https://depot.example";

    struct Signer {
        kid: String,
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
            kid: kid.into(),
            pem: pair.to_pem_private_key(),
            public,
        }
    }

    fn jwks(keys: &[&Signer]) -> CoreJsonWebKeySet {
        let keys: Vec<&Value> = keys.iter().map(|k| &k.public).collect();
        serde_json::from_value(json!({ "keys": keys })).unwrap()
    }

    fn sign(key: &Signer, claims: &Value) -> String {
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        header.set_key_id(&key.kid);
        let signer = ES256.signer_from_pem(&key.pem).unwrap();
        josekit::jws::serialize_compact(claims.to_string().as_bytes(), &header, &signer).unwrap()
    }

    fn at_hash(access_token: &str) -> String {
        B64.encode(&openssl::sha::sha256(access_token.as_bytes())[..16])
    }

    fn claims(now: DateTime<Utc>) -> Value {
        json!({
            "iss": ISSUER, "sub": "85073003328", "aud": "app", "azp": "app",
            "iat": now.timestamp(), "exp": now.timestamp() + 300, "auth_time": now.timestamp(),
            "nonce": "n-1", "acr": "http://eidas.europa.eu/LoA/low", "amr": ["pwd"],
            "at_hash": at_hash("the-access-token"),
        })
    }

    fn expected() -> Expected<'static> {
        Expected {
            issuer: ISSUER,
            client_id: "app",
            nonce: "n-1",
            access_token: "the-access-token",
        }
    }

    #[test]
    fn a_token_signed_by_the_issuers_key_for_this_login_passes() {
        let now = Utc::now();
        let key = signer("k1");
        let rotated = signer("k2");
        let token = sign(&key, &claims(now));
        let subject = verify(&token, jwks(&[&rotated, &key]), &expected(), now).unwrap();
        assert_eq!(subject, "85073003328");
        // A client whose clock is a little behind or ahead still takes it.
        assert!(
            verify(
                &token,
                jwks(&[&key]),
                &expected(),
                now + Duration::seconds(330)
            )
            .is_ok()
        );
        assert!(
            verify(
                &token,
                jwks(&[&key]),
                &expected(),
                now - Duration::seconds(50)
            )
            .is_ok()
        );
    }

    fn refusal(
        token: &str,
        keys: CoreJsonWebKeySet,
        expected: &Expected<'_>,
        now: DateTime<Utc>,
    ) -> String {
        match verify(token, keys, expected, now) {
            Err(e @ LoginError::IdToken(_)) => e.to_string(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_bad_signature_is_refused() {
        let now = Utc::now();
        let key = signer("k1");
        // Another key under the issuer's kid: the signature does not verify.
        let impostor = signer("k1");
        let forged = sign(&impostor, &claims(now));
        let why = refusal(&forged, jwks(&[&key]), &expected(), now);
        assert!(why.to_lowercase().contains("signature"), "{why}");
        // A signature altered in transit.
        let token = sign(&key, &claims(now));
        let (rest, signature) = token.rsplit_once('.').unwrap();
        let mut bytes = B64.decode(signature).unwrap();
        bytes[10] ^= 1;
        let altered = format!("{rest}.{}", B64.encode(bytes));
        refusal(&altered, jwks(&[&key]), &expected(), now);
        // Claims altered after signing.
        let (header, _) = token.split_once('.').unwrap();
        let mut changed = claims(now);
        changed["sub"] = json!("85073003427");
        let swapped = format!(
            "{header}.{}.{}",
            B64.encode(changed.to_string()),
            token.rsplit('.').next().unwrap()
        );
        refusal(&swapped, jwks(&[&key]), &expected(), now);
        // A key the issuer does not publish.
        let unknown = sign(&signer("k9"), &claims(now));
        refusal(&unknown, jwks(&[&key]), &expected(), now);
    }

    #[test]
    fn an_unsigned_or_mac_token_is_refused() {
        let now = Utc::now();
        let key = signer("k1");
        let body = B64.encode(claims(now).to_string());
        let none = format!("{}.{body}.", B64.encode(r#"{"alg":"none"}"#));
        refusal(&none, jwks(&[&key]), &expected(), now);
        let hs = format!(
            "{}.{body}.c2ln",
            B64.encode(r#"{"alg":"HS256","kid":"k1"}"#)
        );
        refusal(&hs, jwks(&[&key]), &expected(), now);
        refusal("not-a-jwt", jwks(&[&key]), &expected(), now);
    }

    #[test]
    fn another_issuer_audience_or_nonce_is_refused() {
        let now = Utc::now();
        let key = signer("k1");
        for (member, value, says) in [
            ("iss", json!("https://other.example"), "issuer"),
            ("aud", json!("other-app"), "audience"),
            ("aud", json!(["app", "other-app"]), "audience"),
            ("nonce", json!("n-2"), "nonce"),
            ("at_hash", json!(at_hash("another-access-token")), "at_hash"),
        ] {
            let mut changed = claims(now);
            changed[member] = value.clone();
            let why = refusal(&sign(&key, &changed), jwks(&[&key]), &expected(), now);
            assert!(why.to_lowercase().contains(says), "{member}={value}: {why}");
        }
        let mut without_nonce = claims(now);
        without_nonce.as_object_mut().unwrap().remove("nonce");
        refusal(&sign(&key, &without_nonce), jwks(&[&key]), &expected(), now);
    }

    #[test]
    fn an_expired_or_future_token_is_refused() {
        let now = Utc::now();
        let key = signer("k1");
        let token = sign(&key, &claims(now));
        let later = now + Duration::seconds(300) + CLOCK_LEEWAY + Duration::seconds(1);
        let why = refusal(&token, jwks(&[&key]), &expected(), later);
        assert!(why.contains("expired"), "{why}");
        let earlier = now - CLOCK_LEEWAY - Duration::seconds(5);
        let why = refusal(&token, jwks(&[&key]), &expected(), earlier);
        assert!(why.contains("future"), "{why}");
    }
}

//! The depot as a relying party of the upstream OpenID Provider, through the
//! `openidconnect` crate: discovery (`/.well-known/openid-configuration`, checked to
//! name the configured issuer) and the JWK Set of its `jwks_uri`, cached for a few
//! minutes and fetched again when an ID token names a key not seen yet; the
//! authorization URL (code flow, PKCE S256, `state`, `nonce`); the code exchange
//! (client_secret_basic, client_secret_post, or private_key_jwt signed with the depot's
//! own signing key, RFC 7523 with `aud` = the upstream issuer); the ID token's checks
//! (`id_token`); and, for claims the ID token does not carry, the UserInfo answer, whose
//! `sub` must be the ID token's (OIDC Core §5.3.2).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use super::config::{ClientAuth, Federation};
use super::error::FederationError;
use super::http::OidcHttp;
use super::id_token::{UNKNOWN_KEY, verify};
use crate::authz::scope::Acr;
use crate::authz::signing::SigningKeys;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long discovery and the JWK Set are trusted before they are fetched again.
const METADATA_TTL: Duration = Duration::from_secs(300);

/// The callback path, under the issuer: the redirect URI registered upstream.
pub const CALLBACK_PATH: &str = "/login/federation/callback";

/// What the authorization request upstream needs remembered until the callback.
pub struct Outgoing {
    pub url: String,
    pub pkce_verifier: String,
}

pub struct Upstream {
    pub config: Federation,
    redirect_uri: RedirectUrl,
    http: OidcHttp,
    /// The depot's own signing keys, for `private_key_jwt`.
    keys: Arc<SigningKeys>,
    metadata: Mutex<Option<(Instant, Arc<CoreProviderMetadata>)>>,
}

fn unavailable(what: impl std::fmt::Display) -> FederationError {
    FederationError::Unavailable(what.to_string())
}

impl Upstream {
    /// `issuer` is this service's (the redirect URI is built from it).
    pub fn new(config: Federation, issuer: &str, keys: Arc<SigningKeys>) -> anyhow::Result<Self> {
        Ok(Self {
            keys,
            redirect_uri: RedirectUrl::new(format!("{issuer}{CALLBACK_PATH}"))?,
            http: OidcHttp::new()?,
            config,
            metadata: Mutex::new(None),
        })
    }

    /// The upstream's metadata and keys: cached, or discovered now (`fresh`: always).
    async fn metadata(&self, fresh: bool) -> Result<Arc<CoreProviderMetadata>, FederationError> {
        let mut cached = self.metadata.lock().await;
        if let Some((at, metadata)) = cached.as_ref()
            && !fresh
            && at.elapsed() < METADATA_TTL
        {
            return Ok(metadata.clone());
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone()).map_err(unavailable)?;
        let metadata = Arc::new(
            CoreProviderMetadata::discover_async(issuer, &self.http)
                .await
                .map_err(|e| unavailable(format!("discovery: {e}")))?,
        );
        *cached = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    fn client(
        &self,
        metadata: &CoreProviderMetadata,
    ) -> openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        let auth = match self.config.client_auth {
            ClientAuth::ClientSecretBasic => AuthType::BasicAuth,
            // With no secret, the client_id alone goes in the body, next to the assertion.
            ClientAuth::ClientSecretPost | ClientAuth::PrivateKeyJwt => AuthType::RequestBody,
        };
        let secret = match self.config.client_auth {
            ClientAuth::PrivateKeyJwt => None,
            _ => self
                .config
                .client_secret
                .as_ref()
                .map(|s| ClientSecret::new(s.expose_secret().to_owned())),
        };
        CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(self.config.client_id.clone()),
            secret,
        )
        .set_redirect_uri(self.redirect_uri.clone())
        .set_auth_type(auth)
    }

    /// The authorization request upstream, for a login that needs at least `level`
    /// (asked as `acr_values`, a voluntary claim: the answer's `acr` decides).
    pub async fn authorization(
        &self,
        state: &str,
        nonce: &str,
        level: Acr,
    ) -> Result<Outgoing, FederationError> {
        let metadata = self.metadata(false).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self.client(&metadata);
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                {
                    let state = state.to_owned();
                    move || CsrfToken::new(state)
                },
                {
                    let nonce = nonce.to_owned();
                    move || Nonce::new(nonce)
                },
            )
            .add_scopes(self.config.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge);
        let acr_values = self.config.values_at_least(level).join(" ");
        if !acr_values.is_empty() {
            request = request.add_extra_param("acr_values", acr_values);
        }
        let (url, _, _) = request.url();
        Ok(Outgoing {
            url: url.to_string(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Redeems `code` and checks the ID token; answers the login's claims (the ID
    /// token's, completed by UserInfo's for those it lacks).
    pub async fn redeem(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
        now: DateTime<Utc>,
    ) -> Result<Map<String, Value>, FederationError> {
        let metadata = self.metadata(false).await?;
        let client = self.client(&metadata);
        let mut request = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(unavailable)?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()));
        if self.config.client_auth == ClientAuth::PrivateKeyJwt {
            request = request
                .add_extra_param("client_assertion_type", JWT_BEARER)
                .add_extra_param("client_assertion", self.assertion(now).await?);
        }
        let response = request
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(answer) => {
                    FederationError::Upstream(answer.error().to_string())
                }
                other => unavailable(format!("token endpoint: {other}")),
            })?;
        let id_token = response
            .id_token()
            .ok_or_else(|| FederationError::IdToken("the token response has no id_token".into()))?;
        let raw = id_token.to_string();
        let access_token = response.access_token();
        let mut claims = match verify(&raw, &metadata, &self.config, nonce, access_token, now) {
            Err(FederationError::IdToken(why)) if why == UNKNOWN_KEY => {
                // A key the cached JWK Set does not hold yet: the upstream rotated.
                let metadata = self.metadata(true).await?;
                verify(&raw, &metadata, &self.config, nonce, access_token, now)?
            }
            other => other?,
        };
        let wanted = [
            Some(&self.config.ssin_claim),
            self.config.profiles_claim.as_ref(),
        ];
        if wanted.iter().flatten().any(|c| !claims.contains_key(*c))
            && let Some(endpoint) = metadata.userinfo_endpoint()
        {
            let info = self
                .http
                .userinfo(endpoint.url().as_str(), response.access_token().secret())
                .await
                .map_err(unavailable)?;
            complete_with_userinfo(&mut claims, info)?;
        }
        Ok(claims)
    }
}

impl Upstream {
    /// RFC 7523 §3: a client assertion for the upstream token endpoint, signed with the
    /// depot's current ES256 key; `aud` is the upstream's issuer identifier (what
    /// draft-ietf-oauth-rfc7523bis requires and every server accepts).
    async fn assertion(&self, now: DateTime<Utc>) -> Result<String, FederationError> {
        let claims = serde_json::json!({
            "iss": self.config.client_id,
            "sub": self.config.client_id,
            "aud": self.config.issuer,
            "jti": crate::crypto::random_token().map_err(unavailable)?,
            "iat": now.timestamp(),
            "exp": now.timestamp() + 60,
        });
        let ring = self.keys.ring().await.map_err(unavailable)?;
        ring.sign("JWT", &claims).map_err(unavailable)
    }
}

/// Claims taken from the ID token only: UserInfo may not supply them.
const ID_TOKEN_ONLY: [&str; 9] = [
    "iss",
    "aud",
    "azp",
    "exp",
    "iat",
    "nonce",
    "acr",
    "amr",
    "auth_time",
];

/// Adds to the ID token's `claims` those of UserInfo's `info` it lacks: never one that
/// says what the authentication was (its level, methods, time: the signed ID token's to
/// say, OIDC Core §2), and only when UserInfo's `sub` is the ID token's (§5.3.2).
fn complete_with_userinfo(
    claims: &mut Map<String, Value>,
    info: Map<String, Value>,
) -> Result<(), FederationError> {
    if info.get("sub") != claims.get("sub") {
        return Err(FederationError::IdToken(
            "the UserInfo sub is not the ID token's".into(),
        ));
    }
    for (name, value) in info {
        if !ID_TOKEN_ONLY.contains(&name.as_str()) {
            claims.entry(name).or_insert(value);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn userinfo_completes_the_id_token_but_never_says_how_the_person_authenticated() {
        let mut claims = map(json!({"sub": "u1", "acr": "urn:loa:1", "name": "from the id token"}));
        let info = map(
            json!({"sub": "u1", "acr": "urn:loa:3", "amr": ["hwk"], "auth_time": 1,
                               "name": "from userinfo", "ssin": "85073003328"}),
        );
        complete_with_userinfo(&mut claims, info).unwrap();
        assert_eq!(
            Value::Object(claims),
            json!({"sub": "u1", "acr": "urn:loa:1", "name": "from the id token", "ssin": "85073003328"})
        );

        // An ID token without acr does not get one from UserInfo.
        let mut claims = map(json!({"sub": "u1"}));
        complete_with_userinfo(&mut claims, map(json!({"sub": "u1", "acr": "urn:loa:3"}))).unwrap();
        assert!(!claims.contains_key("acr"));

        // Another subject's UserInfo is refused.
        let mut claims = map(json!({"sub": "u1"}));
        let refused = complete_with_userinfo(
            &mut claims,
            map(json!({"sub": "u2", "ssin": "85073003328"})),
        );
        assert!(matches!(refused, Err(FederationError::IdToken(_))));
        assert!(!claims.contains_key("ssin"));
    }
}

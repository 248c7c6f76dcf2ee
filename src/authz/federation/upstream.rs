//! The depot as a relying party of the upstream OpenID Provider, through the
//! `openidconnect` crate: discovery (`/.well-known/openid-configuration`, checked to
//! name the configured issuer) and the JWK Set of its `jwks_uri`, cached for a few
//! minutes and fetched again when an ID token names a key not seen yet; the
//! authorization URL (code flow, PKCE S256, `state`, `nonce`); the code exchange
//! (client_secret_basic or client_secret_post); the ID token checks of OIDC Core
//! §3.1.3.7 (signature by a key of the upstream's JWK Set with one of the asymmetric
//! algorithms it advertises — never `none`, never HMAC —, `iss`, `aud`, `azp` when
//! present, `exp`, `iat`, `nonce`, and `at_hash` when present); and, for claims the ID
//! token does not carry, the UserInfo answer, whose `sub` must be the ID token's
//! (§5.3.2).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenVerifier, CoreJwsSigningAlgorithm,
    CoreProviderMetadata,
};
use openidconnect::{
    AccessToken, AccessTokenHash, AuthType, AuthorizationCode, ClaimsVerificationError, ClientId,
    ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, SignatureVerificationError, TokenResponse,
};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use super::config::{ClientAuth, Federation};
use super::error::FederationError;
use super::http::OidcHttp;
use crate::authz::scope::Acr;

/// How long discovery and the JWK Set are trusted before they are fetched again.
const METADATA_TTL: Duration = Duration::from_secs(300);
/// The allowed difference between the upstream's clock and ours (RFC 7519 §4.1.4).
const CLOCK_LEEWAY: chrono::Duration = chrono::Duration::seconds(60);

/// Why an ID token is refused when no key of the cached JWK Set matches it.
const UNKNOWN_KEY: &str = "no key of the upstream's JWK Set matches its kid and alg";

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
    metadata: Mutex<Option<(Instant, Arc<CoreProviderMetadata>)>>,
}

fn unavailable(what: impl std::fmt::Display) -> FederationError {
    FederationError::Unavailable(what.to_string())
}

impl Upstream {
    /// `issuer` is this service's (the redirect URI is built from it).
    pub fn new(config: Federation, issuer: &str) -> anyhow::Result<Self> {
        Ok(Self {
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
            ClientAuth::ClientSecretPost => AuthType::RequestBody,
        };
        CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(
                self.config.client_secret.expose_secret().to_owned(),
            )),
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
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(unavailable)?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
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
            // OIDC Core §5.3.2: the UserInfo `sub` must be the ID token's.
            if info.get("sub") != claims.get("sub") {
                return Err(FederationError::IdToken(
                    "the UserInfo sub is not the ID token's".into(),
                ));
            }
            for (name, value) in info {
                claims.entry(name).or_insert(value);
            }
        }
        Ok(claims)
    }
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

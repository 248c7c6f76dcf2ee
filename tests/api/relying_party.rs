//! The whole flow completed by a real relying-party library, the `openidconnect`
//! crate: discovery, the authorization URL with PKCE and nonce, the code exchange,
//! and its own validation of the id_token (signature from our JWKS, issuer, audience,
//! nonce, expiry) and of `at_hash`.

use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AccessTokenHash, AuthenticationFlow, AuthorizationCode, ClientId, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use serde_json::json;

use crate::forms::*;
use crate::helpers::*;

#[tokio::test]
async fn the_openidconnect_crate_completes_the_flow_and_validates_the_id_token() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let rp = app
        .register_app("rp", false, &["depot:read"], json!({}))
        .await;
    let http = OidcHttp::new().unwrap();

    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.issuer.clone()).unwrap(), &http)
            .await
            .unwrap();
    let client = CoreClient::from_provider_metadata(metadata, ClientId::new(rp.id.clone()), None)
        .set_redirect_uri(RedirectUrl::new(rp.redirect_uri.clone()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("depot:read".into()))
        .set_pkce_challenge(challenge)
        .url();

    // The person, in a browser on the same host as the cookie jar.
    let browser = app.browser();
    let url = url.as_str().replacen(&app.issuer, &app.address, 1);
    let page = browser.follow(browser.get(&url).await).await;
    let consent = browser.login(&page, &person, PASSWORD, "").await;
    let back = browser.decide(&consent, "allow").await;
    let params = back.redirect_params();
    assert_eq!(&params["state"], state.secret());

    let tokens = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange succeeds");
    let id_token = tokens.id_token().expect("an id_token");
    let verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("the id_token validates");
    assert_eq!(claims.subject().as_str(), person);
    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str()),
        Some("http://eidas.europa.eu/LoA/low")
    );
    let expected = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected));

    // A nonce other than the one sent is refused by the library.
    assert!(
        id_token
            .claims(&verifier, &Nonce::new("other".into()))
            .is_err()
    );
}

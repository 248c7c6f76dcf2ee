//! Discovery documents, checked by a strict relying-party library.

use openidconnect::IssuerUrl;
use openidconnect::core::CoreProviderMetadata;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn discovery_is_accepted_by_the_openidconnect_crate() {
    let app = spawn_app().await;
    // The crate fetches `{issuer}/.well-known/openid-configuration` and checks that the
    // document's `issuer` equals the issuer URL exactly.
    let client = OidcHttp::new().unwrap();
    let issuer = IssuerUrl::new(app.issuer.clone()).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, &client)
        .await
        .expect("strict discovery succeeds");
    assert_eq!(metadata.issuer().as_str(), app.issuer);
    assert_eq!(
        metadata.jwks_uri().as_str(),
        format!("{}/oauth2/jwks", app.issuer)
    );
    assert_eq!(
        metadata.token_endpoint().map(|u| u.as_str().to_owned()),
        Some(app.token_endpoint())
    );
}

#[tokio::test]
async fn both_well_known_documents_agree() {
    let app = spawn_app().await;
    let get = |path: &'static str| {
        let app = &app;
        async move {
            let response = app.http.get(app.url(path)).send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            response.json::<Value>().await.unwrap()
        }
    };
    let oidc = get("/.well-known/openid-configuration").await;
    let oauth = get("/.well-known/oauth-authorization-server").await;
    assert_eq!(oidc, oauth);
    assert_eq!(oidc["issuer"], app.issuer);
    let methods = oidc["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert!(methods.iter().any(|m| m == "private_key_jwt"));
    assert!(
        !methods
            .iter()
            .any(|m| m.as_str().unwrap().starts_with("client_secret"))
    );
    let algs = oidc["token_endpoint_auth_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(
        !algs
            .iter()
            .any(|a| a == "none" || a.as_str().unwrap().starts_with("HS"))
    );
}

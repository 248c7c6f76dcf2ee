//! Server nonces (RFC 9449 §8, §9) with `DEPOT_DPOP_NONCE=required`: a proof without
//! the current nonce is answered with `use_dpop_nonce` and a `DPoP-Nonce` to use, at the
//! token endpoint and at the resource servers; made-up, forged and outdated nonces are
//! refused the same way.

use depot::config::DpopNonce;

use super::*;

async fn nonce_app() -> TestApp {
    spawn_app_with(|s| s.authz.dpop_nonce = DpopNonce::Required).await
}

/// A client_credentials request with a given client assertion and proof.
async fn token_request(app: &TestApp, assertion: &str, proof: &str) -> reqwest::Response {
    app.http
        .post(app.url("/oauth2/token"))
        .header("DPoP", proof)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap()
}

/// The `DPoP-Nonce` header of a response (panics without one).
fn nonce_of(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("dpop-nonce")
        .expect("a DPoP-Nonce header")
        .to_str()
        .unwrap()
        .to_owned()
}

/// Asserts a 400 `use_dpop_nonce` that stored nothing; returns the nonce it gives.
async fn asked_for_a_nonce(app: &TestApp, client: &TestClient, proof: &str) -> String {
    let before = app.jti_count().await;
    let response = app.dpop_token_request(client, Some(proof), &[]).await;
    let nonce = nonce_of(&response);
    let description = expect_oauth_error(response, 400, "use_dpop_nonce").await;
    assert!(description.contains("DPoP-Nonce"), "{description}");
    assert_eq!(app.jti_count().await, before, "nothing stored");
    nonce
}

/// A token of a nonce app bound to `key` (asking for the nonce first).
async fn bound_with_nonce(app: &TestApp, client: &TestClient, key: &PyKey) -> String {
    let nonce = asked_for_a_nonce(app, client, &key.token_proof(app)).await;
    let proof = key
        .proof(app, "POST", &app.token_endpoint())
        .claim("nonce", json!(nonce))
        .make();
    bound_token(token_with(app, client, &proof).await, &key.jkt).await
}

#[tokio::test]
async fn the_token_endpoint_gives_its_nonce_and_takes_it() {
    if !jwcrypto_available() {
        return;
    }
    let app = nonce_app().await;
    let client = system_client(&app, "gw").await;
    let key = PyKey::generate("ES256");
    // One client assertion for both tries: the refusal (before client authentication)
    // did not use it up.
    let assertion = client
        .key
        .sign(&client.claims(&app.token_endpoint(), app.now()));
    let before = app.jti_count().await;
    let response = token_request(&app, &assertion, &key.token_proof(&app)).await;
    let nonce = nonce_of(&response);
    expect_oauth_error(response, 400, "use_dpop_nonce").await;
    assert_eq!(app.jti_count().await, before, "nothing stored");

    let proof = key
        .proof(&app, "POST", &app.token_endpoint())
        .claim("nonce", json!(nonce))
        .make();
    let response = token_request(&app, &assertion, &proof).await;
    // The answer carries the nonce for the next proof.
    assert!(!nonce_of(&response).is_empty());
    bound_token(response, &key.jkt).await;
}

#[tokio::test]
async fn a_resource_server_gives_the_nonce_and_takes_it() {
    if !jwcrypto_available() {
        return;
    }
    let app = nonce_app().await;
    let client = system_client(&app, "gw").await;
    let key = PyKey::generate("ES256");
    let token = bound_with_nonce(&app, &client, &key).await;
    let path = jwks_path(&client);

    let response = dpop_get(
        &app,
        &path,
        &token,
        Some(&key.get_proof(&app, &path, &token)),
    )
    .await;
    let nonce = nonce_of(&response);
    refused_by_resource(response, "keys", "use_dpop_nonce", "nonce").await;

    let proof = key
        .proof(&app, "GET", &app.htu(&path))
        .token(&token)
        .claim("nonce", json!(nonce))
        .make();
    assert_eq!(
        dpop_get(&app, &path, &token, Some(&proof)).await.status(),
        200
    );
}

#[tokio::test]
async fn made_up_forged_and_outdated_nonces_are_refused() {
    if !jwcrypto_available() {
        return;
    }
    let app = nonce_app().await;
    let client = system_client(&app, "gw").await;
    let key = PyKey::generate("ES256");
    let token = bound_with_nonce(&app, &client, &key).await;
    let nonce = asked_for_a_nonce(&app, &client, &key.token_proof(&app)).await;
    // The nonce's time slot with another MAC, and a nonce of the server's form.
    let (slot, mac) = nonce.split_once('.').expect("slot.mac");
    let forged = format!("{slot}.{}", mac.chars().rev().collect::<String>());
    let next_slot = format!("{:x}.{mac}", i64::from_str_radix(slot, 16).unwrap() + 1);
    for made_up in ["made-up", &forged, &next_slot, ""] {
        let proof = key
            .proof(&app, "POST", &app.token_endpoint())
            .claim("nonce", json!(made_up))
            .make();
        let given = asked_for_a_nonce(&app, &client, &proof).await;
        assert_ne!(given, made_up);
        let path = jwks_path(&client);
        let proof = key
            .proof(&app, "GET", &app.htu(&path))
            .token(&token)
            .claim("nonce", json!(made_up))
            .make();
        let response = dpop_get(&app, &path, &token, Some(&proof)).await;
        assert!(!nonce_of(&response).is_empty());
        refused_by_resource(response, "keys", "use_dpop_nonce", "nonce").await;
    }

    // A nonce is good in its time slot (5 minutes) and the next, not after.
    app.clock.advance(2 * 300 + 1);
    let proof = key
        .proof(&app, "POST", &app.token_endpoint())
        .claim("nonce", json!(nonce))
        .make();
    let fresh = asked_for_a_nonce(&app, &client, &proof).await;
    assert_ne!(fresh, nonce);
    let proof = key
        .proof(&app, "POST", &app.token_endpoint())
        .claim("nonce", json!(fresh))
        .make();
    bound_token(token_with(&app, &client, &proof).await, &key.jkt).await;
}

/// With nonces required, the nonce dates the proof (RFC 9449 §4.3 check 11: "either
/// the iat claim or a server managed timestamp via the nonce claim"): a client whose
/// clock is ten minutes off is refused for its `iat` without nonces, and gets through
/// by taking the nonce it is given; its proof still cannot be used twice.
#[tokio::test]
async fn a_client_with_a_skewed_clock_gets_through_with_the_nonce() {
    if !jwcrypto_available() {
        return;
    }
    let key = PyKey::generate("ES256");
    let plain = spawn_app().await;
    let client = system_client(&plain, "gw").await;
    let skewed = key
        .proof(&plain, "POST", &plain.token_endpoint())
        .claim("iat", json!(plain.now() - 600))
        .make();
    refused_at_token_endpoint(&plain, &client, &skewed, "old").await;

    let app = nonce_app().await;
    let client = system_client(&app, "gw").await;
    let stale = key
        .proof(&app, "POST", &app.token_endpoint())
        .claim("iat", json!(app.now() - 600))
        .make();
    let nonce = asked_for_a_nonce(&app, &client, &stale).await;
    let proof = key
        .proof(&app, "POST", &app.token_endpoint())
        .claim("iat", json!(app.now() - 600))
        .claim("nonce", json!(nonce))
        .make();
    bound_token(token_with(&app, &client, &proof).await, &key.jkt).await;
    let response = app.dpop_token_request(&client, Some(&proof), &[]).await;
    let description = expect_oauth_error(response, 400, "invalid_dpop_proof").await;
    assert!(description.contains("already used"), "{description}");
}

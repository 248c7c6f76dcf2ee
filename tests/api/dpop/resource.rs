//! The resource servers: a bound token goes with the `DPoP` scheme and a proof of the
//! very request by the token's key; each way of getting that wrong is a 401 with a
//! DPoP challenge, after which a good proof still works (the refusal was the defect's).

use super::*;

/// A system client, a key, and a token bound to it.
async fn bound(app: &TestApp) -> (TestClient, PyKey, String) {
    let client = system_client(app, "gw").await;
    let key = PyKey::generate("ES256");
    let token = bound_token(
        token_with(app, &client, &key.token_proof(app)).await,
        &key.jkt,
    )
    .await;
    (client, key, token)
}

/// A good proof of the key search with `token` is accepted (so the refusal before was
/// the defect's, not the token's).
async fn still_accepted(app: &TestApp, client: &TestClient, key: &PyKey, token: &str) {
    let path = jwks_path(client);
    let proof = key.get_proof(app, &path, token);
    let response = dpop_get(app, &path, token, Some(&proof)).await;
    assert_eq!(response.status(), 200);
}

/// `POST /tsa` (a body the TSA answers with a rejection, still a 200) with `token`
/// under `scheme` and `proof`.
async fn stamp(app: &TestApp, scheme: &str, token: &str, proof: Option<&str>) -> reqwest::Response {
    let mut request = app
        .http
        .post(app.url("/tsa"))
        .header("authorization", format!("{scheme} {token}"))
        .header("content-type", "application/timestamp-query")
        .body(b"not a TimeStampReq".to_vec());
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_bound_token_with_proofs_reaches_the_resource_servers() {
    if !jwcrypto_available() {
        return;
    }
    let app = spawn_app().await;
    let (client, key, token) = bound(&app).await;
    let path = jwks_path(&client);
    let response = dpop_get(
        &app,
        &path,
        &token,
        Some(&key.get_proof(&app, &path, &token)),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["keys"].is_array(), "{body}");

    let proof = key
        .proof(&app, "POST", &app.htu("/tsa"))
        .token(&token)
        .make();
    let response = stamp(&app, "DPoP", &token, Some(&proof)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/timestamp-reply"
    );
}

#[tokio::test]
async fn a_request_without_a_token_is_told_both_schemes() {
    let app = spawn_app().await;
    let response = app.http.get(app.url("/keys/jwks")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        challenges(&response),
        vec![
            "Bearer realm=\"keys\"".to_owned(),
            format!("DPoP realm=\"keys\", algs=\"{}\"", ALGS.join(" ")),
        ]
    );
}

#[tokio::test]
async fn a_bound_token_sent_as_bearer_is_refused() {
    if !jwcrypto_available() {
        return;
    }
    let app = spawn_app().await;
    let (client, key, token) = bound(&app).await;
    let path = jwks_path(&client);
    refused_by_resource(
        app.get(&path, &token).await,
        "keys",
        "invalid_token",
        "DPoP-bound",
    )
    .await;
    // Even with a good proof beside it: the scheme says Bearer.
    let proof = key.get_proof(&app, &path, &token);
    let response = app
        .http
        .get(app.url(&path))
        .bearer_auth(&token)
        .header("DPoP", &proof)
        .send()
        .await
        .unwrap();
    refused_by_resource(response, "keys", "invalid_token", "DPoP-bound").await;
    let proof = key
        .proof(&app, "POST", &app.htu("/tsa"))
        .token(&token)
        .make();
    refused_by_resource(
        stamp(&app, "Bearer", &token, Some(&proof)).await,
        "tsa",
        "invalid_token",
        "DPoP-bound",
    )
    .await;
    still_accepted(&app, &client, &key, &token).await;
}

#[tokio::test]
async fn an_unbound_token_with_the_dpop_scheme_is_refused() {
    if !jwcrypto_available() {
        return;
    }
    let app = spawn_app().await;
    let client = system_client(&app, "gw").await;
    let token = app.token_for(&client, &[]).await;
    let key = PyKey::generate("ES256");
    let path = jwks_path(&client);
    let proof = key.get_proof(&app, &path, &token);
    refused_by_resource(
        dpop_get(&app, &path, &token, Some(&proof)).await,
        "keys",
        "invalid_token",
        "not DPoP-bound",
    )
    .await;
    assert_eq!(app.get(&path, &token).await.status(), 200, "as Bearer");
}

#[tokio::test]
async fn a_bound_token_without_a_proof_is_refused() {
    if !jwcrypto_available() {
        return;
    }
    let app = spawn_app().await;
    let (client, key, token) = bound(&app).await;
    let path = jwks_path(&client);
    refused_by_resource(
        dpop_get(&app, &path, &token, None).await,
        "keys",
        "invalid_dpop_proof",
        "needs a DPoP proof",
    )
    .await;
    still_accepted(&app, &client, &key, &token).await;
}

#[tokio::test]
async fn a_proof_for_another_token_is_refused() {
    if !jwcrypto_available() {
        return;
    }
    let app = spawn_app().await;
    let (client, key, token) = bound(&app).await;
    // A second token of the same key: its proofs do not go with the first.
    let other = bound_token(
        token_with(&app, &client, &key.token_proof(&app)).await,
        &key.jkt,
    )
    .await;
    let path = jwks_path(&client);
    let proof = key.get_proof(&app, &path, &other);
    refused_by_resource(
        dpop_get(&app, &path, &token, Some(&proof)).await,
        "keys",
        "invalid_dpop_proof",
        "ath",
    )
    .await;
    // No ath at all (a proof for the token endpoint).
    let proof = key.proof(&app, "GET", &app.htu(&path)).make();
    refused_by_resource(
        dpop_get(&app, &path, &token, Some(&proof)).await,
        "keys",
        "invalid_dpop_proof",
        "ath",
    )
    .await;
    still_accepted(&app, &client, &key, &token).await;
}

#[tokio::test]
async fn a_proof_of_another_method_is_refused() {
    if !jwcrypto_available() {
        return;
    }
    let app = spawn_app().await;
    let (client, key, token) = bound(&app).await;
    let path = jwks_path(&client);
    let proof = key
        .proof(&app, "POST", &app.htu(&path))
        .token(&token)
        .make();
    refused_by_resource(
        dpop_get(&app, &path, &token, Some(&proof)).await,
        "keys",
        "invalid_dpop_proof",
        "htm",
    )
    .await;
    still_accepted(&app, &client, &key, &token).await;
}

#[tokio::test]
async fn a_proof_of_another_url_is_refused() {
    if !jwcrypto_available() {
        return;
    }
    let app = spawn_app().await;
    let (client, key, token) = bound(&app).await;
    let path = jwks_path(&client);
    // Another path of the same resource server, and another resource server.
    for other in ["/keys", "/tsa"] {
        let proof = key.proof(&app, "GET", &app.htu(other)).token(&token).make();
        refused_by_resource(
            dpop_get(&app, &path, &token, Some(&proof)).await,
            "keys",
            "invalid_dpop_proof",
            "htu",
        )
        .await;
    }
    // A proof of the key search at the TSA.
    let proof = key
        .proof(&app, "POST", &app.htu("/keys/jwks"))
        .token(&token)
        .make();
    refused_by_resource(
        stamp(&app, "DPoP", &token, Some(&proof)).await,
        "tsa",
        "invalid_dpop_proof",
        "htu",
    )
    .await;
    still_accepted(&app, &client, &key, &token).await;
}

#[tokio::test]
async fn a_proof_by_another_key_than_the_tokens_is_refused() {
    if !jwcrypto_available() {
        return;
    }
    let app = spawn_app().await;
    let (client, key, token) = bound(&app).await;
    // A thief with the token and a key of its own (of any algorithm).
    for alg in ["ES256", "EdDSA"] {
        let thief = PyKey::generate(alg);
        let path = jwks_path(&client);
        let proof = thief.get_proof(&app, &path, &token);
        refused_by_resource(
            dpop_get(&app, &path, &token, Some(&proof)).await,
            "keys",
            "invalid_dpop_proof",
            "not the one the token is bound to",
        )
        .await;
    }
    still_accepted(&app, &client, &key, &token).await;
}

#[tokio::test]
async fn a_replayed_proof_is_refused() {
    if !jwcrypto_available() {
        return;
    }
    let app = spawn_app().await;
    let (client, key, token) = bound(&app).await;
    let path = jwks_path(&client);
    let proof = key.get_proof(&app, &path, &token);
    assert_eq!(
        dpop_get(&app, &path, &token, Some(&proof)).await.status(),
        200
    );
    refused_by_resource(
        dpop_get(&app, &path, &token, Some(&proof)).await,
        "keys",
        "invalid_dpop_proof",
        "already used",
    )
    .await;
    still_accepted(&app, &client, &key, &token).await;
}

#[tokio::test]
async fn a_stale_proof_is_refused() {
    if !jwcrypto_available() {
        return;
    }
    let app = spawn_app().await;
    let (client, key, token) = bound(&app).await;
    let path = jwks_path(&client);
    let proof = key
        .proof(&app, "GET", &app.htu(&path))
        .token(&token)
        .claim("iat", json!(app.now() - 120))
        .make();
    refused_by_resource(
        dpop_get(&app, &path, &token, Some(&proof)).await,
        "keys",
        "invalid_dpop_proof",
        "old",
    )
    .await;
    // A proof kept and sent once the window has passed (the token itself still good).
    let kept = key.get_proof(&app, &path, &token);
    app.clock.advance(60 + 10 + 5);
    refused_by_resource(
        dpop_get(&app, &path, &token, Some(&kept)).await,
        "keys",
        "invalid_dpop_proof",
        "old",
    )
    .await;
    still_accepted(&app, &client, &key, &token).await;
}

//! The token endpoint: a proof binds the token to its key (each accepted algorithm),
//! each defect of a proof is refused before anything is issued or used up, a proof is
//! good once on the whole fleet, and a client registered for DPoP must send one.

use super::*;

async fn introspect(app: &TestApp, caller: &TestClient, token: &str) -> Value {
    let assertion = caller.key.sign(&caller.claims(&app.issuer, app.now()));
    let response = app
        .post_form(
            "/oauth2/introspect",
            &[
                ("token", token),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &assertion),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// A proof by a fresh `alg` key gets a token bound to jwcrypto's thumbprint of it, which
/// introspection shows and a resource server accepts with that key's proofs.
async fn a_proof_binds_the_token(alg: &str) {
    if !jwcrypto_available() {
        return;
    }
    let app = spawn_app().await;
    let client = system_client(&app, "gw").await;
    let key = PyKey::generate(alg);
    let response = token_with(&app, &client, &key.token_proof(&app)).await;
    assert!(response.headers().get("dpop-nonce").is_none());
    let token = bound_token(response, &key.jkt).await;

    let seen = introspect(&app, &client, &token).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["token_type"], "DPoP", "{seen}");
    assert_eq!(seen["cnf"], json!({"jkt": key.jkt}), "{seen}");

    let path = jwks_path(&client);
    let proof = key.get_proof(&app, &path, &token);
    let response = dpop_get(&app, &path, &token, Some(&proof)).await;
    assert_eq!(response.status(), 200, "{alg}");
}

#[tokio::test]
async fn an_es256_proof_binds_the_token_to_its_key() {
    a_proof_binds_the_token("ES256").await;
}

#[tokio::test]
async fn an_eddsa_proof_binds_the_token_to_its_key() {
    a_proof_binds_the_token("EdDSA").await;
}

#[tokio::test]
async fn an_rs256_proof_binds_the_token_to_its_key() {
    a_proof_binds_the_token("RS256").await;
}

#[tokio::test]
async fn a_ps256_proof_binds_the_token_to_its_key() {
    a_proof_binds_the_token("PS256").await;
}

#[tokio::test]
async fn a_proof_of_another_method_is_refused() {
    if !jwcrypto_available() {
        return;
    }
    let app = spawn_app().await;
    let client = system_client(&app, "gw").await;
    let key = PyKey::generate("ES256");
    let proof = key.proof(&app, "GET", &app.token_endpoint()).make();
    refused_at_token_endpoint(&app, &client, &proof, "htm").await;
}

#[tokio::test]
async fn a_proof_of_another_url_is_refused() {
    if !jwcrypto_available() {
        return;
    }
    let app = spawn_app().await;
    let client = system_client(&app, "gw").await;
    let key = PyKey::generate("ES256");
    // Another endpoint of the same server.
    let proof = key
        .proof(&app, "POST", &app.htu("/oauth2/introspect"))
        .make();
    refused_at_token_endpoint(&app, &client, &proof, "htu").await;
    // The address the server listens on, which is not its public URL (the issuer's).
    let proof = key.proof(&app, "POST", &app.url("/oauth2/token")).make();
    refused_at_token_endpoint(&app, &client, &proof, "htu").await;
    // No htu at all.
    let proof = key
        .proof(&app, "POST", &app.token_endpoint())
        .claim("htu", Value::Null)
        .make();
    refused_at_token_endpoint(&app, &client, &proof, "htu").await;
}

#[tokio::test]
async fn a_stale_proof_is_refused() {
    if !jwcrypto_available() {
        return;
    }
    let app = spawn_app().await;
    let client = system_client(&app, "gw").await;
    let key = PyKey::generate("ES256");
    let proof = key
        .proof(&app, "POST", &app.token_endpoint())
        .claim("iat", json!(app.now() - 120))
        .make();
    refused_at_token_endpoint(&app, &client, &proof, "old").await;
    // Within the 60 s window: accepted.
    let proof = key
        .proof(&app, "POST", &app.token_endpoint())
        .claim("iat", json!(app.now() - 50))
        .make();
    bound_token(token_with(&app, &client, &proof).await, &key.jkt).await;
}

#[tokio::test]
async fn a_proof_from_the_future_is_refused() {
    if !jwcrypto_available() {
        return;
    }
    let app = spawn_app().await;
    let client = system_client(&app, "gw").await;
    let key = PyKey::generate("ES256");
    let proof = key
        .proof(&app, "POST", &app.token_endpoint())
        .claim("iat", json!(app.now() + 60))
        .make();
    refused_at_token_endpoint(&app, &client, &proof, "future").await;
    // A clock a few seconds ahead, within the leeway (10 s): accepted.
    let proof = key
        .proof(&app, "POST", &app.token_endpoint())
        .claim("iat", json!(app.now() + 5))
        .make();
    bound_token(token_with(&app, &client, &proof).await, &key.jkt).await;
}

#[tokio::test]
async fn a_proof_without_a_usable_jti_is_refused() {
    if !jwcrypto_available() {
        return;
    }
    let app = spawn_app().await;
    let client = system_client(&app, "gw").await;
    let key = PyKey::generate("ES256");
    for (jti, reason) in [
        (Value::Null, "jti"),
        (json!(""), "jti"),
        (json!("j".repeat(257)), "jti"),
        (json!(42), "jti"),
    ] {
        let proof = key
            .proof(&app, "POST", &app.token_endpoint())
            .claim("jti", jti)
            .make();
        refused_at_token_endpoint(&app, &client, &proof, reason).await;
    }
    let proof = key
        .proof(&app, "POST", &app.token_endpoint())
        .claim("jti", json!("j".repeat(256)))
        .make();
    bound_token(token_with(&app, &client, &proof).await, &key.jkt).await;
}

#[tokio::test]
async fn an_unsigned_or_symmetric_proof_is_refused() {
    if !jwcrypto_available() {
        return;
    }
    let app = spawn_app().await;
    let client = system_client(&app, "gw").await;
    let key = PyKey::generate("ES256");
    for alg in ["none", "HS256"] {
        let proof = key
            .proof(&app, "POST", &app.token_endpoint())
            .header("alg", json!(alg))
            .make();
        assert_eq!(jwt_header(&proof)["alg"], alg);
        refused_at_token_endpoint(&app, &client, &proof, "alg").await;
    }
}

#[tokio::test]
async fn a_proof_of_another_type_is_refused() {
    if !jwcrypto_available() {
        return;
    }
    let app = spawn_app().await;
    let client = system_client(&app, "gw").await;
    let key = PyKey::generate("ES256");
    for typ in [json!("JWT"), json!("at+jwt"), Value::Null] {
        let proof = key
            .proof(&app, "POST", &app.token_endpoint())
            .header("typ", typ)
            .make();
        refused_at_token_endpoint(&app, &client, &proof, "typ").await;
    }
}

#[tokio::test]
async fn a_proof_whose_jwk_holds_the_private_key_is_refused() {
    if !jwcrypto_available() {
        return;
    }
    let app = spawn_app().await;
    let client = system_client(&app, "gw").await;
    let key = PyKey::generate("ES256");
    let proof = key
        .proof(&app, "POST", &app.token_endpoint())
        .header("jwk", key.private.clone())
        .make();
    assert!(jwt_header(&proof)["jwk"]["d"].is_string());
    refused_at_token_endpoint(&app, &client, &proof, "private").await;
}

#[tokio::test]
async fn a_proof_without_a_usable_public_key_is_refused() {
    if !jwcrypto_available() {
        return;
    }
    let app = spawn_app().await;
    let client = system_client(&app, "gw").await;
    let key = PyKey::generate("ES256");
    let proof = key
        .proof(&app, "POST", &app.token_endpoint())
        .header("jwk", Value::Null)
        .make();
    refused_at_token_endpoint(&app, &client, &proof, "jwk").await;
    // An RSA key under 2048 bits.
    let weak = PyKey::generate_rsa_bits("RS256", Some(1024));
    refused_at_token_endpoint(&app, &client, &weak.token_proof(&app), "2048").await;
    // A key of another type than the algorithm's.
    let proof = key
        .proof(&app, "POST", &app.token_endpoint())
        .header("jwk", PyKey::generate("EdDSA").public)
        .make();
    refused_at_token_endpoint(&app, &client, &proof, "ES256").await;
}

#[tokio::test]
async fn a_proof_signed_by_another_key_than_its_jwk_is_refused() {
    if !jwcrypto_available() {
        return;
    }
    let app = spawn_app().await;
    let client = system_client(&app, "gw").await;
    let key = PyKey::generate("ES256");
    let other = PyKey::generate("ES256");
    let proof = key
        .proof(&app, "POST", &app.token_endpoint())
        .signed_by(&other)
        .make();
    assert_eq!(jwt_header(&proof)["jwk"], key.public);
    refused_at_token_endpoint(&app, &client, &proof, "signature").await;
}

#[tokio::test]
async fn a_replayed_proof_is_refused() {
    if !jwcrypto_available() {
        return;
    }
    let app = spawn_app().await;
    let client = system_client(&app, "gw").await;
    let key = PyKey::generate("ES256");
    let proof = key.token_proof(&app);
    bound_token(token_with(&app, &client, &proof).await, &key.jkt).await;
    // Again, with a fresh client assertion: the proof is what is replayed.
    refused_at_token_endpoint(&app, &client, &proof, "already used").await;
    // Two proofs in one request are no proof either.
    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .header("DPoP", key.token_proof(&app))
        .header("DPoP", key.token_proof(&app))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            (
                "client_assertion",
                &client
                    .key
                    .sign(&client.claims(&app.token_endpoint(), app.now())),
            ),
        ])
        .send()
        .await
        .unwrap();
    let description = expect_oauth_error(response, 400, "invalid_dpop_proof").await;
    assert!(description.contains("more than one"), "{description}");
}

#[tokio::test]
async fn a_proof_used_at_one_instance_is_refused_at_another() {
    if !jwcrypto_available() {
        return;
    }
    let first = spawn_app().await;
    // Before the second instance bootstraps its own administrator key.
    let client = system_client(&first, "gw").await;
    let (issuer, master) = (first.issuer.clone(), first.config.master_key_file.clone());
    let database_url = first.config.database_url.clone();
    // A fleet: one public URL, one database, one master key.
    let second = spawn_app_with(move |s| {
        s.service.public_url = Some(issuer);
        s.storage.database_url = Some(database_url);
        s.service.master_key_file = Some(master);
    })
    .await;
    let key = PyKey::generate("ES256");
    let proof = key.token_proof(&first);
    bound_token(token_with(&first, &client, &proof).await, &key.jkt).await;
    refused_at_token_endpoint(&second, &client, &proof, "already used").await;
    // The second instance takes a fresh proof of the same key.
    bound_token(
        token_with(&second, &client, &key.token_proof(&second)).await,
        &key.jkt,
    )
    .await;
}

#[tokio::test]
async fn a_client_registered_for_dpop_must_send_a_proof() {
    if !jwcrypto_available() {
        return;
    }
    let app = spawn_app().await;
    let bound = app
        .register_system_client(
            "bound-gw",
            &["keys:read"],
            json!({"dpop_bound_access_tokens": true}),
        )
        .await;
    let plain = system_client(&app, "plain-gw").await;
    let admin = app.admin_token().await;
    for (id, expected) in [("bound-gw", true), ("plain-gw", false)] {
        let view: Value = app
            .get(&format!("/admin/clients/{id}"), &admin)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(view["dpop_bound_access_tokens"], expected, "{view}");
    }

    let response = app.dpop_token_request(&bound, None, &[]).await;
    let description = expect_oauth_error(response, 400, "invalid_dpop_proof").await;
    assert!(description.contains("DPoP-bound"), "{description}");
    let key = PyKey::generate("ES256");
    bound_token(
        token_with(&app, &bound, &key.token_proof(&app)).await,
        &key.jkt,
    )
    .await;
    // Other clients still get Bearer tokens without a proof.
    let response = app.dpop_token_request(&plain, None, &[]).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer", "{body}");
    assert!(
        jwt_claims(body["access_token"].as_str().unwrap())
            .get("cnf")
            .is_none()
    );
}

#[tokio::test]
async fn discovery_announces_the_proof_algorithms() {
    let app = spawn_app().await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let document: Value = app
            .http
            .get(app.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            document["dpop_signing_alg_values_supported"],
            json!(ALGS),
            "{path}"
        );
    }
}

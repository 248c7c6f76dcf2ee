//! The token endpoint: client_credentials with private_key_jwt, and every refusal.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use josekit::jws::{ES256, HS256, JwsHeader};
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn system_client_gets_a_token_that_verifies_with_an_independent_library() {
    let app = spawn_app().await;
    app.register_organization(CBE, "Hospital").await;
    let client = app
        .register_system_client(
            "gateway",
            &["depot:send", "tsa"],
            json!({"organization": CBE, "claims": {"department": "radiology"}}),
        )
        .await;
    let assertion = client
        .key
        .sign(&client.claims(&app.token_endpoint(), app.now()));
    let response = app.token_request(&assertion, &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope"], "depot:send tsa");
    let token = body["access_token"].as_str().unwrap();

    // Verify with josekit (OpenSSL) against the published JWKS: not the signing library.
    let header = jwt_header(token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    let jwks = app.jwks().await;
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the token's kid is published");
    let jwk = josekit::jwk::Jwk::from_bytes(jwk.to_string()).unwrap();
    let verifier = ES256.verifier_from_jwk(&jwk).unwrap();
    let (payload, _) = josekit::jws::deserialize_compact(token, &verifier).unwrap();
    let claims: Value = serde_json::from_slice(&payload).unwrap();

    assert_eq!(claims["iss"], app.issuer);
    assert_eq!(claims["sub"], "gateway");
    assert_eq!(claims["client_id"], "gateway");
    assert_eq!(
        claims["aud"],
        json!([
            format!("{}/depot", app.issuer),
            format!("{}/tsa", app.issuer)
        ])
    );
    assert_eq!(claims["identity"], json!({"profile": "system", "cbe": CBE}));
    assert_eq!(claims["department"], "radiology");
    assert!(claims.get("acr").is_none(), "no acr for system clients");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
    assert_eq!(claims["keys"][0]["kid"], "gateway-key-1");
    // josekit writes `alg: ES256` into the key, so it is a signing key (RFC 7517 §4.4).
    assert_eq!(claims["keys"][0]["use"], "sig");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
}

#[tokio::test]
async fn resource_parameter_selects_the_audience() {
    let app = spawn_app().await;
    let client = app
        .register_system_client("gw", &["depot:send", "tsa"], json!({}))
        .await;
    let tsa = format!("{}/tsa", app.issuer);
    let token = app.token_for(&client, &[("resource", &tsa)]).await;
    assert_eq!(jwt_claims(&token)["aud"], json!(tsa));

    // A resource the scopes do not imply, or that is not ours: invalid_target.
    for resource in [
        format!("{}/keys", app.issuer),
        "https://elsewhere.example/depot".to_owned(),
    ] {
        let assertion = client
            .key
            .sign(&client.claims(&app.token_endpoint(), app.now()));
        let response = app
            .token_request(&assertion, &[("resource", &resource)])
            .await;
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_target", "{resource}");
    }
}

#[tokio::test]
async fn replayed_assertion_is_refused_and_stored_once() {
    let app = spawn_app().await;
    let client = app.register_system_client("gw", &["tsa"], json!({})).await;
    let assertion = client
        .key
        .sign(&client.claims(&app.token_endpoint(), app.now()));
    assert_eq!(app.token_request(&assertion, &[]).await.status(), 200);
    let before = app.jti_count().await;
    let response = app.token_request(&assertion, &[]).await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert!(body["error_description"].as_str().unwrap().contains("jti"));
    assert_eq!(app.jti_count().await, before);
}

fn unsigned(header: Value, claims: &Value) -> String {
    format!(
        "{}.{}.",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    )
}

/// Each bad request: the OAuth error it gets, and nothing stored.
#[tokio::test]
async fn bad_token_requests_get_the_right_oauth_error_and_change_nothing() {
    let app = spawn_app().await;
    let client = app
        .register_system_client("gw", &["depot:send"], json!({}))
        .await;
    let aud = app.token_endpoint();
    let now = app.now();
    let with = |patch: Value| {
        let mut claims = client.claims(&aud, now);
        claims
            .as_object_mut()
            .unwrap()
            .extend(patch.as_object().unwrap().clone());
        claims
    };
    let stranger = ClientKey::generate("gw-key-1"); // same kid, unregistered key
    let hs256 = {
        // The registered public key used as an HMAC secret (alg confusion).
        let signer = HS256
            .signer_from_bytes(client.key.public_jwk.to_string().as_bytes())
            .unwrap();
        let mut header = JwsHeader::new();
        header.set_key_id("gw-key-1");
        josekit::jws::serialize_compact(with(json!({})).to_string().as_bytes(), &header, &signer)
            .unwrap()
    };
    let mut no_exp = with(json!({}));
    no_exp.as_object_mut().unwrap().remove("exp");
    let unknown = ClientKey::generate("k");
    let unknown_assertion = unknown.sign(&json!({"iss": "nobody", "sub": "nobody", "aud": aud,
        "jti": "j", "exp": now + 60}));

    /// (what is wrong, [assertion, extra form parameters], status, OAuth error)
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "expired assertion",
            vec![(
                "a",
                client
                    .key
                    .sign(&with(json!({"exp": now - 60, "iat": now - 120}))),
            )],
            401,
            "invalid_client",
        ),
        (
            "exp too far ahead",
            vec![("a", client.key.sign(&with(json!({"exp": now + 600}))))],
            401,
            "invalid_client",
        ),
        (
            "no exp",
            vec![("a", client.key.sign(&no_exp))],
            401,
            "invalid_client",
        ),
        (
            "wrong aud",
            vec![(
                "a",
                client
                    .key
                    .sign(&with(json!({"aud": "https://evil.example/token"}))),
            )],
            401,
            "invalid_client",
        ),
        (
            "sub differs from iss",
            vec![("a", client.key.sign(&with(json!({"sub": "other"}))))],
            401,
            "invalid_client",
        ),
        (
            "unregistered key",
            vec![("a", stranger.sign(&with(json!({}))))],
            401,
            "invalid_client",
        ),
        (
            "alg none",
            vec![(
                "a",
                unsigned(json!({"alg": "none", "kid": "gw-key-1"}), &with(json!({}))),
            )],
            401,
            "invalid_client",
        ),
        (
            "HS256 with the public key as secret",
            vec![("a", hs256)],
            401,
            "invalid_client",
        ),
        (
            "unknown client",
            vec![("a", unknown_assertion)],
            401,
            "invalid_client",
        ),
        (
            "scope not registered",
            vec![
                ("a", client.key.sign(&with(json!({})))),
                ("scope", "keys:read".into()),
            ],
            400,
            "invalid_scope",
        ),
        (
            "unknown scope",
            vec![
                ("a", client.key.sign(&with(json!({})))),
                ("scope", "depot:write".into()),
            ],
            400,
            "invalid_scope",
        ),
    ];
    for (name, params, status, error) in cases {
        let before = app.jti_count().await;
        let assertion = params[0].1.clone();
        let extra: Vec<(&str, &str)> = params[1..].iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = app.token_request(&assertion, &extra).await;
        assert_eq!(response.status().as_u16(), status, "{name}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], error, "{name}: {body}");
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{name}"
        );
        if error == "invalid_client" {
            assert_eq!(app.jti_count().await, before, "{name}: nothing stored");
        }
    }
}

#[tokio::test]
async fn malformed_requests_and_shared_secrets_are_refused() {
    let app = spawn_app().await;
    let client = app.register_system_client("gw", &["tsa"], json!({})).await;
    let assertion = client
        .key
        .sign(&client.claims(&app.token_endpoint(), app.now()));
    let before = app.jti_count().await;

    // client_secret_post.
    let response = app
        .post_form(
            "/oauth2/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "gw"),
                ("client_secret", "s3cret"),
            ],
        )
        .await;
    expect_oauth_error(response, 401, "invalid_client").await;

    // client_secret_basic.
    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth("gw", Some("s3cret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    expect_oauth_error(response, 401, "invalid_client").await;

    // Missing grant_type.
    let response = app
        .post_form(
            "/oauth2/token",
            &[
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &assertion),
            ],
        )
        .await;
    let description = expect_oauth_error(response, 400, "invalid_request").await;
    assert!(description.contains("grant_type"));

    // Unsupported grant type, duplicated parameter, wrong assertion type, JSON body.
    let response = app
        .post_form(
            "/oauth2/token",
            &[
                ("grant_type", "password"),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &assertion),
            ],
        )
        .await;
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
    let response = app
        .post_form(
            "/oauth2/token",
            &[
                ("grant_type", "client_credentials"),
                ("grant_type", "client_credentials"),
            ],
        )
        .await;
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let response = app
        .post_form(
            "/oauth2/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", "urn:other"),
                ("client_assertion", &assertion),
            ],
        )
        .await;
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    expect_oauth_error(response, 400, "invalid_request").await;

    assert_eq!(app.jti_count().await, before, "nothing stored");
    // The untouched assertion still works: none of the above consumed it.
    assert_eq!(app.token_request(&assertion, &[]).await.status(), 200);
}

#[tokio::test]
async fn assertion_may_name_the_issuer_as_audience() {
    let app = spawn_app().await;
    let client = app.register_system_client("gw", &["tsa"], json!({})).await;
    let assertion = client.key.sign(&client.claims(&app.issuer, app.now()));
    assert_eq!(app.token_request(&assertion, &[]).await.status(), 200);
}

#[tokio::test]
async fn other_accepted_algorithms_authenticate() {
    let app = spawn_app().await;
    // EdDSA and PS256 client keys.
    let ed = josekit::jws::EdDSA
        .generate_key_pair(josekit::jwk::alg::ed::EdCurve::Ed25519)
        .unwrap();
    let rsa = josekit::jws::RS256.generate_key_pair(2048).unwrap();
    let mut ed_jwk: Value = serde_json::from_str(&ed.to_jwk_public_key().to_string()).unwrap();
    ed_jwk["kid"] = json!("ed");
    let mut rsa_jwk: Value = serde_json::from_str(&rsa.to_jwk_public_key().to_string()).unwrap();
    rsa_jwk["kid"] = json!("rsa");
    rsa_jwk["alg"] = json!("PS256");
    let admin = app.admin_token().await;
    let response = app
        .post_json(
            "/admin/clients",
            &admin,
            &json!({"client_id": "multi", "type": "system", "name": "Multi",
            "scopes": ["tsa"], "jwks": {"keys": [ed_jwk, rsa_jwk]}}),
        )
        .await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    // A fresh assertion of "multi", signed by `signer` under `kid`.
    let assertion = |kid: &str, signer: &dyn josekit::jws::JwsSigner| {
        let claims = json!({"iss": "multi", "sub": "multi", "aud": app.token_endpoint(),
            "jti": uuid::Uuid::new_v4().to_string(), "exp": app.now() + 60});
        let mut header = JwsHeader::new();
        header.set_key_id(kid);
        josekit::jws::serialize_compact(claims.to_string().as_bytes(), &header, signer).unwrap()
    };
    let ed_signer = josekit::jws::EdDSA
        .signer_from_der(ed.to_der_private_key())
        .unwrap();
    let ps_signer = josekit::jws::PS256
        .signer_from_der(rsa.to_der_private_key())
        .unwrap();
    let rs_signer = josekit::jws::RS256
        .signer_from_pem(rsa.to_pem_private_key())
        .unwrap();
    let ed_assertion = assertion("ed", &ed_signer);
    assert_eq!(app.token_request(&ed_assertion, &[]).await.status(), 200);
    let ps_assertion = assertion("rsa", &ps_signer);
    assert_eq!(app.token_request(&ps_assertion, &[]).await.status(), 200);
    // RS256 with the same RSA key is not accepted.
    let response = app.token_request(&assertion("rsa", &rs_signer), &[]).await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn public_and_confidential_clients_cannot_use_client_credentials() {
    let app = spawn_app().await;
    let key = ClientKey::generate("app-key");
    let admin = app.admin_token().await;
    let response = app
        .post_json("/admin/clients", &admin, &json!({"client_id": "webapp", "type": "confidential", "name": "Web app",
            "redirect_uris": ["https://app.example/cb"], "scopes": ["depot:send"], "jwks": key.jwks()}))
        .await;
    assert_eq!(response.status(), 201);
    let client = TestClient {
        id: "webapp".into(),
        key,
    };
    let assertion = client
        .key
        .sign(&client.claims(&app.token_endpoint(), app.now()));
    let response = app.token_request(&assertion, &[]).await;
    expect_oauth_error(response, 400, "unauthorized_client").await;

    let response = app
        .post_json(
            "/admin/clients",
            &admin,
            &json!({"client_id": "spa", "type": "public", "name": "SPA",
            "redirect_uris": ["https://spa.example/cb"], "scopes": ["depot:read"]}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let response = app
        .post_form(
            "/oauth2/token",
            &[("grant_type", "client_credentials"), ("client_id", "spa")],
        )
        .await;
    expect_oauth_error(response, 400, "unauthorized_client").await;
}

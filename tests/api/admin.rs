//! The API portal: organizations and clients.

use serde_json::{Value, json};

use crate::forms::*;
use crate::helpers::*;

#[tokio::test]
async fn organizations_are_created_once_and_validated() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let response = app
        .post_json(
            "/admin/organizations",
            &token,
            &json!({"cbe": CBE, "name": "National Bank"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.headers()["location"],
        format!("/admin/organizations/{CBE}")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["cbe"], CBE);
    assert_eq!(body["name"], "National Bank");

    let again = app
        .post_json(
            "/admin/organizations",
            &token,
            &json!({"cbe": CBE, "name": "Other"}),
        )
        .await;
    assert_eq!(again.status(), 409);
    let fetched: Value = app
        .get(&format!("/admin/organizations/{CBE}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        fetched["name"], "National Bank",
        "the conflict changed nothing"
    );

    let bad = app
        .post_json(
            "/admin/organizations",
            &token,
            &json!({"cbe": "0203201341", "name": "Bad"}),
        )
        .await;
    assert_eq!(bad.status(), 422);
    assert_eq!(bad.headers()["content-type"], "application/problem+json");
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["field"], "cbe");
    assert_eq!(body["status"], 422);
    // A malformed number cannot name a stored organization: the lookup says why.
    assert_eq!(
        app.get("/admin/organizations/0203201341", &token)
            .await
            .status(),
        422
    );
}

#[tokio::test]
async fn clients_are_registered_read_and_deleted() {
    let app = spawn_app().await;
    app.register_organization(CBE, "Hospital").await;
    let token = app.admin_token().await;
    let key = ClientKey::generate("k1");
    let response = app
        .post_json(
            "/admin/clients",
            &token,
            &json!({"type": "system", "name": "Lab", "organization": CBE,
            "scopes": ["depot:send", "tsa"], "jwks": key.jwks(), "claims": {"lab": "central"}}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let id = created["client_id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "a generated client_id");
    assert_eq!(created["type"], "system");
    assert_eq!(created["organization"], CBE);
    assert_eq!(created["jwks"]["keys"][0]["kid"], "k1");

    let fetched: Value = app
        .get(&format!("/admin/clients/{id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, created);

    let deleted = app
        .http
        .delete(app.url(&format!("/admin/clients/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        app.get(&format!("/admin/clients/{id}"), &token)
            .await
            .status(),
        404
    );
    let again = app
        .http
        .delete(app.url(&format!("/admin/clients/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);

    // A deleted client can no longer authenticate.
    let client = TestClient {
        id: id.clone(),
        key,
    };
    let assertion = client
        .key
        .sign(&client.claims(&app.token_endpoint(), app.now()));
    assert_eq!(app.token_request(&assertion, &[]).await.status(), 401);
}

#[tokio::test]
async fn an_administrator_registers_another_administrator() {
    let app = spawn_app().await;
    let second = app
        .register_system_client("admin-2", &["admin"], json!({}))
        .await;
    let token = app.token_for(&second, &[]).await;
    assert_eq!(app.get("/admin/clients/admin", &token).await.status(), 200);
}

#[tokio::test]
async fn invalid_registrations_name_the_field_and_store_nothing() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let key = ClientKey::generate("k1");
    let base = json!({"client_id": "c1", "type": "system", "name": "C", "scopes": ["tsa"], "jwks": key.jwks()});
    let mut private = key.public_jwk.clone();
    private["d"] = json!("AAAA");
    let cases = [
        (json!({"type": "robot"}), "type"),
        (json!({"scopes": ["tsa", "everything"]}), "scopes[1]"),
        (json!({"jwks": {"keys": [private]}}), "jwks.keys[0]"),
        (json!({"jwks": null}), "jwks"),
        (json!({"organization": "0203201340"}), "organization"),
        (json!({"organization": "123"}), "organization"),
        (
            json!({"claims": {"identity": {"profile": "citizen"}}}),
            "claims.identity",
        ),
        (json!({"min_acr": "substantial"}), "min_acr"),
        (json!({"client_id": "a b"}), "client_id"),
    ];
    for (patch, field) in cases {
        let mut body = base.clone();
        body.as_object_mut()
            .unwrap()
            .extend(patch.as_object().unwrap().clone());
        let response = app.post_json("/admin/clients", &token, &body).await;
        assert_eq!(response.status(), 422, "{patch}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["field"], field, "{patch}: {problem}");
    }
    assert_eq!(
        app.get("/admin/clients/c1", &token).await.status(),
        404,
        "nothing stored"
    );

    // Unknown member, malformed JSON, wrong content type.
    let mut body = base.clone();
    body["secret"] = json!("x");
    assert_eq!(
        app.post_json("/admin/clients", &token, &body)
            .await
            .status(),
        422
    );
    let response = app
        .http
        .post(app.url("/admin/clients"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"type\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = app
        .http
        .post(app.url("/admin/clients"))
        .bearer_auth(&token)
        .body(base.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    assert_eq!(
        app.get("/admin/clients/c1", &token).await.status(),
        404,
        "nothing stored"
    );

    // Duplicate client_id.
    assert_eq!(
        app.post_json("/admin/clients", &token, &base)
            .await
            .status(),
        201
    );
    let mut other = base.clone();
    other["name"] = json!("Other");
    assert_eq!(
        app.post_json("/admin/clients", &token, &other)
            .await
            .status(),
        409
    );
    let fetched: Value = app
        .get("/admin/clients/c1", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["name"], "C");
}

#[tokio::test]
async fn the_body_is_not_read_before_the_token_is_checked() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(app.url("/admin/clients"))
        .header("content-type", "application/json")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

/// Deleting a client takes what it was granted with it (issue 22, review item 7): its
/// access tokens are refused at once, and a client registered again under the same id
/// inherits neither the refresh tokens, nor the access tokens, nor the consent.
#[tokio::test]
async fn a_deleted_client_leaves_nothing_behind_for_its_successor() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let client = app
        .register_app("hospital-app", true, &["depot:read"], json!({}))
        .await;
    let (tokens, browser) = person_tokens(&app, &client, &person, "openid depot:read").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    let admin = app.admin_token().await;
    let deleted = app
        .http
        .delete(app.url("/admin/clients/hospital-app"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let refused = app.get("/depot/box", &access).await;
    assert_eq!(refused.status(), 401);
    let problem: Value = refused.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("no longer exists"),
        "{problem}"
    );

    // The same id again, a moment later.
    app.clock.advance(2);
    let successor = app
        .register_app("hospital-app", true, &["depot:read"], json!({}))
        .await;
    let description = expect_oauth_error(
        app.refresh(&successor, &refresh).await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(description.contains("revoked"), "{description}");
    let refused = app.get("/depot/box", &access).await;
    assert_eq!(refused.status(), 401);
    let problem: Value = refused.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("before its client was registered again"),
        "{problem}"
    );
    let pkce = Pkce::new();
    let mut query = auth_query(&successor, "openid depot:read", &pkce);
    query.push(("prompt", "none"));
    assert_eq!(
        browser.authorize(&query).await.redirect_params()["error"],
        "consent_required",
        "the consent went with the deleted client"
    );
}

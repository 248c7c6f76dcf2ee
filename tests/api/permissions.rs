//! The PDP's permissions are enforced (API.md "Permissions"): every protected call
//! needs its permission in the token's `permissions`, besides its scope and audience;
//! a valid token without it is 403. Each row of the contract's table is tried with a
//! token that has every scope and audience but not the permission the policy withheld.

use serde_json::{Value, json};

use crate::forms::{App, PASSWORD, Pkce, auth_query, token_json};
use crate::helpers::*;

/// A person's access token for `scope` through `app`: authorization code + PKCE, the
/// login and consent pages filled as a person would.
async fn person_token(service: &TestApp, app: &App, ssin: &str, scope: &str) -> String {
    let pkce = Pkce::new();
    let browser = service.browser();
    let page = browser.authorize(&auth_query(app, scope, &pkce)).await;
    let consent = browser.login(&page, ssin, PASSWORD, "").await;
    let back = browser.decide(&consent, "allow").await;
    let tokens = token_json(
        service
            .redeem(app, &back.redirect_params()["code"], &pkce.verifier)
            .await,
    )
    .await;
    tokens["access_token"].as_str().unwrap().to_owned()
}

const EVERY_SCOPE: &str =
    "depot:send depot:read keys:register keys:read symkeys:create symkeys:read tsa";

/// A service whose policy grants `rules` only (TOML `[[rules]]` tables).
async fn service_with_policy(rules: &str) -> (TestApp, tempfile::NamedTempFile) {
    let policy = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(policy.path(), rules).unwrap();
    let path = policy.path().to_owned();
    let app = spawn_app_with(move |s| s.authz.policy_file = Some(path)).await;
    (app, policy)
}

/// The 403 of a withheld permission: the problem and the challenge name it.
async fn refused_for(response: reqwest::Response, permission: &str, call: &str) {
    assert_eq!(response.status(), 403, "{call}");
    let challenge = response
        .headers()
        .get("www-authenticate")
        .unwrap_or_else(|| panic!("{call}: no challenge"))
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains("error=\"insufficient_scope\"") && challenge.contains(permission),
        "{call}: {challenge}"
    );
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("insufficient-permission"),
        "{call}: {problem}"
    );
    assert!(
        problem["detail"].as_str().unwrap().contains(permission),
        "{call}: {problem}"
    );
}

#[tokio::test]
async fn every_call_is_refused_without_its_permission() {
    // Only the administrator keeps a permission: every other call of a system client
    // that holds every scope and audience is refused.
    let (app, _policy) = service_with_policy(
        r#"
        [[rules]]
        resource = "admin"
        profile = "system"
        permissions = ["admin"]
        "#,
    )
    .await;
    let cbe = "0404721018";
    app.register_organization(cbe, "Lab").await;
    let lab = app
        .register_system_client(
            "lab",
            &EVERY_SCOPE.split(' ').collect::<Vec<_>>(),
            json!({"organization": cbe}),
        )
        .await;
    let token = app.token_for(&lab, &[("scope", EVERY_SCOPE)]).await;
    let claims = jwt_claims(&token);
    assert_eq!(claims["permissions"], json!([]), "{claims}");
    assert_eq!(claims["aud"].as_array().unwrap().len(), 4, "{claims}");

    let id = uuid::Uuid::now_v7();
    let http = &app.http;
    let calls: Vec<(&str, &str, reqwest::RequestBuilder)> = vec![
        (
            "message:send",
            "POST /depot/messages",
            http.post(app.url("/depot/messages"))
                .json(&json!({"application": "ehbox", "recipients": [], "sealed": "x"})),
        ),
        (
            "message:read",
            "GET /depot/messages",
            http.get(app.url("/depot/messages")),
        ),
        (
            "message:read",
            "GET /depot/messages/{id}",
            http.get(app.url(&format!("/depot/messages/{id}"))),
        ),
        (
            "message:read",
            "POST /depot/messages/{id}/read",
            http.post(app.url(&format!("/depot/messages/{id}/read"))),
        ),
        (
            "message:read",
            "DELETE /depot/messages/{id}",
            http.delete(app.url(&format!("/depot/messages/{id}"))),
        ),
        (
            "message:read",
            "GET /depot/box",
            http.get(app.url("/depot/box")),
        ),
        (
            "key:register",
            "POST /keys/registrations",
            http.post(app.url("/keys/registrations"))
                .json(&json!({"use": "sig", "name": "x"})),
        ),
        (
            "key:register",
            "POST /keys/registrations/{id}",
            http.post(app.url(&format!("/keys/registrations/{id}")))
                .json(&json!({"credential": {}})),
        ),
        ("key:register", "GET /keys", http.get(app.url("/keys"))),
        (
            "key:register",
            "DELETE /keys/{kid}",
            http.delete(app.url("/keys/some-kid")),
        ),
        (
            "key:read",
            "GET /keys/jwks",
            http.get(app.url("/keys/jwks?client_id=lab")),
        ),
        (
            "symkey:create",
            "POST /symkeys",
            http.post(app.url("/symkeys"))
                .json(&json!({"policy": {"allow": []}, "ttlSeconds": 60})),
        ),
        (
            "symkey:create",
            "DELETE /symkeys/{keyId}",
            http.delete(app.url(&format!("/symkeys/{id}"))),
        ),
        (
            "symkey:read",
            "GET /symkeys/{keyId}",
            http.get(app.url(&format!("/symkeys/{id}"))),
        ),
        (
            "timestamp:request",
            "POST /tsa",
            http.post(app.url("/tsa"))
                .header("content-type", "application/timestamp-query")
                .body(vec![0x30, 0x00]),
        ),
    ];
    for (permission, call, request) in calls {
        let response = request.bearer_auth(&token).send().await.unwrap();
        refused_for(response, permission, call).await;
    }
    // Nothing was created on the way.
    let keys = app
        .get("/admin/clients/lab", &app.admin_token().await)
        .await;
    assert_eq!(keys.status(), 200);
}

#[tokio::test]
async fn the_admin_api_needs_the_admin_permission() {
    // A policy that grants nothing: the administrator's token still has scope `admin`
    // and the admin audience, but not the permission.
    let (app, _policy) = service_with_policy("rules = []\n").await;
    let token = app.admin_token().await;
    assert_eq!(jwt_claims(&token)["permissions"], json!([]));
    for (call, request) in [
        (
            "GET /admin/clients/{id}",
            app.http.get(app.url("/admin/clients/x")),
        ),
        (
            "POST /admin/organizations",
            app.http
                .post(app.url("/admin/organizations"))
                .json(&json!({"cbe": "0404721018", "name": "Lab"})),
        ),
        (
            "GET /admin/symkeys/audit",
            app.http.get(app.url("/admin/symkeys/audit")),
        ),
    ] {
        let response = request.bearer_auth(&token).send().await.unwrap();
        refused_for(response, "admin", call).await;
    }
}

#[tokio::test]
async fn the_built_in_policy_lets_a_citizen_create_a_symmetric_key_but_not_stamp() {
    let app = spawn_app().await;
    let citizen = app.citizen("850730033", false).await;
    let client = app
        .register_app(
            "app",
            false,
            &["symkeys:create", "symkeys:read", "tsa"],
            json!({}),
        )
        .await;
    let token = person_token(&app, &client, &citizen, "symkeys:create symkeys:read tsa").await;
    let claims = jwt_claims(&token);
    assert!(
        claims["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("symkey:create")),
        "{claims}"
    );
    let created = app
        .post_json(
            "/symkeys",
            &token,
            &json!({"policy": {"allow": [{"type": "profile", "value": "citizen"}]}, "ttlSeconds": 60}),
        )
        .await;
    assert_eq!(created.status(), 201);
    // Only system clients may ask the TSA: a person's token with scope `tsa` is 403.
    let stamped = app
        .http
        .post(app.url("/tsa"))
        .bearer_auth(&token)
        .header("content-type", "application/timestamp-query")
        .body(vec![0x30, 0x00])
        .send()
        .await
        .unwrap();
    refused_for(stamped, "timestamp:request", "POST /tsa as a person").await;
}

/// A refresh is decided afresh: a professional whose NIHII was taken from them (the
/// authentic source re-imported without it) gets no new token for it, while the
/// person's other grants go on.
#[tokio::test]
async fn a_refresh_is_refused_once_the_profile_is_no_longer_the_persons() {
    let app = spawn_app().await;
    let ssin = crate::forms::ssin("850730033");
    let nihii = crate::forms::nihii(100_006, "004");
    let person = |profiles: Value| json!({"ssin": ssin, "name": "Dr. An Peeters", "password": PASSWORD, "profiles": profiles});
    app.register_person(person(json!([
        {"profile": "citizen"},
        {"profile": "professional", "quality": "doctor", "nihii": nihii}
    ])))
    .await;
    let client = app
        .register_app("ehr", true, &["depot:read"], json!({}))
        .await;

    let mut refresh_tokens = Vec::new();
    for profile in [format!("professional:{nihii}"), "citizen".to_owned()] {
        let pkce = Pkce::new();
        let browser = app.browser();
        let page = browser
            .authorize(&auth_query(&client, "depot:read", &pkce))
            .await;
        let choice = browser.login(&page, &ssin, PASSWORD, "").await;
        let chosen = browser.choose_profile(&choice, &profile).await;
        // Consent is asked once per (person, client).
        let back = match chosen.form_with("decision") {
            Some(_) => browser.decide(&chosen, "allow").await,
            None => chosen,
        };
        let tokens = token_json(
            app.redeem(&client, &back.redirect_params()["code"], &pkce.verifier)
                .await,
        )
        .await;
        refresh_tokens.push(tokens["refresh_token"].as_str().unwrap().to_owned());
    }
    let [as_doctor, as_citizen] = <[String; 2]>::try_from(refresh_tokens).unwrap();
    let refreshed = token_json(app.refresh(&client, &as_doctor).await).await;
    let as_doctor = refreshed["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        jwt_claims(refreshed["access_token"].as_str().unwrap())["identity"]["nihii"],
        nihii.as_str()
    );

    // The authentic source no longer gives the person the NIHII.
    let file = app.data_dir.join("people.json");
    std::fs::write(
        &file,
        json!({"persons": [person(json!([{"profile": "citizen"}]))]}).to_string(),
    )
    .unwrap();
    let imported = crate::cli::depot(&app)
        .args(["admin", "import-people"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );

    let refused = app.refresh(&client, &as_doctor).await;
    assert_eq!(refused.status(), 400);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["error"], "invalid_grant", "{error}");
    assert!(
        error["error_description"]
            .as_str()
            .unwrap()
            .contains("no longer the person's"),
        "{error}"
    );
    // The grant given under the profile the person still holds goes on.
    let refreshed = token_json(app.refresh(&client, &as_citizen).await).await;
    assert_eq!(
        jwt_claims(refreshed["access_token"].as_str().unwrap())["identity"]["profile"],
        "citizen"
    );
}

/// `admin` is for system clients only: a client acting for persons cannot be
/// registered with it, and no person is ever asked to grant it.
#[tokio::test]
async fn no_person_ever_gets_the_admin_scope() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for kind in ["confidential", "public"] {
        let response = app
            .post_json(
                "/admin/clients",
                &admin,
                &json!({"client_id": format!("portal-{kind}"), "type": kind, "name": "Portal",
                        "redirect_uris": ["https://portal.example/callback"],
                        "scopes": ["depot:read", "admin"]}),
            )
            .await;
        assert_eq!(response.status(), 422, "{kind}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["field"], "scopes", "{problem}");
        assert_eq!(
            app.get(&format!("/admin/clients/portal-{kind}"), &admin)
                .await
                .status(),
            404
        );
    }
    let client = app
        .register_app("portal", true, &["depot:read"], json!({}))
        .await;
    let pkce = Pkce::new();
    let back = app
        .browser()
        .authorize(&auth_query(&client, "depot:read admin", &pkce))
        .await;
    let params = back.redirect_params();
    assert_eq!(params["error"], "invalid_scope", "{params:?}");
    assert!(
        params["error_description"].contains("system clients only"),
        "{params:?}"
    );
}

//! `client_credentials` with `consumer=`: a token acting for the consumer (its
//! `identity`), naming the supplier's client as the actor (`act`) and its delegation;
//! refused (`unauthorized_client`) without a delegation in force from that consumer
//! to the client's organization that covers the scopes asked, and to any client that
//! is not a system client of the supplier.

use serde_json::{Value, json};

use super::*;

/// Introspects `token` as `client` (RFC 7662).
async fn introspect(app: &TestApp, client: &TestClient, token: &str) -> Value {
    let assertion = client
        .key
        .sign(&client.claims(&app.token_endpoint(), app.now()));
    let response = app
        .post_form(
            "/oauth2/introspect",
            &[
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &assertion),
                ("token", token),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_supplier_client_acts_for_the_consumer() {
    let app = spawn_app().await;
    let (consumer, supplier, _) = organizations(&app).await;
    let client = client_of(&app, "supplier-gw", &supplier).await;
    // The delegation has tsa too, which the client is not registered for.
    let mut body = delegation(&consumer, &supplier, &["depot:send", "depot:read", "tsa"]);
    body["source"] = json!("mandate-registry");
    let recorded = delegate(&app, &body).await;
    let plain = delegate(&app, &delegation(&consumer, &cbe(OTHER8), &["depot:read"])).await;

    // Without `scope`: the delegation's scopes that the client has.
    let token = app.token_for(&client, &[("consumer", &consumer)]).await;
    let claims = jwt_claims(&token);
    assert_eq!(
        claims["identity"],
        json!({"profile": "system", "cbe": consumer})
    );
    assert_eq!(
        claims["act"],
        json!({"sub": "supplier-gw", "client_id": "supplier-gw", "cbe": supplier,
               "iss": "mandate-registry"})
    );
    assert_eq!(claims["delegation"], recorded["id"]);
    assert_eq!(claims["sub"], "supplier-gw", "sub stays the client");
    assert_eq!(claims["client_id"], "supplier-gw");
    assert_eq!(claims["scope"], "depot:send depot:read");
    assert_eq!(claims["aud"], format!("{}/depot", app.issuer));
    let permissions: Vec<&str> = claims["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(permissions.contains(&"message:send"), "{claims}");
    assert!(permissions.contains(&"message:read"), "{claims}");
    assert!(claims.get("acr").is_none());

    // With `scope`, exactly what was asked.
    let narrow = app
        .token_for(&client, &[("consumer", &consumer), ("scope", "depot:read")])
        .await;
    assert_eq!(jwt_claims(&narrow)["scope"], "depot:read");

    // Introspection shows the delegation and the actor.
    let shown = introspect(&app, &client, &token).await;
    assert_eq!(shown["active"], true, "{shown}");
    assert_eq!(shown["delegation"], recorded["id"]);
    assert_eq!(shown["act"], claims["act"]);

    // Its own token is unchanged: its organization, no actor, no delegation.
    let own = jwt_claims(&app.token_for(&client, &[]).await);
    assert_eq!(
        own["identity"],
        json!({"profile": "system", "cbe": supplier})
    );
    assert!(
        own.get("act").is_none() && own.get("delegation").is_none(),
        "{own}"
    );

    // Without a source, `act.iss` is the issuer.
    let other = client_of(&app, "other-gw", &cbe(OTHER8)).await;
    let token = app.token_for(&other, &[("consumer", &consumer)]).await;
    let claims = jwt_claims(&token);
    assert_eq!(claims["act"]["iss"], app.issuer);
    assert_eq!(claims["delegation"], plain["id"]);
}

#[tokio::test]
async fn a_token_for_a_consumer_needs_a_delegation_in_force_that_covers_it() {
    let app = spawn_app().await;
    let (consumer, supplier, other) = organizations(&app).await;
    let client = client_of(&app, "supplier-gw", &supplier).await;
    let refused = |what: &'static str| move |description: String| (what, description);
    let mut outcomes = Vec::new();

    // No delegation at all.
    let description = expect_oauth_error(
        ask(&app, &client, &[("consumer", &consumer)]).await,
        400,
        "unauthorized_client",
    )
    .await;
    outcomes.push(refused("no delegation")(description));

    // A delegation to another supplier only.
    delegate(
        &app,
        &delegation(&consumer, &other, &["depot:send", "depot:read"]),
    )
    .await;
    let description = expect_oauth_error(
        ask(&app, &client, &[("consumer", &consumer)]).await,
        400,
        "unauthorized_client",
    )
    .await;
    outcomes.push(refused("another supplier's delegation")(description));

    // A delegation that does not cover the scope asked (which the client has).
    delegate(&app, &delegation(&consumer, &supplier, &["depot:read"])).await;
    let description = expect_oauth_error(
        ask(
            &app,
            &client,
            &[("consumer", &consumer), ("scope", "depot:send")],
        )
        .await,
        400,
        "unauthorized_client",
    )
    .await;
    outcomes.push(refused("a scope outside the delegation")(description));
    // A scope the client is not registered for stays invalid_scope.
    expect_oauth_error(
        ask(&app, &client, &[("consumer", &consumer), ("scope", "tsa")]).await,
        400,
        "invalid_scope",
    )
    .await;

    // A system client of no organization, and one of another organization.
    let loose = app
        .register_system_client("loose-gw", CLIENT_SCOPES, json!({}))
        .await;
    let description = expect_oauth_error(
        ask(&app, &loose, &[("consumer", &consumer)]).await,
        400,
        "unauthorized_client",
    )
    .await;
    outcomes.push(refused("a client of no organization")(description));
    let stranger_cbe = cbe("04400004");
    app.register_organization(&stranger_cbe, "Stranger").await;
    let stranger = client_of(&app, "stranger-gw", &stranger_cbe).await;
    let description = expect_oauth_error(
        ask(&app, &stranger, &[("consumer", &consumer)]).await,
        400,
        "unauthorized_client",
    )
    .await;
    outcomes.push(refused("a client of another organization")(description));

    // A client acting for persons.
    let portal = app
        .register_app("portal", true, &["depot:read"], json!({}))
        .await
        .client
        .unwrap();
    let description = expect_oauth_error(
        ask(&app, &portal, &[("consumer", &consumer)]).await,
        400,
        "unauthorized_client",
    )
    .await;
    outcomes.push(refused("a confidential client")(description));

    for (what, description) in &outcomes {
        assert!(!description.is_empty(), "{what}: a description");
    }
    assert!(outcomes[0].1.contains(&consumer), "{outcomes:?}");
    assert!(outcomes[2].1.contains("scopes"), "{outcomes:?}");

    // A malformed consumer is a malformed request.
    for bad in ["0203201341", "12", "BE0203201340"] {
        let description = expect_oauth_error(
            ask(&app, &client, &[("consumer", bad)]).await,
            400,
            "invalid_request",
        )
        .await;
        assert!(description.contains("consumer"), "{bad:?}: {description}");
    }

    // The covered scope is granted.
    let token = app
        .token_for(&client, &[("consumer", &consumer), ("scope", "depot:read")])
        .await;
    assert_eq!(jwt_claims(&token)["identity"]["cbe"], consumer);
}

#[tokio::test]
async fn an_ended_or_expired_delegation_issues_nothing_and_its_tokens_die() {
    let app = spawn_app().await;
    let (consumer, supplier, other) = organizations(&app).await;
    let client = client_of(&app, "supplier-gw", &supplier).await;

    // Ended.
    let recorded = delegate(&app, &delegation(&consumer, &supplier, &["depot:read"])).await;
    let token = app.token_for(&client, &[("consumer", &consumer)]).await;
    assert_eq!(depot_status(&app, &token).await, 200);
    assert_eq!(
        end(&app, recorded["id"].as_str().unwrap()).await.status(),
        204
    );
    expect_oauth_error(
        ask(&app, &client, &[("consumer", &consumer)]).await,
        400,
        "unauthorized_client",
    )
    .await;
    let response = app.get("/depot/box", &token).await;
    assert_eq!(response.status(), 401, "refused at once where it was ended");
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    let problem: Value = response.json().await.unwrap();
    assert_eq!(
        problem["detail"], "the delegation this token was issued under has ended",
        "{problem}"
    );
    let admin = app.admin.clone();
    let assertion = admin
        .key
        .sign(&admin.claims(&app.token_endpoint(), app.now()));
    let shown: Value = app
        .post_form(
            "/oauth2/introspect",
            &[
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &assertion),
                ("token", &token),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown, json!({"active": false}));

    // Past its notAfter (the clock moved on): neither issued nor accepted.
    let not_after = (app.clock.now() + chrono::Duration::seconds(60))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut body = delegation(&other, &supplier, &["depot:read"]);
    body["notAfter"] = json!(not_after);
    delegate(&app, &body).await;
    let token = app.token_for(&client, &[("consumer", &other)]).await;
    assert_eq!(depot_status(&app, &token).await, 200);
    app.clock.advance(61);
    expect_oauth_error(
        ask(&app, &client, &[("consumer", &other)]).await,
        400,
        "unauthorized_client",
    )
    .await;
    assert_eq!(depot_status(&app, &token).await, 401, "past notAfter");
    // Its own token still works.
    let own = app.token_for(&client, &[]).await;
    assert_eq!(depot_status(&app, &own).await, 200);
}

#[tokio::test]
async fn static_claims_cannot_forge_a_delegation() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let key = ClientKey::generate("forger-key-1");
    let response = app
        .post_json(
            "/admin/clients",
            &token,
            &json!({"client_id": "forger", "type": "system", "name": "Forger",
                    "scopes": ["depot:read"], "jwks": key.jwks(),
                    "claims": {"delegation": "0190f000-0000-7000-8000-000000000000"}}),
        )
        .await;
    invalid(response, "claims.delegation", "a static delegation claim").await;
}

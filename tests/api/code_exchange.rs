//! The token endpoint's person grants: codes (PKCE, single use, bindings, lifetime) and
//! refresh tokens (public and confidential clients, each its own, rotation, reuse,
//! narrowing, revocation; a public client's bound to its DPoP key).

use serde_json::{Value, json};

use crate::forms::*;
use crate::helpers::dpop::DpopKey;
use crate::helpers::*;

#[tokio::test]
async fn a_confidential_client_with_totp_gets_substantial_tokens_and_rotating_refresh_tokens() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", true).await;
    let client = app
        .register_app(
            "hospital-app",
            true,
            &["depot:read"],
            json!({"min_acr": "http://eidas.europa.eu/LoA/substantial"}),
        )
        .await;
    let pkce = Pkce::new();
    let browser = app.browser();
    let login = browser
        .authorize(&auth_query(&client, "openid depot:read", &pkce))
        .await;
    let code = totp(TOTP_SECRET, app.now());
    let consent = browser.login(&login, &person, PASSWORD, &code).await;
    let back = browser.decide(&consent, "allow").await;
    let tokens = token_json(
        app.redeem(&client, &back.redirect_params()["code"], &pkce.verifier)
            .await,
    )
    .await;
    let access = jwt_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["acr"], "http://eidas.europa.eu/LoA/substantial");
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["amr"],
        json!(["pwd", "otp", "mfa"])
    );

    // Rotation: each refresh token works once and is replaced.
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let second = token_json(app.refresh(&client, &first).await).await;
    let second_refresh = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first);
    let second_access = second["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        jwt_claims(&second_access)["acr"],
        "http://eidas.europa.eu/LoA/substantial"
    );
    assert_eq!(
        app.get("/oauth2/userinfo", &second_access).await.status(),
        200
    );

    // Reusing the first one revokes the family: the newest refresh token and the access
    // token issued with it stop working.
    let description =
        expect_oauth_error(app.refresh(&client, &first).await, 400, "invalid_grant").await;
    assert!(description.contains("already used"), "{description}");
    expect_oauth_error(
        app.refresh(&client, &second_refresh).await,
        400,
        "invalid_grant",
    )
    .await;
    assert_eq!(
        app.get("/oauth2/userinfo", &second_access).await.status(),
        401
    );
}

#[tokio::test]
async fn pkce_is_required_s256_only_and_checked() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let client = app.reading_app().await;
    let pkce = Pkce::new();
    let browser = app.browser();

    let without: Vec<_> = auth_query(&client, SCOPE, &pkce)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .collect();
    let back = browser.authorize(&without).await;
    assert_eq!(back.redirect_params()["error"], "invalid_request");
    assert!(back.redirect_params()["error_description"].contains("PKCE"));
    assert_eq!(back.redirect_params()["state"], "state-123");

    let mut plain = auth_query(&client, SCOPE, &pkce);
    plain.retain(|(k, _)| *k != "code_challenge_method");
    plain.push(("code_challenge_method", "plain"));
    let back = browser.authorize(&plain).await;
    assert_eq!(back.redirect_params()["error"], "invalid_request");
    assert!(back.redirect_params()["error_description"].contains("S256"));

    let (code, _) = code_for(&app, &client, &person, &pkce).await;
    let wrong = Pkce::new();
    let description = expect_oauth_error(
        app.redeem(&client, &code, &wrong.verifier).await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(description.contains("PKCE"), "{description}");
    // A failed attempt does not burn the code for its rightful holder.
    token_json(app.redeem(&client, &code, &pkce.verifier).await).await;
}

#[tokio::test]
async fn a_reused_code_is_refused_and_revokes_what_it_issued() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let client = app
        .register_app("app", true, &["depot:read"], json!({}))
        .await;
    let pkce = Pkce::new();
    let (code, _) = code_for(&app, &client, &person, &pkce).await;
    let tokens = token_json(app.redeem(&client, &code, &pkce.verifier).await).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(app.get("/oauth2/userinfo", access).await.status(), 200);

    let description = expect_oauth_error(
        app.redeem(&client, &code, &pkce.verifier).await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(description.contains("already used"), "{description}");
    assert_eq!(app.get("/oauth2/userinfo", access).await.status(), 401);
    expect_oauth_error(
        app.refresh(&client, tokens["refresh_token"].as_str().unwrap())
            .await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn a_code_is_bound_to_its_client_redirect_uri_and_lifetime() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let client = app.reading_app().await;
    let other = app
        .register_app("other", false, &["depot:read"], json!({}))
        .await;
    let pkce = Pkce::new();

    let (code, _) = code_for(&app, &client, &person, &pkce).await;
    let stolen = App {
        id: other.id.clone(),
        redirect_uri: client.redirect_uri.clone(),
        client: None,
    };
    let description = expect_oauth_error(
        app.redeem(&stolen, &code, &pkce.verifier).await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(description.contains("another client"), "{description}");
    let moved = App {
        id: client.id.clone(),
        redirect_uri: format!("{}/x", client.redirect_uri),
        client: None,
    };
    expect_oauth_error(
        app.redeem(&moved, &code, &pkce.verifier).await,
        400,
        "invalid_grant",
    )
    .await;
    // Still good for its rightful client after those attempts.
    token_json(app.redeem(&client, &code, &pkce.verifier).await).await;

    let pkce = Pkce::new();
    let (code, _) = code_for(&app, &client, &person, &pkce).await;
    app.clock.advance(61);
    let description = expect_oauth_error(
        app.redeem(&client, &code, &pkce.verifier).await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(description.contains("expired"), "{description}");
}

#[tokio::test]
async fn a_public_client_refreshes_with_its_client_id_and_a_reused_token_revokes_the_family() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let client = app
        .register_app("gp-app", false, &["depot:read"], json!({}))
        .await;
    let key = DpopKey::generate();
    let pkce = Pkce::new();
    let (code, _) = code_for(&app, &client, &person, &pkce).await;
    let tokens = token_json(app.dpop_redeem(&client, &code, &pkce.verifier, &key).await).await;
    assert_eq!(tokens["token_type"], "DPoP");
    let first = tokens["refresh_token"]
        .as_str()
        .expect("a public client with a DPoP key gets a refresh token (RFC 9449 §5)")
        .to_owned();
    let first_access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(jwt_claims(&first_access)["cnf"], json!({"jkt": key.jkt()}));

    // Refreshed with `client_id` alone and a proof by the key, rotated: a new refresh
    // token each time, and access tokens bound to the same key.
    let second = token_json(app.dpop_refresh(&client, &first, &key).await).await;
    let second_refresh = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first);
    let second_access = second["access_token"].as_str().unwrap().to_owned();
    let claims = jwt_claims(&second_access);
    assert_eq!(claims["client_id"], "gp-app");
    assert_eq!(claims["sub"], person);
    assert_eq!(claims["cnf"], json!({"jkt": key.jkt()}));
    assert_eq!(
        app.dpop_get("/depot/box", &second_access, &key)
            .await
            .status(),
        200,
        "the refreshed token is accepted"
    );
    let third = token_json(app.dpop_refresh(&client, &second_refresh, &key).await).await;
    let third_refresh = third["refresh_token"].as_str().unwrap().to_owned();
    let third_access = third["access_token"].as_str().unwrap().to_owned();

    // Another public client naming itself cannot use it, even with the key.
    let other = app
        .register_app("other-app", false, &["depot:read"], json!({}))
        .await;
    let description = expect_oauth_error(
        app.dpop_refresh(&other, &third_refresh, &key).await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(description.contains("another client"), "{description}");

    // The first token again (stolen with the key, or replayed): the whole family is
    // revoked, the newest refresh token and every access token issued with the family.
    let description = expect_oauth_error(
        app.dpop_refresh(&client, &first, &key).await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(description.contains("already used"), "{description}");
    expect_oauth_error(
        app.dpop_refresh(&client, &third_refresh, &key).await,
        400,
        "invalid_grant",
    )
    .await;
    // Refused for the revocation (the proofs are good).
    for access in [&second_access, &third_access] {
        assert_eq!(
            app.dpop_get("/oauth2/userinfo", access, &key)
                .await
                .status(),
            401
        );
    }
    // The access token of the code itself is of the family as well.
    assert_eq!(
        app.dpop_get("/oauth2/userinfo", &first_access, &key)
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn a_public_client_without_a_dpop_proof_gets_no_refresh_token() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let client = app
        .register_app("gp-app", false, &["depot:read"], json!({}))
        .await;
    let pkce = Pkce::new();
    let (code, _) = code_for(&app, &client, &person, &pkce).await;
    let tokens = token_json(app.redeem(&client, &code, &pkce.verifier).await).await;
    assert!(
        tokens.get("refresh_token").is_none(),
        "an unbound refresh token of a public client could be used by anyone: {tokens}"
    );
    // Still a working, unbound access token.
    assert_eq!(tokens["token_type"], "Bearer");
    let access = tokens["access_token"].as_str().unwrap();
    assert!(jwt_claims(access).get("cnf").is_none());
    assert_eq!(app.get("/depot/box", access).await.status(), 200);
}

#[tokio::test]
async fn a_public_clients_refresh_token_needs_a_proof_by_its_key_and_a_refusal_does_not_use_it_up()
{
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let client = app
        .register_app("gp-app", false, &["depot:read"], json!({}))
        .await;
    let key = DpopKey::generate();
    let pkce = Pkce::new();
    let (code, _) = code_for(&app, &client, &person, &pkce).await;
    let tokens = token_json(app.dpop_redeem(&client, &code, &pkce.verifier, &key).await).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let access = tokens["access_token"].as_str().unwrap();

    // Without a proof (a thief with the token alone).
    let description = expect_oauth_error(
        app.refresh(&client, refresh).await,
        400,
        "invalid_dpop_proof",
    )
    .await;
    assert!(description.contains("DPoP"), "{description}");
    // With a proof by another key (a thief with a key of its own).
    let thief = DpopKey::generate();
    let description = expect_oauth_error(
        app.dpop_refresh(&client, refresh, &thief).await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(description.contains("another key"), "{description}");

    // Neither used it up nor revoked the family: the client refreshes with its key.
    assert_eq!(app.dpop_get("/depot/box", access, &key).await.status(), 200);
    let renewed = token_json(app.dpop_refresh(&client, refresh, &key).await).await;
    let renewed_access = renewed["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(renewed_access)["cnf"], json!({"jkt": key.jkt()}));
    assert_eq!(
        app.dpop_get("/depot/box", renewed_access, &key)
            .await
            .status(),
        200
    );
    assert!(renewed["refresh_token"].is_string());
}

#[tokio::test]
async fn a_refresh_token_is_only_its_clients_and_scopes_only_narrow() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let client = app
        .register_app("app", true, &["depot:read", "depot:send"], json!({}))
        .await;
    let pkce = Pkce::new();
    let (code, _) = code_for(&app, &client, &person, &pkce).await;
    let tokens = token_json(app.redeem(&client, &code, &pkce.verifier).await).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let public = App {
        id: "pub".into(),
        redirect_uri: String::new(),
        client: None,
    };
    app.register_app("pub", false, &["depot:read"], json!({}))
        .await;
    // A public client naming itself gets nothing with a confidential client's token.
    let description =
        expect_oauth_error(app.refresh(&public, refresh).await, 400, "invalid_grant").await;
    assert!(description.contains("another client"), "{description}");

    let (app, client) = (&app, &client);
    let with_scope = |scope: &'static str| {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("scope", scope),
        ];
        async move { app.app_token_request(client, &form).await }
    };
    expect_oauth_error(
        with_scope("depot:read keys:read").await,
        400,
        "invalid_scope",
    )
    .await;
    let narrower = token_json(with_scope("depot:read").await).await;
    assert_eq!(narrower["scope"], "depot:read");
}

#[tokio::test]
async fn a_client_revokes_its_refresh_token_and_with_it_the_family() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let client = app
        .register_app("app", true, &["depot:read"], json!({}))
        .await;
    let other = app
        .register_app("other", true, &["depot:read"], json!({}))
        .await;
    let pkce = Pkce::new();
    let (code, _) = code_for(&app, &client, &person, &pkce).await;
    let tokens = token_json(app.redeem(&client, &code, &pkce.verifier).await).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let revoke = |who: &App| {
        let mut form = vec![
            ("token", refresh.to_owned()),
            ("token_type_hint", "refresh_token".to_owned()),
        ];
        form.extend(app.client_auth(who));
        app.http.post(app.url("/oauth2/revoke")).form(&form).send()
    };
    expect_oauth_error(revoke(&other).await.unwrap(), 400, "unauthorized_client").await;
    assert_eq!(revoke(&client).await.unwrap().status(), 200);
    expect_oauth_error(app.refresh(&client, refresh).await, 400, "invalid_grant").await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(app.get("/oauth2/userinfo", access).await.status(), 401);
}

/// RFC 6749 §6: a refresh may ask for less than the grant, for that access token only;
/// the rotated refresh token keeps the family's scope (issue 22, review item 4), so the
/// next refresh gets the whole grant again.
#[tokio::test]
async fn a_narrowed_refresh_does_not_narrow_the_family() {
    let app = spawn_app().await;
    let person = app.citizen("850730033", false).await;
    let client = app
        .register_app(
            "hospital-app",
            true,
            &["depot:read", "keys:read"],
            json!({}),
        )
        .await;
    let (tokens, _) = person_tokens(&app, &client, &person, "openid depot:read keys:read").await;
    let scope_of = |tokens: &Value| {
        jwt_claims(tokens["access_token"].as_str().unwrap())["scope"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(scope_of(&tokens), "depot:read keys:read openid");

    let narrowed = token_json(
        app.app_token_request(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
                ("scope", "depot:read"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(scope_of(&narrowed), "depot:read");
    assert_eq!(narrowed["scope"], "depot:read");

    let whole = token_json(
        app.refresh(&client, narrowed["refresh_token"].as_str().unwrap())
            .await,
    )
    .await;
    assert_eq!(scope_of(&whole), "depot:read keys:read openid");
    assert!(whole.get("id_token").is_some(), "openid is back: {whole}");
}

//! Exchanges refused (API.md "Token exchange", errors): each with its error code, and
//! nothing used up that a correct request would need.

use super::*;

/// The refusal of `form`, with its description.
async fn refused(s: &Setting, form: &[(&str, &str)], error: &str) -> String {
    let response = exchange(&s.app, &s.client, form, None).await;
    expect_oauth_error(response, 400, error).await
}

#[tokio::test]
async fn subject_tokens_that_may_not_be_exchanged() {
    let s = setting("850102001", false).await;
    let device = register_device(&s.app, &s.token, KeyKind::Es256).await;

    // Issued to another client: the other app cannot exchange the person's token.
    let other = s
        .app
        .register_app("other-app", false, super::APP_SCOPES, serde_json::json!({}))
        .await;
    let actor = device.actor_token(&s.app, &other.id);
    let response = exchange(
        &s.app,
        &other,
        &exchange_form(&s.token, Some(&actor), &[]),
        None,
    )
    .await;
    let description = expect_oauth_error(response, 400, "invalid_grant").await;
    assert!(description.contains("another client"), "{description}");

    // Without the scope `exchange`.
    let (plain, _) = person_token(&s.app, &s.client, &s.ssin, "openid depot:read").await;
    let actor = device.actor_token(&s.app, &s.client.id);
    let description = refused(
        &s,
        &exchange_form(&plain, Some(&actor), &[]),
        "invalid_grant",
    )
    .await;
    assert!(description.contains("exchange"), "{description}");
    // That refusal did not use the actor token up: it is good with a right subject.
    let ok = exchange(
        &s.app,
        &s.client,
        &exchange_form(&s.token, Some(&actor), &[]),
        None,
    )
    .await;
    assert_eq!(ok.status(), 200);

    // Not one of ours, or tampered.
    let mut tampered = s.token.clone();
    tampered.pop();
    tampered.push(if s.token.ends_with('A') { 'B' } else { 'A' });
    for token in ["not-a-token", tampered.as_str()] {
        refused(&s, &exchange_form(token, None, &[]), "invalid_grant").await;
    }

    // Expired: the subject token's life is over.
    s.app.clock.advance(3600);
    let description = refused(&s, &exchange_form(&s.token, None, &[]), "invalid_grant").await;
    assert!(description.contains("expired"), "{description}");
}

#[tokio::test]
async fn a_revoked_subject_token_is_refused() {
    let s = setting("850102002", true).await;
    let own = s.client.client.as_ref().unwrap();
    let assertion = own
        .key
        .sign(&own.claims(&s.app.token_endpoint(), s.app.now()));
    let response = s
        .app
        .post_form(
            "/oauth2/revoke",
            &[
                ("token", s.token.as_str()),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &assertion),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    let description = refused(&s, &exchange_form(&s.token, None, &[]), "invalid_grant").await;
    assert!(description.contains("revoked"), "{description}");
}

#[tokio::test]
async fn actor_tokens_that_do_not_prove_a_key_of_the_pair() {
    let s = setting("850102003", false).await;
    let device = register_device(&s.app, &s.token, KeyKind::Es256).await;
    let refuse = |actor: String, what: &'static str| {
        let s = &s;
        async move {
            let form = exchange_form(&s.token, Some(&actor), &[]);
            let description = refused(s, &form, "invalid_grant").await;
            assert!(description.contains(what), "{what}: {description}");
        }
    };

    // Replayed.
    let actor = device.actor_token(&s.app, &s.client.id);
    let form = exchange_form(&s.token, Some(&actor), &[]);
    assert_eq!(exchange(&s.app, &s.client, &form, None).await.status(), 200);
    refuse(actor, "replay").await;

    // By a key nobody registered, though it names a registered kid, or its own.
    let stranger = unregistered_device(KeyKind::Es256, &device.kid);
    refuse(stranger.actor_token(&s.app, &s.client.id), "signature").await;
    let stranger = unregistered_device(KeyKind::Es256, "made-up-kid");
    refuse(stranger.actor_token(&s.app, &s.client.id), "not registered").await;

    // Another person's device key, registered for the same app.
    let bob = s.app.citizen("850102004", false).await;
    let (bob_token, _) = person_token(&s.app, &s.client, &bob, super::SCOPE).await;
    let bobs = register_device(&s.app, &bob_token, KeyKind::Es256).await;
    refuse(bobs.actor_token(&s.app, &s.client.id), "not registered").await;

    // Expired, too long-lived, for another audience, by another client.
    let mut claims = Device::actor_claims(&s.app, &s.client.id);
    claims["iat"] = serde_json::json!(s.app.now() - 600);
    claims["exp"] = serde_json::json!(s.app.now() - 300);
    refuse(device.actor_token_with(&claims), "expired").await;
    let mut claims = Device::actor_claims(&s.app, &s.client.id);
    claims["exp"] = serde_json::json!(s.app.now() + 3600);
    refuse(device.actor_token_with(&claims), "ahead").await;
    let mut claims = Device::actor_claims(&s.app, &s.client.id);
    claims["aud"] = serde_json::json!("https://elsewhere.example");
    refuse(device.actor_token_with(&claims), "aud").await;
    let claims = Device::actor_claims(&s.app, "other-app");
    refuse(device.actor_token_with(&claims), "iss").await;

    // Revoked: the person deletes the key.
    let response = s
        .app
        .http
        .delete(s.app.url(&format!("/keys/{}", device.kid)))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    refuse(device.actor_token(&s.app, &s.client.id), "not active").await;
}

#[tokio::test]
async fn unknown_token_types_are_invalid_requests() {
    let s = setting("850102005", false).await;
    let device = register_device(&s.app, &s.token, KeyKind::Es256).await;
    let actor = device.actor_token(&s.app, &s.client.id);
    let id_token = "urn:ietf:params:oauth:token-type:id_token";
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![
            ("grant_type", GRANT),
            ("subject_token", &s.token),
            ("subject_token_type", JWT),
        ],
        vec![("grant_type", GRANT), ("subject_token", &s.token)],
        exchange_form(&s.token, None, &[("requested_token_type", id_token)]),
        vec![
            ("grant_type", GRANT),
            ("subject_token", &s.token),
            ("subject_token_type", ACCESS),
            ("actor_token", &actor),
            ("actor_token_type", ACCESS),
        ],
        vec![
            ("grant_type", GRANT),
            ("subject_token", &s.token),
            ("subject_token_type", ACCESS),
            ("actor_token", &actor),
        ],
        // A holder-of-key assertion needs the holder's key.
        exchange_form(&s.token, None, &[("requested_token_type", SAML2)]),
    ];
    for form in cases {
        refused(&s, &form, "invalid_request").await;
    }
    // None of these used the actor token up.
    let form = exchange_form(&s.token, Some(&actor), &[]);
    assert_eq!(exchange(&s.app, &s.client, &form, None).await.status(), 200);
}

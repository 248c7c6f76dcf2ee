//! Exchanges that succeed: for an access token in which the app acts (`act`), bound to
//! the actor key, narrowed as asked, nested for chains.

use serde_json::{Value, json};

use super::*;

fn issuer_url(app: &TestApp, path: &str) -> String {
    format!("{}{path}", app.issuer)
}

fn audiences(claims: &Value) -> Vec<String> {
    match &claims["aud"] {
        Value::String(one) => vec![one.clone()],
        Value::Array(many) => many
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect(),
        other => panic!("aud {other}"),
    }
}

#[tokio::test]
async fn a_public_app_exchanges_with_its_device_key_for_a_token_bound_to_it() {
    let s = setting("850101001", false).await;
    let device = register_device(&s.app, &s.token, KeyKind::Es256).await;
    let actor = device.actor_token(&s.app, &s.client.id);
    let subject = jwt_claims(&s.token);

    let body = exchanged(
        &s.app,
        &s.client,
        &exchange_form(&s.token, Some(&actor), &[]),
        Some(&device),
    )
    .await;
    assert_eq!(body["issued_token_type"], ACCESS);
    assert_eq!(body["token_type"], "DPoP");
    let token = body["access_token"].as_str().unwrap();
    let claims = jwt_claims(token);
    assert_eq!(claims["sub"], s.ssin);
    assert_eq!(claims["client_id"], s.client.id);
    assert_eq!(claims["identity"], subject["identity"]);
    assert_eq!(claims["acr"], subject["acr"]);
    assert_eq!(
        claims["act"],
        json!({"sub": s.client.id, "client_id": s.client.id})
    );
    // Bound to the actor key: the device key's thumbprint.
    assert_eq!(claims["cnf"]["jkt"], device.jkt());
    // `exchange` itself only when asked for; the token endpoint is no audience then.
    assert_eq!(
        claims["scope"],
        "depot:send depot:read keys:register openid"
    );
    let aud = audiences(&claims);
    assert!(aud.contains(&issuer_url(&s.app, "/depot")), "{aud:?}");
    assert!(
        !aud.contains(&issuer_url(&s.app, "/oauth2/token")),
        "{aud:?}"
    );
    assert!(claims["exp"].as_i64() <= subject["exp"].as_i64());
    assert!(
        claims["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("message:read"))
    );
    assert!(
        !claims["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("token:exchange"))
    );

    // It is used with proofs by the device key, never as a bearer token.
    let response = s
        .app
        .http
        .get(s.app.url("/depot/box"))
        .header("Authorization", format!("DPoP {token}"))
        .header(
            "DPoP",
            device.proof(&s.app, "GET", "/depot/box", Some(token)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let response = s.app.get("/depot/box", token).await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn a_public_app_may_use_an_rsa_or_ed25519_device_key() {
    let s = setting("850101002", false).await;
    for kind in [KeyKind::EdDsa, KeyKind::Rs256 { bits: 2048 }] {
        let device = register_device(&s.app, &s.token, kind).await;
        let actor = device.actor_token(&s.app, &s.client.id);
        let body = exchanged(
            &s.app,
            &s.client,
            &exchange_form(&s.token, Some(&actor), &[("scope", "depot:read")]),
            None,
        )
        .await;
        let claims = jwt_claims(body["access_token"].as_str().unwrap());
        assert_eq!(claims["cnf"]["jkt"], device.jkt(), "{kind:?}");
    }
}

#[tokio::test]
async fn a_confidential_app_exchanges_with_its_own_key() {
    let s = setting("850101003", true).await;
    let own = s.client.client.as_ref().unwrap();
    let actor = own.key.sign(&own.claims(&s.app.issuer, s.app.now()));
    let body = exchanged(
        &s.app,
        &s.client,
        &exchange_form(&s.token, Some(&actor), &[("scope", "depot:read")]),
        None,
    )
    .await;
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], s.ssin);
    assert_eq!(claims["act"]["client_id"], s.client.id);
    let expected = depot::authz::jwks::thumbprint(&own.key.public_jwk).unwrap();
    assert_eq!(claims["cnf"]["jkt"], expected);
    assert_eq!(claims["scope"], "depot:read");
}

#[tokio::test]
async fn without_an_actor_token_the_app_acts_unbound() {
    let s = setting("850101004", true).await;
    let body = exchanged(
        &s.app,
        &s.client,
        &exchange_form(&s.token, None, &[("scope", "depot:read")]),
        None,
    )
    .await;
    assert_eq!(body["token_type"], "Bearer");
    let token = body["access_token"].as_str().unwrap();
    let claims = jwt_claims(token);
    assert!(claims.get("cnf").is_none());
    assert_eq!(claims["act"]["sub"], s.client.id);
    assert_eq!(s.app.get("/depot/box", token).await.status(), 200);
}

#[tokio::test]
async fn scopes_and_audience_narrow_and_never_widen() {
    let s = setting("850101005", true).await;
    let narrowed = exchanged(
        &s.app,
        &s.client,
        &exchange_form(
            &s.token,
            None,
            &[
                ("scope", "depot:read"),
                ("resource", &issuer_url(&s.app, "/depot")),
            ],
        ),
        None,
    )
    .await;
    let claims = jwt_claims(narrowed["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], issuer_url(&s.app, "/depot"));
    assert_eq!(claims["scope"], "depot:read");

    // A scope the subject token does not hold, or unknown.
    for scope in ["depot:read symkeys:read", "depot:write"] {
        let response = exchange(
            &s.app,
            &s.client,
            &exchange_form(&s.token, None, &[("scope", scope)]),
            None,
        )
        .await;
        expect_oauth_error(response, 400, "invalid_scope").await;
    }
    // A resource the scopes asked do not imply, by `resource` or by `audience`.
    for param in ["resource", "audience"] {
        let keys = issuer_url(&s.app, "/keys");
        let response = exchange(
            &s.app,
            &s.client,
            &exchange_form(&s.token, None, &[("scope", "depot:read"), (param, &keys)]),
            None,
        )
        .await;
        expect_oauth_error(response, 400, "invalid_target").await;
    }
}

#[tokio::test]
async fn an_exchange_of_an_exchanged_token_nests_act_two_deep() {
    let s = setting("850101006", false).await;
    let device = register_device(&s.app, &s.token, KeyKind::Es256).await;
    let first = exchanged(
        &s.app,
        &s.client,
        &exchange_form(
            &s.token,
            Some(&device.actor_token(&s.app, &s.client.id)),
            &[("scope", "depot:read exchange")],
        ),
        Some(&device),
    )
    .await;
    let first = first["access_token"].as_str().unwrap();
    let first_claims = jwt_claims(first);
    assert!(audiences(&first_claims).contains(&issuer_url(&s.app, "/oauth2/token")));

    // The first exchanged token is bound to the device key: exchanging it needs a
    // proof by that key.
    let actor = device.actor_token(&s.app, &s.client.id);
    let form = exchange_form(first, Some(&actor), &[("scope", "depot:read")]);
    let response = exchange(&s.app, &s.client, &form, None).await;
    let description = expect_oauth_error(response, 400, "invalid_grant").await;
    assert!(description.contains("DPoP"), "{description}");

    let second = exchanged(&s.app, &s.client, &form, Some(&device)).await;
    let claims = jwt_claims(second["access_token"].as_str().unwrap());
    let one = json!({"sub": s.client.id, "client_id": s.client.id});
    let mut nested = one.clone();
    nested["act"] = one;
    assert_eq!(claims["act"], nested);
    assert_eq!(claims["sub"], s.ssin);
    assert!(claims["exp"].as_i64() <= first_claims["exp"].as_i64());
}

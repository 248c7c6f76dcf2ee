//! A device key's life after the ceremony: the limit of active keys per person and
//! client, revocation by its owner only, the history that answers "which keys were
//! active at T" at any time, keys that become inactive unused, and the account page
//! that lists, renames and revokes them.

use super::authenticator;
use super::found as search;
use super::*;

#[tokio::test]
async fn the_limit_of_active_keys_per_person_and_client() {
    let app = keystore_app().await;
    let (_, client, token) = citizen_with_app(&app, "850101010", "gp-app").await;
    let mut registered = Vec::new();
    for name in ["one", "two"] {
        registered.push(register_passkey(&app, &token, "sig", name).await["kid"].clone());
    }
    // Two ceremonies started while one slot is left: the second to finish is refused.
    let (_, a) = start(&app, &token, "enc", "three").await;
    let (_, b) = start(&app, &token, "enc", "four").await;
    let made_a = authenticator::register(&a["publicKey"], ORIGIN, &Options::default());
    let made_b = authenticator::register(&b["publicKey"], ORIGIN, &Options::default());
    assert_eq!(
        finish(
            &app,
            &token,
            a["registrationId"].as_str().unwrap(),
            &made_a.credential
        )
        .await
        .0,
        201
    );
    let (status, problem) = finish(
        &app,
        &token,
        b["registrationId"].as_str().unwrap(),
        &made_b.credential,
    )
    .await;
    assert_eq!(status, 409, "{problem}");

    // Starting a fourth is refused at once, naming the active keys.
    let (status, problem) = start(&app, &token, "sig", "five").await;
    assert_eq!(status, 409, "{problem}");
    let active = problem["activeKeys"].as_array().unwrap();
    assert_eq!(active.len(), 3);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains(registered[0].as_str().unwrap())
    );
    assert_eq!(own_keys(&app, &token).await.len(), 3);

    // Another client of the same person has its own limit.
    let other_app = app
        .register_app(
            "other-app",
            false,
            &["openid", "keys:register", "keys:read"],
            json!({}),
        )
        .await;
    let other = person_token(&app, &other_app, &crate::forms::ssin("850101010")).await;
    register_passkey(&app, &other, "sig", "other").await;

    // Revoking one frees a slot.
    let revoked = app
        .http
        .delete(app.url(&format!("/keys/{}", registered[0].as_str().unwrap())))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    let (status, _) = start(&app, &token, "sig", "five").await;
    assert_eq!(status, 201);
    let _ = client;
}

#[tokio::test]
async fn only_the_owner_revokes_and_history_answers_at_any_time() {
    let app = keystore_app().await;
    let (ssin, client, token) = citizen_with_app(&app, "850101011", "gp-app").await;
    let t0 = app.clock.now();
    app.clock.advance(60);
    let k1 = register_passkey(&app, &token, "enc", "first").await;
    let k1 = k1["kid"].as_str().unwrap().to_owned();
    app.clock.advance(60);
    let t1 = app.clock.now();

    // Another person cannot revoke it.
    let intruder_ssin = app.citizen("850101012", false).await;
    let intruder = person_token(&app, &client, &intruder_ssin).await;
    let response = app
        .http
        .delete(app.url(&format!("/keys/{k1}")))
        .bearer_auth(&intruder)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(own_keys(&app, &token).await[0]["status"], "active");

    app.clock.advance(60);
    let token = person_token(&app, &client, &ssin).await;
    let response = app
        .http
        .delete(app.url(&format!("/keys/{k1}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    app.clock.advance(60);
    let t2 = app.clock.now();
    app.clock.advance(60);
    let token = person_token(&app, &client, &ssin).await;
    let k2 = register_passkey(&app, &token, "enc", "second").await;
    let k2 = k2["kid"].as_str().unwrap().to_owned();
    app.clock.advance(60);
    let t3 = app.clock.now();

    let at = |t: DateTime<Utc>| rfc3339(t);
    let id = |t: &str| {
        vec![
            ("identity_type".to_owned(), "ssin".to_owned()),
            ("identity_value".to_owned(), ssin.clone()),
            ("at".to_owned(), t.to_owned()),
        ]
    };
    let token = person_token(&app, &client, &ssin).await;
    let query = |t: DateTime<Utc>| id(&at(t));
    let found = |q: Vec<(String, String)>| {
        let app = &app;
        let token = token.clone();
        async move {
            let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            search(app, &token, &q).await
        }
    };
    assert!(found(query(t0)).await.is_empty(), "before the first key");
    let between = found(query(t1)).await;
    assert_eq!(kids_in_order(&between), [k1.as_str()]);
    assert_eq!(between[0]["status"], "active");
    assert!(
        found(query(t2)).await.is_empty(),
        "after the revocation, before the second key"
    );
    assert_eq!(kids_in_order(&found(query(t3)).await), [k2.as_str()]);

    // The history keeps the revoked key; a token issued now lists only the new one.
    let mine = own_keys(&app, &token).await;
    assert_eq!(mine.len(), 2);
    assert_eq!(mine[0]["status"], "revoked");
    assert!(mine[0]["revoked_at"].is_string());
    let claims = jwt_claims(&token);
    let listed: Vec<&str> = claims["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [k2.as_str()]);
}

#[tokio::test]
async fn unused_keys_become_inactive() {
    let app = keystore_app_with(|s| s.keys.key_inactivity_days = 30).await;
    let (ssin, client, token) = citizen_with_app(&app, "850101013", "gp-app").await;
    let kid = register_passkey(&app, &token, "sig", "old phone").await["kid"].clone();
    app.clock.advance(31 * 86_400);
    let token = person_token(&app, &client, &ssin).await;
    assert!(jwt_claims(&token)["keys"].as_array().unwrap().is_empty());
    let mine = own_keys(&app, &token).await;
    assert_eq!(mine[0]["kid"], kid);
    assert_eq!(mine[0]["status"], "inactive");
    assert!(
        search(&app, &token, &[("kid", kid.as_str().unwrap())])
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn the_account_page_lists_renames_and_revokes_keys() {
    let app = keystore_app().await;
    let (ssin, client, token) = citizen_with_app(&app, "850101015", "gp-app").await;
    let kid = register_passkey(&app, &token, "sig", "work laptop").await["kid"]
        .as_str()
        .unwrap()
        .to_owned();

    let browser = app.browser();
    let login = browser.get("/account/keys").await;
    let login = browser.follow(login).await;
    let back = browser.login(&login, &ssin, PASSWORD, "").await;
    let page = browser.follow(back).await;
    let page = if page.body.contains("work laptop") {
        page
    } else {
        browser.get("/account/keys").await
    };
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("work laptop") && page.body.contains("App gp-app"));

    let rename = format!("/account/keys/{kid}/rename");
    let csrf = page.hidden(&rename, "csrf").unwrap();
    let forged = browser
        .post(&rename, &[("csrf", "forged"), ("name", "x")])
        .await;
    assert_eq!(forged.status, 403);
    let renamed = browser
        .post(&rename, &[("csrf", &csrf), ("name", "home laptop")])
        .await;
    assert_eq!(renamed.status, 303);
    assert_eq!(own_keys(&app, &token).await[0]["name"], "home laptop");

    let revoke = format!("/account/keys/{kid}/revoke");
    let revoked = browser.post(&revoke, &[("csrf", &csrf)]).await;
    assert_eq!(revoked.status, 303);
    assert_eq!(own_keys(&app, &token).await[0]["status"], "revoked");
    let page = browser.get("/account/keys").await;
    assert!(page.body.contains("revoked"));
    assert!(
        page.hidden(&revoke, "csrf").is_none(),
        "a revoked key offers no actions"
    );
    let _ = client;
}

//! The administrator's side of the keystore: system clients' keys (registered with the
//! client or added later), revocation, and deleting a system client (certificate
//! imports are in `certificates`, the search's parameters in `search`). Every refusal
//! is checked to have changed nothing.

use openssl::rsa::Rsa;

use super::*;

#[tokio::test]
async fn a_system_clients_keys_fill_its_tokens_answer_the_search_and_revoke() {
    let app = spawn_app().await;
    app.register_organization(CBE, "Hospital").await;
    let gw = bare_system_client(
        &app,
        "gw",
        &["keys:read", "keys:register"],
        json!({"organization": CBE}),
    )
    .await;
    let first_kid = gw.key.kid.clone();
    let first_jkt = ec_jkt(&gw.key.public_jwk);

    // The key registered with the client is in the keystore and in its tokens.
    let claims = token_keys(&app, &gw).await;
    assert_eq!(
        claims,
        vec![json!({"kid": first_kid, "use": "sig+enc", "jkt": first_jkt})]
    );
    let token = app.token_for(&gw, &[]).await;
    assert_eq!(
        jwt_claims(&token)["aud"],
        json!(format!("{}/keys", app.issuer))
    );
    let by_client = found(&app, &token, &[("client_id", "gw")]).await;
    assert_eq!(kids(&by_client), vec![first_kid.clone()]);
    let view = &by_client[0];
    assert_eq!(view["identity"], json!({"type": "cbe", "value": CBE}));
    assert_eq!(view["client_id"], "gw");
    assert_eq!(view["status"], "active");
    assert_eq!(view["x"], gw.key.public_jwk["x"]);
    assert_eq!(view["y"], gw.key.public_jwk["y"]);
    assert!(
        view.get("use").is_none() && view.get("alg").is_none(),
        "a sig+enc key names neither use nor alg: {view}"
    );
    assert!(view.get("revoked_at").is_none(), "{view}");
    assert!(time(view, "not_before") <= app.clock.now());
    assert!(time(view, "not_after") > app.clock.now());
    let by_cbe = found(
        &app,
        &token,
        &[("identity_type", "cbe"), ("identity_value", CBE)],
    )
    .await;
    assert_eq!(by_cbe, by_client);

    // The administrator adds an encryption key and a second signing key.
    let admin = app.admin_token().await;
    let enc = ClientKey::generate("gw-enc-1");
    let response = app
        .post_json(
            "/admin/keys",
            &admin,
            &json!({"client_id": "gw", "use": "enc", "name": "Gateway encryption",
                    "jwk": bare_jwk(&enc)}),
        )
        .await;
    let status = response.status();
    let location = response.headers().get("location").cloned();
    let created: Value = response.json().await.unwrap();
    assert_eq!(
        status, 201,
        "an enc EC P-256 JWK for a system client: {created}"
    );
    assert_eq!(location.unwrap(), "/keys/gw-enc-1");
    assert_eq!(created["kid"], "gw-enc-1");
    assert_eq!(created["x"], enc.public_jwk["x"]);
    assert_eq!(created["use"], "enc");
    assert_eq!(created["key_use"], "enc");
    assert_eq!(created["status"], "active");
    assert_eq!(created["client_id"], "gw");
    assert_eq!(created["identity"], json!({"type": "cbe", "value": CBE}));
    assert_eq!(created["name"], "Gateway encryption");
    assert_eq!(created["source"], "admin");
    for member in ["not_before", "not_after", "created_at", "last_used_at"] {
        time(&created, member);
    }
    let second = ClientKey::generate("gw-key-2");
    let created: Value = app
        .admin_create(
            "/admin/keys",
            &json!({"client_id": "gw", "use": "sig", "name": "Gateway signing 2",
                    "jwk": bare_jwk(&second)}),
        )
        .await;
    assert_eq!(created["use"], "sig");
    let gw2 = TestClient {
        id: "gw".into(),
        key: second.clone(),
    };

    // Both appear in the next token; the new signing key authenticates the client.
    let expected_claims = vec![
        json!({"kid": "gw-enc-1", "use": "enc", "jkt": ec_jkt(&enc.public_jwk)}),
        json!({"kid": first_kid, "use": "sig+enc", "jkt": first_jkt}),
        json!({"kid": "gw-key-2", "use": "sig", "jkt": ec_jkt(&second.public_jwk)}),
    ];
    assert_eq!(token_keys(&app, &gw).await, expected_claims);
    assert_eq!(token_keys(&app, &gw2).await, expected_claims);
    let token = app.token_for(&gw2, &[]).await;
    let all = vec![
        "gw-enc-1".to_owned(),
        first_kid.clone(),
        "gw-key-2".to_owned(),
    ];
    assert_eq!(
        kids(&found(&app, &token, &[("client_id", "gw")]).await),
        all
    );
    assert_eq!(
        kids(&found(&app, &token, &[("client_id", "gw"), ("use", "enc")]).await),
        vec!["gw-enc-1".to_owned(), first_kid.clone()],
        "use=enc finds the enc key and the sig+enc key"
    );
    assert_eq!(
        kids(&found(&app, &token, &[("client_id", "gw"), ("use", "sig")]).await),
        vec![first_kid.clone(), "gw-key-2".to_owned()],
        "use=sig finds the sig key and the sig+enc key, not the enc key"
    );
    assert_eq!(
        kids(&found(&app, &token, &[("kid", "gw-enc-1")]).await),
        vec!["gw-enc-1".to_owned()]
    );

    // The administrator revokes the first signing key.
    app.clock.advance(60);
    let before_revocation = app.clock.now();
    app.clock.advance(60);
    let unknown = delete(&app, "/admin/keys/no-such-kid", &admin).await;
    problem(unknown, 404, "revoking an unknown kid").await;
    assert_eq!(
        kids(&found(&app, &token, &[("client_id", "gw")]).await),
        all
    );
    let response = delete(&app, &format!("/admin/keys/{first_kid}"), &admin).await;
    assert_eq!(response.status(), 204);
    let after_revocation = app.clock.now();

    // It no longer authenticates the client, nor appears in tokens or searches.
    expect_oauth_error(token_attempt(&app, &gw).await, 401, "invalid_client").await;
    assert_eq!(
        token_keys(&app, &gw2).await,
        vec![expected_claims[0].clone(), expected_claims[2].clone()]
    );
    let token = app.token_for(&gw2, &[]).await;
    assert_eq!(
        kids(&found(&app, &token, &[("client_id", "gw")]).await),
        vec!["gw-enc-1".to_owned(), "gw-key-2".to_owned()]
    );
    assert!(found(&app, &token, &[("kid", &first_kid)]).await.is_empty());
    assert_eq!(
        kids(
            &found(
                &app,
                &token,
                &[("identity_type", "cbe"), ("identity_value", CBE)]
            )
            .await
        ),
        vec!["gw-enc-1".to_owned(), "gw-key-2".to_owned()]
    );

    // History: the owner still sees it, revoked, and a search as of before the
    // revocation still finds it.
    let own: Value = app.get("/keys", &token).await.json().await.unwrap();
    let own = own["keys"].as_array().unwrap().clone();
    assert_eq!(kids(&own), all);
    let revoked = key(&own, &first_kid);
    assert_eq!(revoked["status"], "revoked");
    let revoked_at = time(revoked, "revoked_at");
    assert!(revoked_at > before_revocation && revoked_at <= after_revocation);
    assert_eq!(revoked["source"], "admin");
    assert_eq!(key(&own, "gw-key-2")["status"], "active");
    let then = found(
        &app,
        &token,
        &[("client_id", "gw"), ("at", &rfc3339(before_revocation))],
    )
    .await;
    assert_eq!(kids(&then), all);
    assert_eq!(key(&then, &first_kid)["status"], "active");
    let now = found(
        &app,
        &token,
        &[("client_id", "gw"), ("at", &rfc3339(after_revocation))],
    )
    .await;
    assert_eq!(
        kids(&now),
        vec!["gw-enc-1".to_owned(), "gw-key-2".to_owned()]
    );
    // Revoking again changes nothing.
    let again = delete(&app, &format!("/admin/keys/{first_kid}"), &admin).await;
    assert_eq!(again.status(), 204);
    let own_again: Value = app.get("/keys", &token).await.json().await.unwrap();
    assert_eq!(
        time(
            key(own_again["keys"].as_array().unwrap(), &first_kid),
            "revoked_at"
        ),
        revoked_at
    );

    // Another client cannot revoke gw's key; gw revokes its own encryption key.
    let other = app
        .register_system_client("other", &["keys:register"], json!({}))
        .await;
    let other_token = app.token_for(&other, &[]).await;
    let refused = delete(&app, "/keys/gw-enc-1", &other_token).await;
    problem(refused, 404, "revoking another client's key").await;
    assert_eq!(
        kids(&found(&app, &token, &[("client_id", "gw"), ("use", "enc")]).await),
        vec!["gw-enc-1".to_owned()]
    );
    let response = delete(&app, "/keys/gw-enc-1", &token).await;
    assert_eq!(response.status(), 204);
    assert_eq!(
        token_keys(&app, &gw2).await,
        vec![expected_claims[2].clone()]
    );
    assert!(
        found(&app, &token, &[("client_id", "gw"), ("use", "enc")])
            .await
            .is_empty()
    );
    let own: Value = app.get("/keys", &token).await.json().await.unwrap();
    let own = own["keys"].as_array().unwrap().clone();
    assert_eq!(key(&own, "gw-enc-1")["status"], "revoked");
    assert_eq!(key(&own, "gw-key-2")["status"], "active");
    // The remaining signing key still authenticates.
    assert_eq!(token_attempt(&app, &gw2).await.status(), 200);

    // API.md: every JWK of the search carries `alg` and `use` unless it is sig+enc;
    // an administrator's enc key too.
    let then = found(
        &app,
        &token,
        &[("client_id", "gw"), ("at", &rfc3339(before_revocation))],
    )
    .await;
    for (kid, key_use, alg) in [
        ("gw-key-2", "sig", "ES256"),
        ("gw-enc-1", "enc", "ECDH-ES+A256KW"),
    ] {
        let view = key(&then, kid);
        assert_eq!(view["use"], key_use, "{view}");
        assert_eq!(
            view["alg"], alg,
            "a key added by an administrator names its alg: {view}"
        );
    }
}

#[tokio::test]
async fn administrators_key_requests_that_fail_change_nothing() {
    let app = spawn_app().await;
    app.register_organization(CBE, "Hospital").await;
    let gw = app
        .register_system_client("gw", &["keys:read"], json!({"organization": CBE}))
        .await;
    app.register_app("portal", false, &["keys:register"], json!({}))
        .await;
    let token = app.token_for(&gw, &[]).await;
    let before = found(&app, &token, &[("client_id", "gw")]).await;
    let claims_before = token_keys(&app, &gw).await;
    let admin = app.admin_token().await;
    let fresh = bare_jwk(&ClientKey::generate("gw-new"));
    let mut private = ClientKey::generate("gw-private");
    let pair = openssl::ec::EcKey::private_key_from_pem(&private.private_pem).unwrap();
    private.public_jwk["d"] = json!(B64.encode(pair.private_key().to_vec()));
    let rsa = Rsa::generate(1024).unwrap();
    let small_rsa = json!({"kty": "RSA", "kid": "gw-rsa",
        "n": B64.encode(rsa.n().to_vec()), "e": B64.encode(rsa.e().to_vec())});
    let base = json!({"client_id": "gw", "use": "sig", "name": "New key", "jwk": fresh});
    let with = |patch: Value| {
        let mut body = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    let cases = [
        (
            "unknown client",
            with(json!({"client_id": "nobody"})),
            "client_id",
        ),
        ("no client", with(json!({"client_id": null})), "client_id"),
        (
            "a public app",
            with(json!({"client_id": "portal"})),
            "client_id",
        ),
        ("bad use", with(json!({"use": "wrap"})), "use"),
        ("empty name", with(json!({"name": "  "})), "name"),
        (
            "control character",
            with(json!({"name": "a\u{7}b"})),
            "name",
        ),
        ("long name", with(json!({"name": "n".repeat(101)})), "name"),
        (
            "identity with a jwk",
            with(json!({"identity": {"type": "cbe", "value": CBE}})),
            "identity",
        ),
        (
            "private jwk",
            with(json!({"jwk": private.public_jwk})),
            "jwk",
        ),
        ("RSA 1024", with(json!({"jwk": small_rsa})), "jwk"),
        ("not a key", with(json!({"jwk": {"kty": "EC"}})), "jwk"),
        ("neither jwk nor x5c", with(json!({"jwk": null})), "jwk"),
    ];
    for (what, body, field) in cases {
        let response = app.post_json("/admin/keys", &admin, &body).await;
        invalid_field(response, field, what).await;
        assert_eq!(
            found(&app, &token, &[("client_id", "gw")]).await,
            before,
            "{what}"
        );
        assert!(
            found(&app, &token, &[("kid", "gw-new")]).await.is_empty(),
            "{what}"
        );
    }
    // Both a jwk and an x5c: 422 naming one of them.
    let both = with(json!({"x5c": ["AAAA"]}));
    let body = problem(
        app.post_json("/admin/keys", &admin, &both).await,
        422,
        "both",
    )
    .await;
    assert!(body["field"] == "jwk" || body["field"] == "x5c", "{body}");

    // The key registered with the client exists: 409.
    let duplicate = with(json!({"jwk": bare_jwk(&gw.key)}));
    problem(
        app.post_json("/admin/keys", &admin, &duplicate).await,
        409,
        "duplicate",
    )
    .await;

    // Not an administrator.
    let anonymous = app
        .http
        .post(app.url("/admin/keys"))
        .json(&base)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    problem(
        app.post_json("/admin/keys", &token, &base).await,
        403,
        "non-admin",
    )
    .await;
    problem(
        delete(&app, &format!("/admin/keys/{}", gw.key.kid), &token).await,
        403,
        "non-admin revocation",
    )
    .await;

    assert_eq!(found(&app, &token, &[("client_id", "gw")]).await, before);
    assert!(found(&app, &token, &[("kid", "gw-new")]).await.is_empty());
    assert_eq!(token_keys(&app, &gw).await, claims_before);
    // The valid request still works after all that.
    assert_eq!(
        app.post_json("/admin/keys", &admin, &base).await.status(),
        201
    );
    assert_eq!(
        kids(&found(&app, &token, &[("client_id", "gw")]).await),
        vec![gw.key.kid.clone(), "gw-new".to_owned()]
    );
}

#[tokio::test]
async fn deleting_a_system_client_revokes_its_keys() {
    let app = spawn_app().await;
    app.register_organization(CBE, "Hospital").await;
    let reader = app
        .register_system_client("reader", &["keys:read"], json!({}))
        .await;
    let gw = app
        .register_system_client("gw", &["keys:register"], json!({"organization": CBE}))
        .await;
    let enc = ClientKey::generate("gw-enc-1");
    app.admin_create(
        "/admin/keys",
        &json!({"client_id": "gw", "use": "enc", "name": "Encryption", "jwk": bare_jwk(&enc)}),
    )
    .await;
    let token = app.token_for(&reader, &[]).await;
    let by_client = [("client_id", "gw")];
    let by_cbe = [("identity_type", "cbe"), ("identity_value", CBE)];
    let all = vec!["gw-enc-1".to_owned(), gw.key.kid.clone()];
    assert_eq!(kids(&found(&app, &token, &by_client).await), all);
    assert_eq!(kids(&found(&app, &token, &by_cbe).await), all);
    assert_eq!(token_attempt(&app, &gw).await.status(), 200);

    app.clock.advance(60);
    let before_deletion = app.clock.now();
    app.clock.advance(60);
    let admin = app.admin_token().await;
    let response = delete(&app, "/admin/clients/gw", &admin).await;
    assert_eq!(response.status(), 204);

    let token = app.token_for(&reader, &[]).await;
    assert!(found(&app, &token, &by_client).await.is_empty());
    assert!(found(&app, &token, &by_cbe).await.is_empty());
    assert!(found(&app, &token, &[("kid", "gw-enc-1")]).await.is_empty());
    let then = found(
        &app,
        &token,
        &[("client_id", "gw"), ("at", &rfc3339(before_deletion))],
    )
    .await;
    assert_eq!(kids(&then), all);
    for view in &then {
        assert_eq!(view["status"], "active", "{view}");
        assert!(time(view, "revoked_at") > before_deletion, "{view}");
    }
    let then_by_cbe = found(
        &app,
        &token,
        &[
            ("identity_type", "cbe"),
            ("identity_value", CBE),
            ("at", &rfc3339(before_deletion)),
        ],
    )
    .await;
    assert_eq!(kids(&then_by_cbe), all);
    // The client cannot authenticate any more; deleting it again is 404, and
    // revoking its already revoked key is a no-op.
    expect_oauth_error(token_attempt(&app, &gw).await, 401, "invalid_client").await;
    problem(
        delete(&app, "/admin/clients/gw", &admin).await,
        404,
        "deleting twice",
    )
    .await;
    assert_eq!(
        delete(&app, "/admin/keys/gw-enc-1", &admin).await.status(),
        204
    );
    let again = found(
        &app,
        &token,
        &[("client_id", "gw"), ("at", &rfc3339(before_deletion))],
    )
    .await;
    assert_eq!(again, then);
    // The reader's own key is untouched.
    assert_eq!(
        kids(&found(&app, &token, &[("client_id", "reader")]).await),
        vec![reader.key.kid.clone()]
    );
}

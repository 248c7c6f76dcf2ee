//! The administrator's side of the keystore: system clients' keys (registered with the
//! client or added later), revocation, and the JWKS search that answers "which keys
//! were active at T" (certificate imports are in `certificates.rs`). Every
//! refusal is checked to have changed nothing. The helpers here serve the other
//! keystore test modules too.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, SecondsFormat, Utc};
use openssl::rsa::Rsa;
use serde_json::{Value, json};

use crate::forms::*;
use crate::helpers::*;

// ---- helpers --------------------------------------------------------------------

/// `GET /keys/jwks` with the parameters URL-encoded.
pub(crate) async fn search(
    app: &TestApp,
    token: &str,
    params: &[(&str, &str)],
) -> reqwest::Response {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    app.get(&format!("/keys/jwks?{query}"), token).await
}

/// The keys a search finds (panics unless 200).
pub(crate) async fn found(app: &TestApp, token: &str, params: &[(&str, &str)]) -> Vec<Value> {
    let response = search(app, token, params).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "search {params:?}: {body}");
    body["keys"].as_array().unwrap().clone()
}

pub(crate) fn kids(keys: &[Value]) -> Vec<String> {
    let mut kids: Vec<String> = keys
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    kids.sort();
    kids
}

pub(crate) fn key<'a>(keys: &'a [Value], kid: &str) -> &'a Value {
    keys.iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("no key {kid} in {keys:?}"))
}

/// Asserts an RFC 9457 answer with this status and returns it.
pub(crate) async fn problem(response: reqwest::Response, status: u16, what: &str) -> Value {
    let got = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{what}: {text}");
    assert!(
        content_type.starts_with("application/problem+json"),
        "{what}: content-type {content_type}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["status"], status, "{what}: {body}");
    body
}

/// Asserts a 422 naming `field` and returns the problem.
pub(crate) async fn invalid_field(response: reqwest::Response, field: &str, what: &str) -> Value {
    let body = problem(response, 422, what).await;
    assert_eq!(body["field"], field, "{what}: {body}");
    body
}

/// RFC 7638 thumbprint of an EC public JWK, computed here independently.
pub(crate) fn ec_jkt(jwk: &Value) -> String {
    let canonical = format!(
        r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["crv"].as_str().unwrap(),
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap()
    );
    B64.encode(openssl::sha::sha256(canonical.as_bytes()))
}

pub(crate) fn time(view: &Value, member: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(view[member].as_str().unwrap_or_else(|| {
        panic!("{member} missing in {view}");
    }))
    .unwrap()
    .with_timezone(&Utc)
}

pub(crate) fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A client key's public JWK with the given `kid` and neither `use` nor `alg`.
pub(crate) fn bare_jwk(key: &ClientKey) -> Value {
    let mut jwk = key.public_jwk.clone();
    let object = jwk.as_object_mut().unwrap();
    object.remove("use");
    object.remove("alg");
    jwk
}

/// An identifier with its last digit changed, so that its check digits fail (for an
/// SSIN, under both the 1900s and the 2000s rule: they differ by 68, not by 1 or 9).
pub(crate) fn spoiled(identifier: &str) -> String {
    let mut text = identifier.to_owned();
    let last = text.pop().unwrap().to_digit(10).unwrap();
    text.push(char::from_digit((last + 1) % 10, 10).unwrap());
    text
}

/// Registers a system client as `register_system_client` does, with a key that names
/// neither `use` nor `alg` (a key for both uses, RFC 7517 §4.2).
pub(crate) async fn bare_system_client(
    app: &TestApp,
    id: &str,
    scopes: &[&str],
    extra: Value,
) -> TestClient {
    let mut key = ClientKey::generate(&format!("{id}-key-1"));
    key.public_jwk = bare_jwk(&key);
    let mut body = json!({
        "client_id": id, "type": "system", "name": format!("System {id}"),
        "scopes": scopes, "jwks": key.jwks(),
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    app.admin_create("/admin/clients", &body).await;
    TestClient { id: id.into(), key }
}

/// The `keys` claim of a fresh token of `client`, sorted by kid.
pub(crate) async fn token_keys(app: &TestApp, client: &TestClient) -> Vec<Value> {
    let token = app.token_for(client, &[]).await;
    let mut keys = jwt_claims(&token)["keys"].as_array().unwrap().clone();
    keys.sort_by(|a, b| a["kid"].as_str().cmp(&b["kid"].as_str()));
    keys
}

/// A token request signed by `client` (with its current key).
pub(crate) async fn token_attempt(app: &TestApp, client: &TestClient) -> reqwest::Response {
    let assertion = client
        .key
        .sign(&client.claims(&app.token_endpoint(), app.now()));
    app.token_request(&assertion, &[]).await
}

pub(crate) async fn delete(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.http
        .delete(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

// ---- tests --------------------------------------------------------------------------

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

/// A refused search: what it shows, its parameters, the field the 422 names.
type SearchCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, Option<&'a str>);

#[tokio::test]
async fn the_jwks_search_names_each_bad_parameter() {
    let app = spawn_app().await;
    app.register_organization(CBE, "Hospital").await;
    let reader = app
        .register_system_client("reader", &["keys:read"], json!({"organization": CBE}))
        .await;
    let token = app.token_for(&reader, &[]).await;
    let by_client = [("client_id", "reader")];
    let before = found(&app, &token, &by_client).await;
    assert_eq!(kids(&before), vec![reader.key.kid.clone()]);

    let bad_ssin = spoiled(&ssin("850730033"));
    let good_nihii = nihii(123456, "004");
    let bad_nihii = format!(
        "{}{}{}",
        &good_nihii[..7],
        if &good_nihii[7..8] == "9" { '0' } else { '9' },
        &good_nihii[8..]
    );
    let bad_cbe = spoiled(CBE);
    let cases: Vec<SearchCase> = vec![
        (
            "bad SSIN checksum",
            vec![("identity_type", "ssin"), ("identity_value", &bad_ssin)],
            Some("identity_value"),
        ),
        (
            "bad NIHII checksum",
            vec![("identity_type", "nihii"), ("identity_value", &bad_nihii)],
            Some("identity_value"),
        ),
        (
            "bad CBE checksum",
            vec![("identity_type", "cbe"), ("identity_value", &bad_cbe)],
            Some("identity_value"),
        ),
        (
            "short CBE",
            vec![("identity_type", "cbe"), ("identity_value", "0203")],
            Some("identity_value"),
        ),
        (
            "unknown identity type",
            vec![
                ("identity_type", "email"),
                ("identity_value", "a@b.example"),
            ],
            Some("identity_type"),
        ),
        (
            "value without type",
            vec![("identity_value", CBE)],
            Some("identity_type"),
        ),
        (
            "type without value",
            vec![("identity_type", "cbe")],
            Some("identity_value"),
        ),
        (
            "unknown use",
            vec![("client_id", "reader"), ("use", "wrap")],
            Some("use"),
        ),
        (
            "sig+enc is not a search use",
            vec![("client_id", "reader"), ("use", "sig+enc")],
            Some("use"),
        ),
        (
            "not a time",
            vec![("client_id", "reader"), ("at", "yesterday")],
            Some("at"),
        ),
        (
            "a date without time",
            vec![("client_id", "reader"), ("at", "2024-01-01")],
            Some("at"),
        ),
        ("no selector", vec![], None),
        ("only a use", vec![("use", "sig")], None),
        ("only a time", vec![("at", "2024-01-01T00:00:00Z")], None),
    ];
    for (what, params, field) in cases {
        let response = search(&app, &token, &params).await;
        let body = problem(response, 422, what).await;
        match field {
            Some(field) => assert_eq!(body["field"], field, "{what}: {body}"),
            None => assert!(body.get("field").is_none(), "{what}: {body}"),
        }
        assert_eq!(found(&app, &token, &by_client).await, before, "{what}");
    }

    // A valid time with an offset is fine (the `+` properly encoded).
    let later = (app.clock.now() + chrono::Duration::hours(1))
        .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap())
        .to_rfc3339();
    assert!(later.contains('+'));
    assert_eq!(
        found(&app, &token, &[("client_id", "reader"), ("at", &later)]).await,
        before
    );

    // An unknown parameter: a 4xx problem.
    let response = search(&app, &token, &[("client_id", "reader"), ("owner", "x")]).await;
    let status = response.status().as_u16();
    assert!(
        status == 400 || status == 422,
        "unknown parameter: {status}"
    );
    problem(response, status, "unknown parameter").await;

    // No token: 401 with a challenge; a token without keys:read: 403.
    let anonymous = app
        .http
        .get(app.url("/keys/jwks?client_id=reader"))
        .send()
        .await
        .unwrap();
    let challenge = anonymous
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(challenge.starts_with("Bearer"), "{challenge:?}");
    problem(anonymous, 401, "no token").await;
    let garbage = search(&app, "not.a.token", &by_client).await;
    assert!(garbage.headers().contains_key("www-authenticate"));
    problem(garbage, 401, "garbage token").await;

    let tsa = app
        .register_system_client("stamper", &["tsa"], json!({}))
        .await;
    let tsa_token = app.token_for(&tsa, &[]).await;
    problem(search(&app, &tsa_token, &by_client).await, 403, "tsa only").await;
    let register = app
        .register_system_client("registrar", &["keys:register"], json!({}))
        .await;
    let register_token = app.token_for(&register, &[]).await;
    let response = search(&app, &register_token, &by_client).await;
    let body = problem(response, 403, "keys:register only").await;
    assert!(
        body["detail"].as_str().unwrap().contains("keys:read"),
        "{body}"
    );
    let admin = app.admin_token().await;
    problem(search(&app, &admin, &by_client).await, 403, "admin token").await;
    // And the scope checks come before the parameter checks.
    problem(search(&app, &tsa_token, &[]).await, 403, "tsa, no selector").await;
    assert_eq!(found(&app, &token, &by_client).await, before);
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

//! The keystore's registration ceremony and history, driven by authenticators written
//! by others (webauthn-authenticator-rs's `SoftPasskey` and `SoftToken`) and by the
//! openssl + CBOR authenticator of `authenticator.rs` for what those cannot make.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::softtoken::SoftToken;
use webauthn_rs_core::proto::CreationChallengeResponse;

use crate::forms::{App, PASSWORD, Pkce, auth_query, token_json};
use crate::helpers::{TestApp, jwt_claims, spawn_app_with};
use crate::keys::admin::{found as search, rfc3339};
use crate::keys::authenticator::{self, Format, KeyKind, Options};

pub(crate) const ORIGIN: &str = "https://depot.example";
const SCOPE: &str = "openid keys:register keys:read";

pub(crate) async fn keystore_app_with(tweak: impl FnOnce(&mut depot::config::Settings)) -> TestApp {
    spawn_app_with(|s| {
        s.webauthn_rp_id = Some("depot.example".into());
        s.webauthn_origins = Some(ORIGIN.into());
        tweak(s);
    })
    .await
}

async fn keystore_app() -> TestApp {
    keystore_app_with(|_| {}).await
}

/// A person's access token for `client` with the keystore scopes (code flow + PKCE).
pub(crate) async fn person_token(app: &TestApp, client: &App, ssin: &str) -> String {
    let pkce = Pkce::new();
    let browser = app.browser();
    let login = browser.authorize(&auth_query(client, SCOPE, &pkce)).await;
    let mut back = if login.form_with("password").is_some() {
        browser.login(&login, ssin, PASSWORD, "").await
    } else {
        login
    };
    if back.form_with("decision").is_some() {
        back = browser.decide(&back, "allow").await;
    }
    let code = back.redirect_params()["code"].clone();
    let body = token_json(app.redeem(client, &code, &pkce.verifier).await).await;
    body["access_token"].as_str().unwrap().to_owned()
}

/// A citizen and an app they use, with a token.
pub(crate) async fn citizen_with_app(
    app: &TestApp,
    first9: &str,
    client_id: &str,
) -> (String, App, String) {
    let ssin = app.citizen(first9, false).await;
    let client = app
        .register_app(
            client_id,
            false,
            &["openid", "keys:register", "keys:read"],
            json!({}),
        )
        .await;
    let token = person_token(app, &client, &ssin).await;
    (ssin, client, token)
}

pub(crate) async fn start(app: &TestApp, token: &str, key_use: &str, name: &str) -> (u16, Value) {
    let response = app
        .post_json(
            "/keys/registrations",
            token,
            &json!({"use": key_use, "name": name}),
        )
        .await;
    (response.status().as_u16(), response.json().await.unwrap())
}

pub(crate) async fn finish(
    app: &TestApp,
    token: &str,
    id: &str,
    credential: &Value,
) -> (u16, Value) {
    let response = app
        .post_json(
            &format!("/keys/registrations/{id}"),
            token,
            &json!({"credential": credential}),
        )
        .await;
    (response.status().as_u16(), response.json().await.unwrap())
}

fn creation(started: &Value) -> CreationChallengeResponse {
    serde_json::from_value(json!({"publicKey": started["publicKey"]})).unwrap()
}

/// A whole ceremony with a software passkey (packed self-attestation, ES256).
async fn register_passkey(app: &TestApp, token: &str, key_use: &str, name: &str) -> Value {
    let (status, started) = start(app, token, key_use, name).await;
    assert_eq!(status, 201, "{started}");
    let mut passkey = SoftPasskey::new(true);
    let credential = passkey
        .do_registration(url::Url::parse(ORIGIN).unwrap(), creation(&started))
        .unwrap();
    let credential = serde_json::to_value(credential).unwrap();
    let (status, body) = finish(
        app,
        token,
        started["registrationId"].as_str().unwrap(),
        &credential,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body
}

/// A whole ceremony with the openssl authenticator.
async fn register_with(
    app: &TestApp,
    token: &str,
    key_use: &str,
    options: &Options,
) -> (u16, Value) {
    let (status, started) = start(app, token, key_use, "device").await;
    assert_eq!(status, 201, "{started}");
    let made = authenticator::register(&started["publicKey"], ORIGIN, options);
    finish(
        app,
        token,
        started["registrationId"].as_str().unwrap(),
        &made.credential,
    )
    .await
}

pub(crate) async fn own_keys(app: &TestApp, token: &str) -> Vec<Value> {
    let response = app.get("/keys", token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["keys"].as_array().unwrap().clone()
}

fn kids(keys: &[Value]) -> Vec<&str> {
    keys.iter().map(|k| k["kid"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn soft_passkey_registers_a_signing_key_that_tokens_and_search_list() {
    let app = keystore_app().await;
    let (ssin, client, token) = citizen_with_app(&app, "850101001", "gp-app").await;

    let (status, started) = start(&app, &token, "sig", "laptop").await;
    assert_eq!(status, 201, "{started}");
    let options = &started["publicKey"];
    assert_eq!(options["rp"]["id"], "depot.example");
    assert!(options["challenge"].as_str().unwrap().len() >= 43);
    let algs: Vec<i64> = options["pubKeyCredParams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["alg"].as_i64().unwrap())
        .collect();
    // API.md: ES256, EdDSA, RS256, PS256, in this order.
    assert_eq!(algs, [-7, -8, -257, -37]);
    assert_eq!(options["attestation"], "direct");
    assert!(options["timeout"].as_u64().unwrap() > 0);
    assert!(
        !options["user"]["id"].as_str().unwrap().contains(&ssin),
        "the user handle must not be the SSIN"
    );

    let mut passkey = SoftPasskey::new(true);
    let credential = passkey
        .do_registration(url::Url::parse(ORIGIN).unwrap(), creation(&started))
        .unwrap();
    let credential = serde_json::to_value(credential).unwrap();
    let id = started["registrationId"].as_str().unwrap();
    let (status, key) = finish(&app, &token, id, &credential).await;
    assert_eq!(status, 201, "{key}");
    let kid = key["kid"].as_str().unwrap();
    assert_eq!(kid, credential["id"]);
    assert_eq!(key["use"], "sig");
    assert_eq!(key["status"], "active");
    assert_eq!(key["jwk"]["kty"], "EC");
    assert_eq!(key["jwk"]["crv"], "P-256");
    assert_eq!(key["jwk"]["alg"], "ES256");
    let not_before: DateTime<Utc> = key["notBefore"].as_str().unwrap().parse().unwrap();
    let not_after: DateTime<Utc> = key["notAfter"].as_str().unwrap().parse().unwrap();
    assert_eq!((not_after - not_before).num_days(), 365);

    // The same challenge cannot be answered twice.
    let (status, _) = finish(&app, &token, id, &credential).await;
    assert_eq!(status, 404);

    let mine = own_keys(&app, &token).await;
    assert_eq!(kids(&mine), [kid]);
    assert_eq!(mine[0]["name"], "laptop");
    assert_eq!(mine[0]["client_id"], "gp-app");
    assert_eq!(mine[0]["attestation"], "packed/self");

    // A token issued now lists the key with its RFC 7638 thumbprint.
    let fresh = person_token(&app, &client, &ssin).await;
    let claims = jwt_claims(&fresh);
    assert_eq!(claims["keys"][0]["kid"], kid);
    assert_eq!(claims["keys"][0]["use"], "sig");
    let jkt = depot::authz::jwks::thumbprint(&key["jwk"]).unwrap();
    assert_eq!(claims["keys"][0]["jkt"], jkt);

    let found = search(
        &app,
        &token,
        &[("identity_type", "ssin"), ("identity_value", &ssin)],
    )
    .await;
    assert_eq!(kids(&found), [kid]);
    assert_eq!(found[0]["identity"], json!({"type": "ssin", "value": ssin}));
    assert_eq!(found[0]["status"], "active");
    assert!(found[0].get("name").is_none(), "device names stay private");
    assert!(
        search(
            &app,
            &token,
            &[
                ("identity_type", "ssin"),
                ("identity_value", &ssin),
                ("use", "enc")
            ]
        )
        .await
        .is_empty()
    );
}

#[tokio::test]
async fn encryption_keys_ec_and_rsa_and_dual_use() {
    let app = keystore_app().await;
    let (ssin, _, token) = citizen_with_app(&app, "850101002", "gp-app").await;

    let (status, ec) = register_with(&app, &token, "enc", &Options::default()).await;
    assert_eq!(status, 201, "{ec}");
    assert_eq!(ec["jwk"]["alg"], "ECDH-ES+A256KW");
    assert_eq!(ec["jwk"]["use"], "enc");

    let rsa_options = Options {
        kind: KeyKind::Rs256 { bits: 2048 },
        ..Options::default()
    };
    let (status, started) = start(&app, &token, "enc", "rsa device").await;
    assert_eq!(status, 201);
    let made = authenticator::register(&started["publicKey"], ORIGIN, &rsa_options);
    let (status, rsa) = finish(
        &app,
        &token,
        started["registrationId"].as_str().unwrap(),
        &made.credential,
    )
    .await;
    assert_eq!(status, 201, "{rsa}");
    assert_eq!(rsa["jwk"]["alg"], "RSA-OAEP-256");
    let expected = authenticator::jwk_of(&made.key);
    assert_eq!(rsa["jwk"]["n"], expected["n"]);
    assert_eq!(rsa["jwk"]["e"], expected["e"]);

    let (status, both) = register_with(&app, &token, "sig+enc", &Options::default()).await;
    assert_eq!(status, 201, "{both}");
    assert!(both["jwk"].get("alg").is_none() && both["jwk"].get("use").is_none());
    assert_eq!(both["use"], "sig+enc");

    let id = [("identity_type", "ssin"), ("identity_value", ssin.as_str())];
    let enc = search(&app, &token, &[id[0], id[1], ("use", "enc")]).await;
    assert_eq!(
        kids(&enc),
        [
            ec["kid"].as_str().unwrap(),
            rsa["kid"].as_str().unwrap(),
            both["kid"].as_str().unwrap()
        ]
    );
    let sig = search(&app, &token, &[id[0], id[1], ("use", "sig")]).await;
    assert_eq!(kids(&sig), [both["kid"].as_str().unwrap()]);
}

#[tokio::test]
async fn soft_token_x5c_attestation_needs_a_configured_root() {
    use crypto_glue::traits::EncodePem;
    let (soft_token, ca) = SoftToken::new(true).unwrap();
    let (_, other_ca) = SoftToken::new(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let roots = dir.path().join("roots.pem");
    let other = dir.path().join("other.pem");
    let pem = |cert: &crypto_glue::x509::Certificate| {
        cert.to_pem(crypto_glue::traits::LineEndingPem::LF).unwrap()
    };
    std::fs::write(&roots, pem(&ca)).unwrap();
    std::fs::write(&other, pem(&other_ca)).unwrap();

    async fn attempt(app: &TestApp, token: &mut SoftToken) -> (u16, Value) {
        let (ssin, _, bearer) = citizen_with_app(app, "850101003", "gp-app").await;
        let _ = ssin;
        let (status, started) = start(app, &bearer, "sig", "security key").await;
        assert_eq!(status, 201);
        let credential = token
            .do_registration(url::Url::parse(ORIGIN).unwrap(), creation(&started))
            .unwrap();
        let credential = serde_json::to_value(credential).unwrap();
        let result = finish(
            app,
            &bearer,
            started["registrationId"].as_str().unwrap(),
            &credential,
        )
        .await;
        if result.0 != 201 {
            assert!(own_keys(app, &bearer).await.is_empty(), "nothing stored");
        }
        result
    }
    let mut soft_token = soft_token;

    let trusted = keystore_app_with(|s| s.webauthn_trust_roots = Some(roots.clone())).await;
    let (status, key) = attempt(&trusted, &mut soft_token).await;
    assert_eq!(status, 201, "{key}");

    let untrusted = keystore_app_with(|s| s.webauthn_trust_roots = Some(other.clone())).await;
    let (status, problem) = attempt(&untrusted, &mut soft_token).await;
    assert_eq!(status, 422);
    assert!(
        problem["detail"].as_str().unwrap().contains("trusted root"),
        "{problem}"
    );

    let without = keystore_app().await;
    let (status, problem) = attempt(&without, &mut soft_token).await;
    assert_eq!(status, 422);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("no trust roots"),
        "{problem}"
    );
}

/// Each broken response is a 422 naming the check, and nothing is stored.
#[tokio::test]
async fn broken_responses_are_refused_and_nothing_is_stored() {
    let app = keystore_app().await;
    let (_, _, token) = citizen_with_app(&app, "850101004", "gp-app").await;

    type Tamper = Box<dyn Fn(&Value) -> Value>;
    let fresh = |options: Options| -> Tamper {
        Box::new(move |public_key: &Value| {
            authenticator::register(public_key, ORIGIN, &options).credential
        })
    };
    let cases: Vec<(&str, Tamper, &str)> = vec![
        (
            "tampered clientDataJSON",
            Box::new(|pk: &Value| {
                let mut c = authenticator::register(pk, ORIGIN, &Options::default()).credential;
                authenticator::tamper_client_data(&mut c, |data| data["extra"] = json!("x"));
                c
            }),
            "signature",
        ),
        (
            "wrong origin",
            Box::new(|pk: &Value| {
                authenticator::register(pk, "https://evil.example", &Options::default()).credential
            }),
            "origin",
        ),
        (
            "wrong rpIdHash",
            fresh(Options {
                rp_id: Some("evil.example".into()),
                ..Options::default()
            }),
            "rpIdHash",
        ),
        (
            "user not present",
            fresh(Options {
                user_present: false,
                ..Options::default()
            }),
            "user-present",
        ),
        (
            "ES384 was not offered",
            fresh(Options {
                kind: KeyKind::Es384,
                ..Options::default()
            }),
            "algorithm",
        ),
        (
            "RSA 1024",
            fresh(Options {
                kind: KeyKind::Rs256 { bits: 1024 },
                ..Options::default()
            }),
            "",
        ),
        (
            "none attestation for a client that does not allow it",
            fresh(Options {
                format: Format::None,
                ..Options::default()
            }),
            "none",
        ),
        (
            "challenge of another ceremony",
            Box::new(|pk: &Value| {
                let mut other = pk.clone();
                other["challenge"] = json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
                authenticator::register(&other, ORIGIN, &Options::default()).credential
            }),
            "challenge",
        ),
        (
            "wrong type",
            Box::new(|pk: &Value| {
                let mut c = authenticator::register(pk, ORIGIN, &Options::default()).credential;
                c["type"] = json!("password");
                c
            }),
            "type",
        ),
        (
            "not a credential",
            Box::new(|_: &Value| json!({"id": "x"})),
            "RegistrationResponseJSON",
        ),
    ];
    for (what, make, expected) in cases {
        let (status, started) = start(&app, &token, "sig", "device").await;
        assert_eq!(status, 201);
        let id = started["registrationId"].as_str().unwrap();
        let credential = make(&started["publicKey"]);
        let (status, problem) = finish(&app, &token, id, &credential).await;
        assert_eq!(status, 422, "{what}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(expected),
            "{what}: {problem}"
        );
        // The challenge is spent: even a good answer is now too late.
        let good = authenticator::register(&started["publicKey"], ORIGIN, &Options::default());
        assert_eq!(
            finish(&app, &token, id, &good.credential).await.0,
            404,
            "{what}"
        );
        assert!(
            own_keys(&app, &token).await.is_empty(),
            "{what}: nothing stored"
        );
    }
}

#[tokio::test]
async fn none_attestation_only_for_clients_that_allow_it() {
    let app = keystore_app().await;
    let ssin = app.citizen("850101005", false).await;
    let client = app
        .register_app(
            "lenient-app",
            false,
            &["openid", "keys:register", "keys:read"],
            json!({"attestation": "none"}),
        )
        .await;
    let token = person_token(&app, &client, &ssin).await;
    let options = Options {
        format: Format::None,
        ..Options::default()
    };
    let (status, key) = register_with(&app, &token, "sig", &options).await;
    assert_eq!(status, 201, "{key}");
    assert_eq!(own_keys(&app, &token).await[0]["attestation"], "none");
}

#[tokio::test]
async fn expired_challenge_and_someone_elses_registration_are_not_found() {
    let app = keystore_app().await;
    let (_, _, token) = citizen_with_app(&app, "850101006", "gp-app").await;
    let (_, started) = start(&app, &token, "sig", "device").await;
    let id = started["registrationId"].as_str().unwrap();
    let made = authenticator::register(&started["publicKey"], ORIGIN, &Options::default());

    // Another person cannot answer my ceremony.
    let other_ssin = app.citizen("850101007", false).await;
    let client = App {
        id: "gp-app".into(),
        redirect_uri: "https://gp-app.example/callback".into(),
        client: None,
    };
    let other = person_token(&app, &client, &other_ssin).await;
    assert_eq!(finish(&app, &other, id, &made.credential).await.0, 404);

    app.clock.advance(301);
    let token = person_token(&app, &client, &crate::forms::ssin("850101006")).await;
    let (status, problem) = finish(&app, &token, id, &made.credential).await;
    assert_eq!(status, 404, "{problem}");
    assert!(own_keys(&app, &token).await.is_empty());
    assert!(own_keys(&app, &other).await.is_empty());
}

#[tokio::test]
async fn a_credential_id_is_registered_once() {
    let app = keystore_app().await;
    let (_, client, token) = citizen_with_app(&app, "850101008", "gp-app").await;
    let (status, first) = register_with(&app, &token, "sig", &Options::default()).await;
    assert_eq!(status, 201);
    let raw = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        first["kid"].as_str().unwrap(),
    )
    .unwrap();
    let clone = Options {
        credential_id: Some(raw),
        ..Options::default()
    };
    // The pair's own key is excluded from the ceremony…
    let (status, problem) = register_with(&app, &token, "sig", &clone).await;
    assert_eq!(status, 422, "{problem}");
    // …and another person cannot claim the same credential id.
    let other_ssin = app.citizen("850101009", false).await;
    let other = person_token(&app, &client, &other_ssin).await;
    let (status, problem) = register_with(&app, &other, "sig", &clone).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("registered already"),
        "{problem}"
    );
    assert!(own_keys(&app, &other).await.is_empty());
    assert_eq!(own_keys(&app, &token).await.len(), 1);
}

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
    assert_eq!(kids(&between), [k1.as_str()]);
    assert_eq!(between[0]["status"], "active");
    assert!(
        found(query(t2)).await.is_empty(),
        "after the revocation, before the second key"
    );
    assert_eq!(kids(&found(query(t3)).await), [k2.as_str()]);

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
    let app = keystore_app_with(|s| s.key_inactivity_days = 30).await;
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
async fn registration_needs_the_right_token_and_a_valid_body() {
    let app = keystore_app().await;
    let (_, _, token) = citizen_with_app(&app, "850101014", "gp-app").await;
    let response = app
        .http
        .post(app.url("/keys/registrations"))
        .json(&json!({"use": "sig", "name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
    let admin = app.admin_token().await;
    let (status, _) = start(&app, &admin, "sig", "x").await;
    assert_eq!(status, 403, "an admin token is not for the keystore");
    for (body, field) in [
        (json!({"use": "both", "name": "x"}), "use"),
        (json!({"use": "sig", "name": "  "}), "name"),
        (json!({"use": "sig", "name": "x".repeat(101)}), "name"),
    ] {
        let response = app.post_json("/keys/registrations", &token, &body).await;
        assert_eq!(response.status(), 422);
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["field"], field, "{problem}");
    }
    let response = app
        .post_json(
            "/keys/registrations",
            &token,
            &json!({"use": "sig", "name": "x", "alg": -7}),
        )
        .await;
    assert_eq!(response.status(), 422, "unknown members are refused");
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

//! The registration ceremony: a passkey's signing key that tokens and the search then
//! list, encryption keys (EC, RSA, both uses), `x5c` attestation that needs a configured
//! root, every broken response refused with nothing stored, `none` attestation only
//! where allowed, expired and foreign ceremonies, a credential registered once, and the
//! token and body a registration needs.

use webauthn_authenticator_rs::softtoken::SoftToken;

use super::authenticator::{self, Format, KeyKind};
use super::found as search;
use super::*;

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
    assert_eq!(kids_in_order(&mine), [kid]);
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
    assert_eq!(kids_in_order(&found), [kid]);
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
        kids_in_order(&enc),
        [
            ec["kid"].as_str().unwrap(),
            rsa["kid"].as_str().unwrap(),
            both["kid"].as_str().unwrap()
        ]
    );
    let sig = search(&app, &token, &[id[0], id[1], ("use", "sig")]).await;
    assert_eq!(kids_in_order(&sig), [both["kid"].as_str().unwrap()]);
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

    let trusted = keystore_app_with(|s| s.keys.webauthn_trust_roots = Some(roots.clone())).await;
    let (status, key) = attempt(&trusted, &mut soft_token).await;
    assert_eq!(status, 201, "{key}");

    let untrusted = keystore_app_with(|s| s.keys.webauthn_trust_roots = Some(other.clone())).await;
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

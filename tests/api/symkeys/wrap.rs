//! A key wrapped (`?wrap=`) to the reader's own registered encryption key: EC and RSA keys
//! decrypted by Python's jwcrypto, a system client's key, and the refusals when the reader
//! has no such active key or the policy says no.

use super::*;
use crate::keys::authenticator::KeyKind;
use crate::keys::invalid_field;

#[tokio::test]
async fn a_key_wrapped_to_the_readers_ec_and_rsa_keys_decrypts_with_jwcrypto() {
    if !jwcrypto_available() {
        return;
    }
    let app = symkeys_app().await;
    let (_, creator_token) = system_creator(&app, "hospital-gw", CBE).await;
    let reader = person(
        &app,
        "850730301",
        "Rik Wuyts",
        json!([{"profile": "citizen"}]),
    )
    .await;
    let first = app
        .register_app("gp-app", false, APP_SCOPES, json!({}))
        .await;
    let second = app
        .register_app("other-app", true, APP_SCOPES, json!({}))
        .await;
    let token = person_token(&app, &first, &reader, None, KEYS_AND_READ).await;
    let other_client_token = person_token(&app, &second, &reader, None, KEYS_AND_READ).await;

    let (ec_kid, ec) = register_key(&app, &token, "enc", &Options::default()).await;
    let (dual_kid, dual) = register_key(&app, &token, "sig+enc", &Options::default()).await;
    // Registered through another client of the same person: usable all the same.
    let rsa_options = Options {
        kind: KeyKind::Rs256 { bits: 2048 },
        ..Options::default()
    };
    let (rsa_kid, rsa) = register_key(&app, &other_client_token, "enc", &rsa_options).await;

    let created = create(
        &app,
        &creator_token,
        &key_request(json!([sel("ssin", &reader)]), None, None, 3600),
    )
    .await;
    let clear = reads(&app, &token, &created, "the reader, unwrapped").await["jwk"].clone();

    for (what, kid, made, alg) in [
        ("EC P-256 enc key", &ec_kid, &ec, "ECDH-ES+A256KW"),
        ("EC P-256 sig+enc key", &dual_kid, &dual, "ECDH-ES+A256KW"),
        (
            "RSA-2048 enc key of another client",
            &rsa_kid,
            &rsa,
            "RSA-OAEP-256",
        ),
    ] {
        let response = fetch(&app, &token, key_id(&created), Some(kid)).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, 200, "{what}: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["keyId"], created["keyId"], "{what}: {body}");
        assert_eq!(
            expires_at(&body),
            expires_at(&created),
            "{what}: the same expiry"
        );
        assert!(
            body.get("jwk").is_none(),
            "{what}: a wrapped answer has no clear jwk: {body}"
        );
        let jwe = body["jwe"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: a compact JWE string: {body}"));
        assert_eq!(jwe.split('.').count(), 5, "{what}: compact JWE: {jwe}");
        let header = jwt_header(jwe);
        assert_eq!(header["alg"], alg, "{what}: {header}");
        assert_eq!(header["enc"], "A256GCM", "{what}: {header}");
        assert_eq!(header["kid"], kid.as_str(), "{what}: {header}");
        assert_eq!(header["cty"], "jwk+json", "{what}: {header}");
        let plaintext = jwcrypto_decrypt(&made.key, jwe);
        let unwrapped: Value = serde_json::from_str(&plaintext)
            .unwrap_or_else(|e| panic!("{what}: the plaintext is JSON ({e}): {plaintext}"));
        assert_eq!(
            unwrapped, clear,
            "{what}: jwcrypto's plaintext is the clear JWK"
        );
    }
}

#[tokio::test]
async fn a_system_client_gets_the_key_wrapped_to_its_own_enc_key() {
    if !jwcrypto_available() {
        return;
    }
    let app = symkeys_app().await;
    let (creator, creator_token) = system_creator(&app, "hospital-gw", CBE).await;
    let (_, other_token) = system_creator(&app, "lab-gw", &cbe("04123456")).await;
    let enc = ClientKey::generate("hospital-gw-enc-1");
    let mut jwk = enc.public_jwk.clone();
    let members = jwk.as_object_mut().unwrap();
    members.remove("use");
    members.remove("alg");
    app.admin_create(
        "/admin/keys",
        &json!({"client_id": "hospital-gw", "use": "enc", "name": "Gateway encryption",
                "jwk": jwk}),
    )
    .await;
    let created = create(
        &app,
        &creator_token,
        &key_request(json!([sel("profile", "system")]), None, None, 3600),
    )
    .await;
    let token = app.token_for(&creator, &[]).await;
    let response = fetch(&app, &token, key_id(&created), Some(&enc.kid)).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "the creator wraps to its own enc key: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    let jwe = body["jwe"].as_str().unwrap();
    let header = jwt_header(jwe);
    assert_eq!(header["alg"], "ECDH-ES+A256KW", "{header}");
    assert_eq!(header["enc"], "A256GCM", "{header}");
    assert_eq!(header["kid"], enc.kid, "{header}");
    assert_eq!(header["cty"], "jwk+json", "{header}");
    let key = PKey::private_key_from_pem(&enc.private_pem).unwrap();
    let unwrapped: Value = serde_json::from_str(&jwcrypto_decrypt(&key, jwe)).unwrap();
    assert_eq!(
        unwrapped, created["jwk"],
        "jwcrypto's plaintext is the clear JWK"
    );

    // Another system client, allowed by the policy, cannot name that key.
    let response = fetch(&app, &other_token, key_id(&created), Some(&enc.kid)).await;
    invalid_field(response, "wrap", "another system client's enc key").await;
}

#[tokio::test]
async fn wrapping_needs_an_active_enc_key_of_the_reader_and_the_policy_still_applies() {
    let app = symkeys_app().await;
    let (_, creator_token) = system_creator(&app, "hospital-gw", CBE).await;
    let reader = person(
        &app,
        "850730401",
        "Rik Wuyts",
        json!([{"profile": "citizen"}]),
    )
    .await;
    let stranger = person(
        &app,
        "850730402",
        "Sofie Vos",
        json!([{"profile": "citizen"}]),
    )
    .await;
    let client = app
        .register_app("gp-app", false, APP_SCOPES, json!({}))
        .await;
    let token = person_token(&app, &client, &reader, None, KEYS_AND_READ).await;
    let stranger_token = person_token(&app, &client, &stranger, None, KEYS_AND_READ).await;

    let (good_kid, _) = register_key(&app, &token, "enc", &Options::default()).await;
    let (sig_kid, _) = register_key(&app, &token, "sig", &Options::default()).await;
    let (revoked_kid, _) = register_key(&app, &token, "enc", &Options::default()).await;
    let response = app
        .http
        .delete(app.url(&format!("/keys/{revoked_kid}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        204,
        "revoking the reader's second enc key"
    );
    let (stranger_kid, _) = register_key(&app, &stranger_token, "enc", &Options::default()).await;

    let created = create(
        &app,
        &creator_token,
        &key_request(json!([sel("ssin", &reader)]), None, None, 3600),
    )
    .await;
    let id = key_id(&created);
    let response = fetch(&app, &token, id, Some(&good_kid)).await;
    assert_eq!(
        response.status(),
        200,
        "wrapped to the reader's active enc key: {}",
        response.text().await.unwrap()
    );

    let unknown = B64.encode([7u8; 32]);
    for (what, kid) in [
        ("the reader's sig key", sig_kid.as_str()),
        ("another person's enc key", stranger_kid.as_str()),
        ("the reader's revoked enc key", revoked_kid.as_str()),
        ("an unknown kid", unknown.as_str()),
    ] {
        let response = fetch(&app, &token, id, Some(kid)).await;
        let body = invalid_field(response, "wrap", what).await;
        assert!(
            body.get("jwe").is_none() && body.get("jwk").is_none(),
            "{what}: no key material in a refusal: {body}"
        );
    }
    let response = fetch(&app, &stranger_token, id, Some(&stranger_kid)).await;
    problem(
        response,
        403,
        "a reader the policy refuses, with its own valid enc key",
    )
    .await;
}

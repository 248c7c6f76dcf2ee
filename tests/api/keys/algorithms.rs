//! Every algorithm the contract names (ES256, EdDSA, RS256, PS256), each with `packed`
//! self-attestation and `packed` with `x5c` chained to a configured root, and what must be
//! refused for each: a wrong attestation signature, an attestation `alg` that is not the
//! key's, an algorithm not offered, a certificate that does not chain or does not meet §8.2.1,
//! an Ed25519 key for encryption. Credentials come from the openssl + CBOR authenticator of
//! `authenticator`, certificates from `attestation`, both independent of the service.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

use super::attestation::{AttestationRoot, Shape};
use super::authenticator::{self, Format, KeyKind, Made, Options};
use super::{
    ORIGIN, citizen_with_app, finish, found as search, keystore_app_with, own_keys, person_token,
    start,
};
use crate::helpers::{TestApp, jwt_claims};

/// Every kind of credential key the keystore accepts, with its JOSE `alg`.
pub const KINDS: [(KeyKind, &str); 4] = [
    (KeyKind::Es256, "ES256"),
    (KeyKind::EdDsa, "EdDSA"),
    (KeyKind::Rs256 { bits: 2048 }, "RS256"),
    (KeyKind::Ps256 { bits: 2048 }, "PS256"),
];

/// A keystore trusting `roots` for attestation certificates, with room for many keys per pair.
async fn app_trusting(roots: &[&AttestationRoot]) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("attestation-roots.pem");
    std::fs::write(
        &path,
        roots.iter().flat_map(|r| r.pem()).collect::<Vec<u8>>(),
    )
    .unwrap();
    let app = keystore_app_with(|s| {
        s.keys.webauthn_trust_roots = Some(path);
        s.keys.keys_max_active = 20;
    })
    .await;
    (app, dir)
}

/// One ceremony: the credential `options` describe, for a key of `key_use`.
async fn ceremony(
    app: &TestApp,
    token: &str,
    key_use: &str,
    options: &Options,
) -> (u16, Value, Made) {
    let (status, started) = start(app, token, key_use, "device").await;
    assert_eq!(status, 201, "{started}");
    let made = authenticator::register(&started["publicKey"], ORIGIN, options);
    let id = started["registrationId"].as_str().unwrap();
    let (status, body) = finish(app, token, id, &made.credential).await;
    (status, body, made)
}

/// RFC 7638 §3.2, computed here: the required members in lexicographic order.
fn rfc7638(jwk: &Value) -> String {
    let members: &[&str] = match jwk["kty"].as_str().unwrap() {
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        "RSA" => &["e", "kty", "n"],
        other => panic!("unexpected kty {other}"),
    };
    let body = members
        .iter()
        .map(|m| format!("{}:{}", json!(m), json!(jwk[*m].as_str().unwrap())))
        .collect::<Vec<_>>()
        .join(",");
    B64.encode(openssl::sha::sha256(format!("{{{body}}}").as_bytes()))
}

#[tokio::test]
async fn each_algorithm_registers_with_self_and_certificate_attestation() {
    // Vendors' roots of three key types, all trusted.
    let roots = [
        AttestationRoot::new("P-256 vendor root", KeyKind::Es256),
        AttestationRoot::new("Ed25519 vendor root", KeyKind::EdDsa),
        AttestationRoot::new("RSA vendor root", KeyKind::Rs256 { bits: 2048 }),
    ];
    let (app, _dir) = app_trusting(&roots.iter().collect::<Vec<_>>()).await;
    let (ssin, client, token) = citizen_with_app(&app, "850201001", "gp-app").await;

    let mut registered = Vec::new();
    for (i, (kind, alg)) in KINDS.into_iter().enumerate() {
        // The attestation key is of the credential's kind, so that its signature is too.
        let attester = roots[i % roots.len()].attester(kind);
        for (format, attestation) in [
            (Format::PackedSelf, "packed/self"),
            (Format::PackedX5c(attester.clone()), "packed/x5c"),
        ] {
            let options = Options {
                kind,
                format,
                ..Options::default()
            };
            let (status, key, made) = ceremony(&app, &token, "sig", &options).await;
            assert_eq!(status, 201, "{alg} {attestation}: {key}");
            let mut expected = authenticator::jwk_of(&made.key);
            expected["kid"] = json!(B64.encode(&made.credential_id));
            expected["use"] = json!("sig");
            expected["alg"] = json!(alg);
            assert_eq!(key["jwk"], expected, "{alg} {attestation}");
            registered.push((
                key["kid"].as_str().unwrap().to_owned(),
                alg,
                attestation,
                expected,
            ));
        }
    }
    // An RSA modulus other than 2048 bits.
    let options = Options {
        kind: KeyKind::Ps256 { bits: 3072 },
        ..Options::default()
    };
    let (status, key, _) = ceremony(&app, &token, "sig", &options).await;
    assert_eq!(status, 201, "{key}");
    assert_eq!(key["jwk"]["alg"], "PS256");

    let mine = own_keys(&app, &token).await;
    let found = search(
        &app,
        &token,
        &[
            ("identity_type", "ssin"),
            ("identity_value", &ssin),
            ("use", "sig"),
        ],
    )
    .await;
    let claims = jwt_claims(&person_token(&app, &client, &ssin).await);
    for (kid, alg, attestation, jwk) in &registered {
        let own = mine.iter().find(|k| k["kid"] == **kid).unwrap();
        assert_eq!(own["attestation"], *attestation, "{alg}");
        let published = found.iter().find(|k| k["kid"] == **kid).unwrap();
        assert_eq!(published["alg"], *alg);
        assert_eq!(published["kty"], jwk["kty"]);
        // The access token references the key by its RFC 7638 thumbprint.
        let reference = claims["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kid"] == **kid)
            .unwrap_or_else(|| panic!("{alg} {attestation}: not in the token's keys"));
        assert_eq!(reference["use"], "sig");
        assert_eq!(reference["jkt"], rfc7638(jwk), "{alg}");
    }
}

/// Each refusal is a 422 whose detail names the check, and nothing is stored.
async fn refused(app: &TestApp, token: &str, key_use: &str, options: &Options, expected: &str) {
    let before = own_keys(app, token).await.len();
    let (status, problem, _) = ceremony(app, token, key_use, options).await;
    assert_eq!(status, 422, "{expected}: {problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains(expected), "{expected}: {detail}");
    assert_eq!(
        own_keys(app, token).await.len(),
        before,
        "{expected}: nothing stored"
    );
}

#[tokio::test]
async fn a_wrong_attestation_signature_is_refused_for_each_algorithm() {
    let root = AttestationRoot::new("Vendor root", KeyKind::Es256);
    let (app, _dir) = app_trusting(&[&root]).await;
    let (_, _, token) = citizen_with_app(&app, "850201002", "gp-app").await;
    for (kind, _) in KINDS {
        for format in [Format::PackedSelf, Format::PackedX5c(root.attester(kind))] {
            let options = Options {
                kind,
                format,
                bad_signature: true,
                ..Options::default()
            };
            refused(
                &app,
                &token,
                "sig",
                &options,
                "attestation signature does not verify",
            )
            .await;
        }
    }
    assert!(own_keys(&app, &token).await.is_empty());
}

#[tokio::test]
async fn the_attestation_alg_must_be_the_signing_keys() {
    let root = AttestationRoot::new("Vendor root", KeyKind::Es256);
    let (app, _dir) = app_trusting(&[&root]).await;
    let (_, _, token) = citizen_with_app(&app, "850201003", "gp-app").await;
    // Self attestation: the statement's alg is not the credential key's.
    for (kind, statement_alg) in [
        (KeyKind::EdDsa, -7),
        (KeyKind::Es256, -8),
        // The same RSA key, a PSS signature labelled PKCS#1 v1.5, and the other way round.
        (KeyKind::Ps256 { bits: 2048 }, -257),
        (KeyKind::Rs256 { bits: 2048 }, -37),
    ] {
        let options = Options {
            kind,
            statement_alg: Some(statement_alg),
            ..Options::default()
        };
        refused(&app, &token, "sig", &options, "is not the credential key's").await;
    }
    // A certificate's key that does not fit the statement's alg.
    let options = Options {
        kind: KeyKind::EdDsa,
        format: Format::PackedX5c(root.attester(KeyKind::Es256)),
        statement_alg: Some(-8),
        ..Options::default()
    };
    refused(&app, &token, "sig", &options, "is not an Ed25519 key").await;
    // An RSA certificate whose PKCS#1 v1.5 signature is labelled PSS.
    let options = Options {
        kind: KeyKind::Es256,
        format: Format::PackedX5c(root.attester(KeyKind::Rs256 { bits: 2048 })),
        statement_alg: Some(-37),
        ..Options::default()
    };
    refused(
        &app,
        &token,
        "sig",
        &options,
        "attestation signature does not verify",
    )
    .await;
}

#[tokio::test]
async fn an_algorithm_not_offered_is_refused() {
    let root = AttestationRoot::new("Vendor root", KeyKind::Es256);
    let (app, _dir) = app_trusting(&[&root]).await;
    let (_, _, token) = citizen_with_app(&app, "850201004", "gp-app").await;
    for format in [
        Format::PackedSelf,
        Format::PackedX5c(root.attester(KeyKind::Es256)),
    ] {
        let options = Options {
            kind: KeyKind::Es384,
            format,
            ..Options::default()
        };
        refused(&app, &token, "sig", &options, "not one of those offered").await;
    }
    // An ES384 attestation certificate for an offered credential key.
    let options = Options {
        format: Format::PackedX5c(root.attester(KeyKind::Es384)),
        ..Options::default()
    };
    refused(
        &app,
        &token,
        "sig",
        &options,
        "attestation algorithm COSE -35 is not accepted",
    )
    .await;
}

#[tokio::test]
async fn an_attestation_certificate_must_chain_to_a_root_and_meet_8_2_1() {
    let root = AttestationRoot::new("Vendor root", KeyKind::Es256);
    let other = AttestationRoot::new("Unknown vendor", KeyKind::Es256);
    let (app, _dir) = app_trusting(&[&root]).await;
    let (_, _, token) = citizen_with_app(&app, "850201005", "gp-app").await;
    let x5c = |attester| Options {
        format: Format::PackedX5c(attester),
        ..Options::default()
    };
    for (kind, _) in KINDS {
        let options = Options {
            kind,
            ..x5c(other.attester(kind))
        };
        refused(
            &app,
            &token,
            "sig",
            &options,
            "does not chain to a trusted root",
        )
        .await;
    }
    // Roots of every key type sign attestation certificates the depot can check.
    for root_kind in [KeyKind::EdDsa, KeyKind::Ps256 { bits: 2048 }] {
        let untrusted = AttestationRoot::new("Another vendor", root_kind);
        refused(
            &app,
            &token,
            "sig",
            &x5c(untrusted.attester(KeyKind::EdDsa)),
            "trusted root",
        )
        .await;
    }
    let shaped = |shape: Shape| x5c(root.attester_shaped(KeyKind::Es256, &shape));
    let wrong_ou = Shape {
        ou: "Sales",
        ..Shape::default()
    };
    refused(&app, &token, "sig", &shaped(wrong_ou), "§8.2.1").await;
    let a_ca = Shape {
        ca: true,
        ..Shape::default()
    };
    refused(&app, &token, "sig", &shaped(a_ca), "§8.2.1").await;
    let other_aaguid = Shape {
        aaguid: Some([7; 16]),
        ..Shape::default()
    };
    refused(&app, &token, "sig", &shaped(other_aaguid), "aaguid").await;

    // The aaguid extension naming the authenticator data's aaguid is fine.
    let options = Options {
        aaguid: [7; 16],
        ..shaped(Shape {
            aaguid: Some([7; 16]),
            ..Shape::default()
        })
    };
    let (status, key, _) = ceremony(&app, &token, "sig", &options).await;
    assert_eq!(status, 201, "{key}");
}

#[tokio::test]
async fn keys_by_algorithm_and_use() {
    let root = AttestationRoot::new("Vendor root", KeyKind::Es256);
    let (app, _dir) = app_trusting(&[&root]).await;
    let (_, _, token) = citizen_with_app(&app, "850201006", "gp-app").await;
    // An Ed25519 key signs only.
    for key_use in ["enc", "sig+enc"] {
        for format in [
            Format::PackedSelf,
            Format::PackedX5c(root.attester(KeyKind::EdDsa)),
        ] {
            let options = Options {
                kind: KeyKind::EdDsa,
                format,
                ..Options::default()
            };
            refused(
                &app,
                &token,
                key_use,
                &options,
                "an Ed25519 key can only sign",
            )
            .await;
        }
    }
    // An RSA key of either signature scheme encrypts with RSA-OAEP-256; as sig+enc it has no alg.
    for kind in [KeyKind::Ps256 { bits: 2048 }, KeyKind::Rs256 { bits: 2048 }] {
        let options = Options {
            kind,
            ..Options::default()
        };
        let (status, key, _) = ceremony(&app, &token, "enc", &options).await;
        assert_eq!(status, 201, "{key}");
        assert_eq!(key["jwk"]["alg"], "RSA-OAEP-256");
        let (status, key, _) = ceremony(&app, &token, "sig+enc", &options).await;
        assert_eq!(status, 201, "{key}");
        assert!(key["jwk"].get("alg").is_none(), "{key}");
    }
}

#[tokio::test]
async fn a_system_clients_ed25519_key_signs_only() {
    let app = crate::helpers::spawn_app().await;
    let gw = app
        .register_system_client("gw", &["keys:read"], json!({}))
        .await;
    let reader = app.token_for(&gw, &[]).await;
    let admin = app.admin_token().await;
    let ed = authenticator::generate(KeyKind::EdDsa);
    let jwk = json!({"kty": "OKP", "crv": "Ed25519", "kid": "gw-ed",
        "x": B64.encode(ed.raw_public_key().unwrap())});
    for key_use in ["enc", "sig+enc"] {
        let body = json!({"client_id": "gw", "use": key_use, "name": "Ed25519", "jwk": jwk});
        let response = app.post_json("/admin/keys", &admin, &body).await;
        assert_eq!(response.status(), 422, "{key_use}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["field"], "jwk", "{problem}");
    }
    let body = json!({"client_id": "gw", "use": "sig", "name": "Ed25519", "jwk": jwk});
    let response = app.post_json("/admin/keys", &admin, &body).await;
    assert_eq!(response.status(), 201);
    let found = search(&app, &reader, &[("kid", "gw-ed")]).await;
    assert_eq!(found[0]["alg"], "EdDSA");
    assert_eq!(found[0]["use"], "sig");
    assert!(
        search(&app, &reader, &[("kid", "gw-ed"), ("use", "enc")])
            .await
            .is_empty()
    );
}

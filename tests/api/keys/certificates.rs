//! Certificate-backed keys (the eHealth certificate / ETK case): an administrator
//! imports an X.509 chain for an identity; it must reach a configured root, its
//! validity is the key's, and the JWK carries `x5c`. The chains come from `x509.rs`
//! (the `openssl` crate, independently of the service).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use chrono::{DateTime, Utc};
use openssl::bn::BigNum;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use serde_json::{Value, json};

use super::x509::*;
use super::*;
use crate::forms::*;

#[tokio::test]
async fn an_administrator_imports_a_certificate_for_an_identity() {
    let dir = tempfile::tempdir().unwrap();
    let ca = root("Test eHealth Root");
    let app = app_trusting(&ca, &dir).await;
    let reader = app
        .register_system_client("reader", &["keys:read"], json!({}))
        .await;
    let token = app.token_for(&reader, &[]).await;
    let admin = app.admin_token().await;

    let person = ssin("790512345");
    let doctor = nihii(123456, "004");
    app.register_person(json!({
        "ssin": person, "name": "Dr Jan Janssens", "password": PASSWORD,
        "profiles": [{"profile": "professional", "quality": "doctor", "nihii": doctor}],
    }))
    .await;

    let now = Utc::now().timestamp();
    let (not_before, not_after) = (now - DAY, now + 30 * DAY);
    let leaf_key = p256();
    let leaf = issue(
        &leaf_key,
        "Dr Jan Janssens",
        Some(&ca),
        not_before,
        not_after,
        false,
    );
    let x5c = vec![b64(&leaf), b64(&ca.cert)];
    let by_nihii = [
        ("identity_type", "nihii"),
        ("identity_value", doctor.as_str()),
    ];
    assert!(found(&app, &token, &by_nihii).await.is_empty());

    let body = json!({"identity": {"type": "nihii", "value": doctor}, "use": "enc",
        "name": "eHealth ETK", "x5c": x5c});
    let response = app.post_json("/admin/keys", &admin, &body).await;
    let status = response.status();
    let created: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{created}");
    let thumbprint = x5t(&leaf);
    assert_eq!(created["x5c"], json!(x5c));
    assert_eq!(created["x5t#S256"], thumbprint);
    assert_eq!(created["kid"], thumbprint);
    assert_eq!(created["kty"], "EC");
    assert_eq!(created["crv"], "P-256");
    assert_eq!(created["use"], "enc");
    assert_eq!(created["alg"], "ECDH-ES+A256KW");
    assert_eq!(created["key_use"], "enc");
    assert_eq!(created["source"], "certificate");
    assert_eq!(created["status"], "active");
    assert_eq!(created["name"], "eHealth ETK");
    assert_eq!(
        time(&created, "not_before"),
        DateTime::from_timestamp(not_before, 0).unwrap()
    );
    assert_eq!(
        time(&created, "not_after"),
        DateTime::from_timestamp(not_after, 0).unwrap()
    );
    // The JWK's coordinates are the certificate's key.
    let ec = leaf_key.ec_key().unwrap();
    let mut x = BigNum::new().unwrap();
    let mut y = BigNum::new().unwrap();
    let mut ctx = openssl::bn::BigNumContext::new().unwrap();
    ec.public_key()
        .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
        .unwrap();
    assert_eq!(created["x"], B64.encode(x.to_vec_padded(32).unwrap()));
    assert_eq!(created["y"], B64.encode(y.to_vec_padded(32).unwrap()));

    let listed = found(&app, &token, &by_nihii).await;
    assert_eq!(kids(&listed), vec![thumbprint.clone()]);
    let view = &listed[0];
    assert_eq!(view["x5c"], json!(x5c));
    assert_eq!(view["x5t#S256"], thumbprint);
    assert_eq!(view["status"], "active");
    assert_eq!(view["use"], "enc");
    assert_eq!(
        kids(
            &found(
                &app,
                &token,
                &[
                    ("identity_type", "nihii"),
                    ("identity_value", doctor.as_str()),
                    ("use", "enc")
                ]
            )
            .await
        ),
        vec![thumbprint.clone()]
    );
    assert!(
        found(
            &app,
            &token,
            &[
                ("identity_type", "nihii"),
                ("identity_value", doctor.as_str()),
                ("use", "sig")
            ]
        )
        .await
        .is_empty()
    );

    // The same certificate again: 409, nothing changes.
    problem(
        app.post_json("/admin/keys", &admin, &body).await,
        409,
        "the same certificate twice",
    )
    .await;
    assert_eq!(found(&app, &token, &by_nihii).await, listed);

    // Refusals, each naming its field and storing nothing.
    let stranger = root("Untrusted Root");
    let untrusted = issue(
        &p256(),
        "Mallory",
        Some(&stranger),
        not_before,
        not_after,
        false,
    );
    let expired = issue(&p256(), "Old", Some(&ca), now - 60 * DAY, now - DAY, false);
    let rsa = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
    let small = issue(&rsa, "Small", Some(&ca), not_before, not_after, false);
    let other_leaf = issue(&p256(), "Other", Some(&ca), not_before, not_after, false);
    let other_kid = x5t(&other_leaf);
    let nihii_identity = json!({"type": "nihii", "value": doctor});
    let bad_ssin = spoiled(&ssin("850730033"));
    let cases = [
        (
            "untrusted CA",
            cert_body(nihii_identity.clone(), vec![b64(&untrusted)]),
            "x5c",
            x5t(&untrusted),
        ),
        (
            "untrusted CA in the chain",
            cert_body(
                nihii_identity.clone(),
                vec![b64(&untrusted), b64(&stranger.cert)],
            ),
            "x5c",
            x5t(&untrusted),
        ),
        (
            "garbage base64",
            cert_body(nihii_identity.clone(), vec!["not base64 at all!".into()]),
            "x5c",
            other_kid.clone(),
        ),
        (
            "base64 of something else",
            cert_body(nihii_identity.clone(), vec![STANDARD.encode(b"hello")]),
            "x5c",
            other_kid.clone(),
        ),
        (
            "empty chain",
            cert_body(nihii_identity.clone(), vec![]),
            "x5c",
            other_kid.clone(),
        ),
        (
            "expired",
            cert_body(nihii_identity.clone(), vec![b64(&expired)]),
            "x5c",
            x5t(&expired),
        ),
        (
            "RSA 1024",
            cert_body(nihii_identity.clone(), vec![b64(&small)]),
            "x5c",
            x5t(&small),
        ),
        (
            "bad SSIN checksum",
            cert_body(
                json!({"type": "ssin", "value": bad_ssin}),
                vec![b64(&other_leaf)],
            ),
            "identity",
            other_kid.clone(),
        ),
        (
            "unknown person",
            cert_body(
                json!({"type": "ssin", "value": ssin("850730033")}),
                vec![b64(&other_leaf)],
            ),
            "identity",
            other_kid.clone(),
        ),
        (
            "unknown identifier type",
            cert_body(
                json!({"type": "email", "value": "a@b.example"}),
                vec![b64(&other_leaf)],
            ),
            "identity",
            other_kid.clone(),
        ),
        (
            "no identity",
            json!({"use": "enc", "name": "ETK", "x5c": [b64(&other_leaf)]}),
            "identity",
            other_kid.clone(),
        ),
        (
            "neither jwk nor x5c",
            json!({"identity": nihii_identity, "use": "enc", "name": "ETK"}),
            "jwk",
            other_kid.clone(),
        ),
    ];
    for (what, body, field, kid) in cases {
        let response = app.post_json("/admin/keys", &admin, &body).await;
        let problem = invalid_field(response, field, what).await;
        if what == "RSA 1024" {
            assert!(
                problem["detail"].as_str().unwrap().contains("2048"),
                "{problem}"
            );
        }
        assert_eq!(found(&app, &token, &by_nihii).await, listed, "{what}");
        assert!(
            found(&app, &token, &[("kid", &kid)]).await.is_empty(),
            "{what}"
        );
    }
    let both = json!({"identity": nihii_identity, "use": "enc", "name": "ETK",
        "x5c": [b64(&other_leaf)], "jwk": bare_jwk(&ClientKey::generate("k"))});
    let body = problem(
        app.post_json("/admin/keys", &admin, &both).await,
        422,
        "both jwk and x5c",
    )
    .await;
    assert!(body["field"] == "jwk" || body["field"] == "x5c", "{body}");
    assert!(found(&app, &token, &[("kid", &other_kid)]).await.is_empty());
    assert!(found(&app, &token, &[("kid", "k")]).await.is_empty());

    // A certificate for a person's SSIN, and for an organization.
    let citizen = app.citizen("850730033", false).await;
    let citizen_cert = issue(
        &p256(),
        "An Peeters",
        Some(&ca),
        not_before,
        not_after,
        false,
    );
    let created = app
        .admin_create(
            "/admin/keys",
            &json!({"identity": {"type": "ssin", "value": citizen}, "use": "sig",
                    "name": "eID", "x5c": [b64(&citizen_cert)]}),
        )
        .await;
    assert_eq!(
        created["identity"],
        json!({"type": "ssin", "value": citizen})
    );
    assert_eq!(created["alg"], "ES256");
    let by_ssin = found(
        &app,
        &token,
        &[
            ("identity_type", "ssin"),
            ("identity_value", citizen.as_str()),
        ],
    )
    .await;
    assert_eq!(kids(&by_ssin), vec![x5t(&citizen_cert)]);
    let org_cert = issue(&p256(), "Hospital", Some(&ca), not_before, not_after, false);
    let created = app
        .admin_create(
            "/admin/keys",
            &json!({"identity": {"type": "cbe", "value": CBE}, "use": "sig+enc",
                    "name": "Hospital certificate", "x5c": [b64(&org_cert)]}),
        )
        .await;
    assert_eq!(created["identity"], json!({"type": "cbe", "value": CBE}));
    assert!(created.get("alg").is_none() && created.get("use").is_none());
    assert_eq!(
        kids(
            &found(
                &app,
                &token,
                &[
                    ("identity_type", "cbe"),
                    ("identity_value", CBE),
                    ("use", "enc")
                ]
            )
            .await
        ),
        vec![x5t(&org_cert)]
    );
    assert_eq!(found(&app, &token, &by_nihii).await, listed);

    // A search as of before the certificate's validity finds nothing.
    let early = DateTime::from_timestamp(not_before - 60, 0).unwrap();
    assert!(
        found(
            &app,
            &token,
            &[
                ("identity_type", "nihii"),
                ("identity_value", doctor.as_str()),
                ("at", &rfc3339(early))
            ]
        )
        .await
        .is_empty()
    );

    // Revoked by the administrator: gone from the search, in history as of before.
    app.clock.advance(60);
    let before_revocation = app.clock.now();
    app.clock.advance(60);
    let response = delete(&app, &format!("/admin/keys/{thumbprint}"), &admin).await;
    assert_eq!(response.status(), 204);
    assert!(found(&app, &token, &by_nihii).await.is_empty());
    let then = found(
        &app,
        &token,
        &[
            ("identity_type", "nihii"),
            ("identity_value", doctor.as_str()),
            ("at", &rfc3339(before_revocation)),
        ],
    )
    .await;
    assert_eq!(kids(&then), vec![thumbprint.clone()]);
    assert!(time(&then[0], "revoked_at") > before_revocation);

    // The identity of a NIHII certificate is the NIHII (API.md: `identity`, the
    // owner's identifier).
    assert_eq!(
        view["identity"],
        json!({"type": "nihii", "value": doctor}),
        "{view}"
    );
}

#[tokio::test]
async fn without_trust_roots_certificate_imports_are_refused() {
    let app = spawn_app().await;
    let reader = app
        .register_system_client("reader", &["keys:read"], json!({}))
        .await;
    let token = app.token_for(&reader, &[]).await;
    let admin = app.admin_token().await;
    let doctor = nihii(123456, "004");
    let ca = root("Some Root");
    let now = Utc::now().timestamp();
    let leaf = issue(&p256(), "Dr", Some(&ca), now - DAY, now + 30 * DAY, false);
    for x5c in [vec![b64(&leaf)], vec![b64(&leaf), b64(&ca.cert)]] {
        let response = app
            .post_json(
                "/admin/keys",
                &admin,
                &json!({"identity": {"type": "nihii", "value": doctor}, "use": "enc",
                        "name": "ETK", "x5c": x5c}),
            )
            .await;
        let problem = invalid_field(response, "x5c", "no trust roots").await;
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("no trust roots"),
            "{problem}"
        );
    }
    assert!(
        found(
            &app,
            &token,
            &[
                ("identity_type", "nihii"),
                ("identity_value", doctor.as_str())
            ]
        )
        .await
        .is_empty()
    );
    assert!(
        found(&app, &token, &[("kid", &x5t(&leaf))])
            .await
            .is_empty()
    );
}

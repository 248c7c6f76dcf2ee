//! The authority's certificate and key: generated at first start (a timestamping
//! certificate, the key stored sealed), or the operator's when configured, and every
//! unusable configuration stopping the start with its reason.

use depot::config::Settings;

use super::pki::{Pki, openssl};
use super::*;
use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn the_generated_certificate_is_a_timestamping_certificate_and_the_key_is_sealed() {
    let app = spawn_app().await;
    let (_tmp, dir) = data_dir();
    save_chain(&app, &dir).await;
    let leaf = openssl(&dir, &["x509", "-in", "tsa.pem", "-noout", "-text"]);
    assert!(leaf.contains("ecdsa-with-SHA256"), "{leaf}");
    assert!(leaf.contains("NIST CURVE: P-256"), "{leaf}");
    assert!(
        leaf.contains("X509v3 Extended Key Usage: critical\n                Time Stamping"),
        "{leaf}"
    );
    openssl(
        &dir,
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-purpose",
            "timestampsign",
            "tsa.pem",
        ],
    );

    // The private key is stored sealed: its PKCS#8 bytes appear nowhere in the row.
    use sea_orm::EntityTrait;
    let row = entity::service_secret::Entity::find_by_id("tsa")
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let opened = app
        .state
        .master
        .open(&row.sealed_private, "service-secret:tsa")
        .unwrap();
    assert!(openssl::pkey::PKey::private_key_from_pkcs8(&opened).is_ok());
    assert!(
        !row.sealed_private
            .windows(opened.len().min(32))
            .any(|w| opened.windows(w.len()).next() == Some(w)),
        "the stored key is not sealed"
    );
}

#[tokio::test]
async fn an_operator_key_and_certificate_are_used_when_configured() {
    let pki = Pki::new();
    let dir = pki.dir.clone();
    std::fs::write(
        dir.join("data.bin"),
        b"a sealed message, exactly these bytes",
    )
    .unwrap();
    let (cert, key) = (dir.join("chain.pem"), dir.join("tsa.key"));
    let app = spawn_app_with(move |s: &mut Settings| {
        s.tsa.tsa_cert_file = Some(cert);
        s.tsa.tsa_key_file = Some(key);
        s.tsa.tsa_policy = "1.3.6.1.4.1.4242.1".into();
    })
    .await;
    let served = app.tsa_chain().await;
    assert_eq!(
        served,
        std::fs::read_to_string(dir.join("chain.pem")).unwrap()
    );

    let token = tsa_token(&app).await;
    openssl(
        &dir,
        &[
            "ts", "-query", "-data", "data.bin", "-cert", "-out", "q.tsq",
        ],
    );
    stamp_file(&app, &token, &dir, "q.tsq", "r.tsr").await;
    let verified = openssl(
        &dir,
        &[
            "ts", "-verify", "-data", "data.bin", "-in", "r.tsr", "-CAfile", "ca.crt",
        ],
    );
    assert!(verified.contains("Verification: OK"), "{verified}");
    let text = openssl(&dir, &["ts", "-reply", "-in", "r.tsr", "-text"]);
    assert!(text.contains("Policy OID: 1.3.6.1.4.1.4242.1"), "{text}");
    // The depot's own client trusts the configured chain's root.
    app.state.stamper.client.stamp(b"bytes").await.unwrap();
}

#[tokio::test]
async fn unusable_tsa_configurations_stop_the_start_with_the_reason() {
    let pki = Pki::new();
    let dir = pki.dir.clone();
    let cases: [(&str, &str, Option<&str>, &str); 5] = [
        ("noeku.crt", "tsa.key", None, "extended key usage"),
        ("chain.pem", "other.key", None, "does not belong"),
        ("ca.key", "tsa.key", None, "holds no PEM certificate"),
        (
            "chain.pem",
            "tsa.key",
            Some("not-an-oid"),
            "DEPOT_TSA_POLICY",
        ),
        ("missing.pem", "tsa.key", None, "missing.pem"),
    ];
    for (cert, key, policy, reason) in cases {
        let dir = dir.clone();
        let data = tempfile::tempdir().unwrap();
        let (mut settings, _database) = crate::helpers::test_settings(data.path()).await;
        settings.tsa.tsa_cert_file = Some(dir.join(cert));
        settings.tsa.tsa_key_file = Some(dir.join(key));
        if let Some(policy) = policy {
            settings.tsa.tsa_policy = policy.into();
        }
        let config = depot::config::Config::from_settings(settings).unwrap();
        let error = depot::app::state(config, depot::clock::Clock::system())
            .await
            .err()
            .unwrap_or_else(|| panic!("{cert} + {key} was accepted"));
        let text = format!("{error:#}");
        assert!(text.contains(reason), "{cert} + {key}: {text}");
    }

    // Another TSA without roots to trust, or only one of the two files.
    let mut settings = Settings::default();
    settings.tsa.tsa_url = Some("https://tsa.example/tsr".into());
    let error = depot::config::Config::from_settings(settings.clone()).unwrap_err();
    assert!(
        error.to_string().contains("DEPOT_TSA_TRUST_ANCHORS"),
        "{error}"
    );
    settings.tsa.tsa_url = None;
    settings.tsa.tsa_cert_file = Some(dir.join("chain.pem"));
    let data = tempfile::tempdir().unwrap();
    settings.service.data_dir = data.path().to_owned();
    let config = depot::config::Config::from_settings(settings).unwrap();
    let error = depot::app::state(config, depot::clock::Clock::system())
        .await
        .err()
        .unwrap();
    assert!(format!("{error:#}").contains("go together"), "{error:#}");
}

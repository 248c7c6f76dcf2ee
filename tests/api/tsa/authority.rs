//! The co-hosted time-stamp authority, driven by the real `openssl ts` command:
//! queries it makes are answered, its replies verify with `openssl ts -verify`, two
//! instances on one database share its key and keep serial numbers unique, and
//! everything it refuses is refused without spending a serial number.

use depot::config::Settings;

use super::pki::{openssl, openssl_fails};
use super::*;
use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn queries_made_by_openssl_are_answered_and_verify_with_openssl() {
    let app = spawn_app().await;
    let token = tsa_token(&app).await;
    let (_tmp, dir) = data_dir();
    save_chain(&app, &dir).await;

    let mut with_fraction = 0;
    for md in ["-sha256", "-sha384", "-sha512"] {
        openssl(
            &dir,
            &[
                "ts", "-query", "-data", "data.bin", md, "-cert", "-out", "q.tsq",
            ],
        );
        stamp_file(&app, &token, &dir, "q.tsq", "r.tsr").await;
        let text = openssl(&dir, &["ts", "-reply", "-in", "r.tsr", "-text"]);
        assert!(text.contains("Status: Granted."), "{text}");
        // openssl names the OID after its own openssl.cnf, where 1.2.3.4.1 is
        // `tsa_policy1`.
        assert!(
            text.contains("Policy OID: 1.2.3.4.1") || text.contains("Policy OID: tsa_policy1"),
            "{text}"
        );
        assert!(
            text.contains("Accuracy: unspecified seconds, 0x01 millis, unspecified micros"),
            "{text}"
        );
        // genTime to the millisecond, as openssl reads it: "Dec  3 05:34:04.088 2026 GMT"
        // (no fraction in the one case in a thousand where it is .000).
        let shown = text
            .lines()
            .find_map(|l| l.strip_prefix("Time stamp: "))
            .unwrap_or_else(|| panic!("no time in\n{text}"));
        let clock = shown.split_whitespace().nth(2).unwrap();
        if let Some((_, fraction)) = clock.split_once('.') {
            assert!(
                (1..=3).contains(&fraction.len()) && !fraction.ends_with('0'),
                "{shown}"
            );
            with_fraction += 1;
        }
        // -verify checks the imprint against the data, the nonce against the query,
        // the ESS signing certificate, the signature and the chain with the
        // timeStamping purpose.
        let verified = openssl(
            &dir,
            &[
                "ts", "-verify", "-data", "data.bin", "-in", "r.tsr", "-CAfile", "root.pem",
            ],
        );
        assert!(verified.contains("Verification: OK"), "{md}: {verified}");
        let against_query = openssl(
            &dir,
            &[
                "ts",
                "-verify",
                "-queryfile",
                "q.tsq",
                "-in",
                "r.tsr",
                "-CAfile",
                "chain.pem",
            ],
        );
        assert!(
            against_query.contains("Verification: OK"),
            "{against_query}"
        );
    }
    // Three stamps all at a whole second happen once in a billion.
    assert!(with_fraction > 0, "no genTime had milliseconds");

    // Other data: openssl refuses the reply.
    std::fs::write(dir.join("other.bin"), b"other bytes").unwrap();
    let refused = openssl_fails(
        &dir,
        &[
            "ts",
            "-verify",
            "-data",
            "other.bin",
            "-in",
            "r.tsr",
            "-CAfile",
            "root.pem",
        ],
    );
    assert!(refused.contains("message imprint mismatch"), "{refused}");
}

#[tokio::test]
async fn cert_req_decides_whether_the_certificate_is_included() {
    let app = spawn_app().await;
    let token = tsa_token(&app).await;
    let (_tmp, dir) = data_dir();
    save_chain(&app, &dir).await;

    openssl(
        &dir,
        &[
            "ts",
            "-query",
            "-data",
            "data.bin",
            "-no_nonce",
            "-out",
            "q.tsq",
        ],
    );
    stamp_file(&app, &token, &dir, "q.tsq", "r.tsr").await;
    // Without the certificate in the token, openssl needs it given.
    openssl(
        &dir,
        &[
            "ts",
            "-reply",
            "-in",
            "r.tsr",
            "-token_out",
            "-out",
            "t.der",
        ],
    );
    let without = openssl(
        &dir,
        &["pkcs7", "-inform", "DER", "-in", "t.der", "-print_certs"],
    );
    assert!(!without.contains("BEGIN CERTIFICATE"), "{without}");
    let verified = openssl(
        &dir,
        &[
            "ts",
            "-verify",
            "-data",
            "data.bin",
            "-in",
            "r.tsr",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "tsa.pem",
        ],
    );
    assert!(verified.contains("Verification: OK"), "{verified}");
    let text = openssl(&dir, &["ts", "-reply", "-in", "r.tsr", "-text"]);
    assert!(text.contains("Nonce: unspecified"), "{text}");

    openssl(
        &dir,
        &[
            "ts", "-query", "-data", "data.bin", "-cert", "-out", "q.tsq",
        ],
    );
    stamp_file(&app, &token, &dir, "q.tsq", "r.tsr").await;
    openssl(
        &dir,
        &[
            "ts",
            "-reply",
            "-in",
            "r.tsr",
            "-token_out",
            "-out",
            "t.der",
        ],
    );
    let with = openssl(
        &dir,
        &["pkcs7", "-inform", "DER", "-in", "t.der", "-print_certs"],
    );
    // The TSA certificate, not the root (that is the verifier's trust anchor).
    assert_eq!(with.matches("BEGIN CERTIFICATE").count(), 1, "{with}");
    assert!(with.contains("time-stamp authority"), "{with}");
}

#[tokio::test]
async fn two_instances_share_the_key_and_serials_stay_unique_and_increasing() {
    let first = spawn_app().await;
    // Before the second instance bootstraps its own administrator key.
    let token = tsa_token(&first).await;
    let database_url = first.config.database_url.clone();
    let master = first.config.master_key_file.clone();
    let issuer = first.issuer.clone();
    // A fleet: one public URL, one database, one master key.
    let second = spawn_app_with(move |s: &mut Settings| {
        s.service.public_url = Some(issuer);
        s.storage.database_url = Some(database_url);
        s.service.master_key_file = Some(master);
    })
    .await;
    let (_tmp, dir) = data_dir();
    let chain = save_chain(&first, &dir).await;
    let other = tempfile::tempdir().unwrap();
    assert_eq!(save_chain(&second, other.path()).await, chain);

    openssl(
        &dir,
        &[
            "ts", "-query", "-data", "data.bin", "-cert", "-out", "q.tsq",
        ],
    );
    let query = std::fs::read(dir.join("q.tsq")).unwrap();
    let mut serials = Vec::new();
    for i in 0..6 {
        // Alternating instances; the token is good at both (same issuer, same keys).
        let app = if i % 2 == 0 { &first } else { &second };
        let response = post_query(app, &token, query.clone()).await;
        std::fs::write(dir.join("r.tsr"), response.bytes().await.unwrap()).unwrap();
        serials.push(serial_of(&dir, "r.tsr"));
    }
    assert!(serials.windows(2).all(|w| w[0] < w[1]), "{serials:?}");

    let replies = futures_util::future::join_all((0..16).map(|i| {
        let app = if i % 2 == 0 { &first } else { &second };
        post_query(app, &token, query.clone())
    }))
    .await;
    let mut concurrent = Vec::new();
    for (i, response) in replies.into_iter().enumerate() {
        let name = format!("c{i}.tsr");
        std::fs::write(dir.join(&name), response.bytes().await.unwrap()).unwrap();
        concurrent.push(serial_of(&dir, &name));
    }
    concurrent.sort_unstable();
    concurrent.dedup();
    assert_eq!(concurrent.len(), 16, "duplicate serial numbers");
    assert!(concurrent[0] > *serials.last().unwrap());
}

#[tokio::test]
async fn the_tsa_refuses_bad_requests_without_spending_a_serial() {
    let app = spawn_app().await;
    let token = tsa_token(&app).await;
    let (_tmp, dir) = data_dir();
    openssl(
        &dir,
        &[
            "ts", "-query", "-data", "data.bin", "-cert", "-out", "q.tsq",
        ],
    );
    let query = std::fs::read(dir.join("q.tsq")).unwrap();
    stamp_file(&app, &token, &dir, "q.tsq", "before.tsr").await;
    let before = serial_of(&dir, "before.tsr");

    // No token: 401 with a challenge; a token for another audience: 403.
    let response = app
        .http
        .post(app.url("/tsa"))
        .header("content-type", "application/timestamp-query")
        .body(query.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
    let keys_client = app
        .register_system_client("reader", &["keys:read"], json!({}))
        .await;
    let keys_token = app.token_for(&keys_client, &[("scope", "keys:read")]).await;
    let response = post_query(&app, &keys_token, query.clone()).await;
    assert_eq!(response.status(), 403);
    let response = post_query(&app, "not.a.token", query.clone()).await;
    assert_eq!(response.status(), 401);

    // Not a timestamp query at all: 415; over 8 KiB: 413.
    let response = app
        .http
        .post(app.url("/tsa"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(query.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let response = post_query(&app, &token, vec![0x30; 9 * 1024]).await;
    assert_eq!(response.status(), 413);

    // Garbage, a truncated query and trailing bytes: rejection, badDataFormat.
    let mut trailing = query.clone();
    trailing.push(0);
    for (name, body) in [
        ("garbage", b"this is not DER".to_vec()),
        ("truncated", query[..query.len() - 3].to_vec()),
        ("trailing", trailing),
        ("empty", Vec::new()),
    ] {
        let response = post_query(&app, &token, body).await;
        assert_eq!(response.status(), 200, "{name}");
        std::fs::write(dir.join("bad.tsr"), response.bytes().await.unwrap()).unwrap();
        let text = openssl(&dir, &["ts", "-reply", "-in", "bad.tsr", "-text"]);
        assert!(text.contains("Status: Rejected."), "{name}: {text}");
        assert!(
            text.contains("Failure info: the data submitted has the wrong format"),
            "{name}: {text}"
        );
    }

    // SHA-1 and MD5 imprints: badAlg.
    for md in ["-sha1", "-md5"] {
        openssl(
            &dir,
            &["ts", "-query", "-data", "data.bin", md, "-out", "weak.tsq"],
        );
        stamp_file(&app, &token, &dir, "weak.tsq", "weak.tsr").await;
        let text = openssl(&dir, &["ts", "-reply", "-in", "weak.tsr", "-text"]);
        assert!(text.contains("Status: Rejected."), "{md}: {text}");
        assert!(
            text.contains("unrecognized or unsupported algorithm identifier"),
            "{md}: {text}"
        );
    }

    // Another policy: unacceptedPolicy.
    openssl(
        &dir,
        &[
            "ts",
            "-query",
            "-data",
            "data.bin",
            "-tspolicy",
            "1.2.3.4.2",
            "-out",
            "policy.tsq",
        ],
    );
    stamp_file(&app, &token, &dir, "policy.tsq", "policy.tsr").await;
    let text = openssl(&dir, &["ts", "-reply", "-in", "policy.tsr", "-text"]);
    assert!(text.contains("Status: Rejected."), "{text}");
    assert!(
        text.contains("the requested TSA policy is not supported"),
        "{text}"
    );

    // Nothing was stamped meanwhile: the next serial follows the last good one.
    stamp_file(&app, &token, &dir, "q.tsq", "after.tsr").await;
    assert_eq!(serial_of(&dir, "after.tsr"), before + 1);
}

//! When the depot cannot take a message: a recipient's box is full (422 `box-full`
//! naming the recipient, until the box is emptied), or no proof of reception can be
//! had because the time-stamp authority is down (503 with `Retry-After`). Neither
//! stores anything.

use super::*;
use crate::keys_admin::problem;
use crate::tsa_pki::openssl;

#[tokio::test]
async fn a_full_box_refuses_until_it_is_emptied() {
    // One message of ~700 bytes fits, two do not.
    let app = depot_app_with(|s| s.box_quota_bytes = 1000).await;
    let sender = system_party(&app, "hospital-gw", "03123456").await;
    let recipient = system_party(&app, "gp-gw", "05123456").await;
    let roomy = identifier("cbe", &crate::symkeys::cbe("06123456"));
    let payload = [b'r'; 200];
    let sealed = || quoted(&seal_compact(&payload, sender.key()));

    let first = send(
        &app,
        &sender.token,
        &message("ehbox", &[&recipient.id], &sealed()),
    )
    .await;
    let summary = box_summary(&app, &recipient.token).await;
    assert_eq!(summary["quota"], 1000, "{summary}");
    let used = summary["bytes"].as_u64().unwrap();
    assert!(used > 500 && used <= 1000, "{summary}");

    let response = post_message(
        &app,
        &sender.token,
        &message("ehbox", &[&roomy, &recipient.id], &sealed()),
        None,
    )
    .await;
    let body = problem(response, 422, "a full box").await;
    assert_eq!(body["field"], "recipients[1]", "{body}");
    assert!(
        body["type"]
            .as_str()
            .unwrap_or_default()
            .ends_with("box-full"),
        "{body}"
    );
    assert_eq!(stored(&app).await, (1, 1), "nothing more stored");

    // Emptied, it accepts again.
    let id = first["id"].as_str().unwrap();
    assert_eq!(remove(&app, &recipient.token, id).await.status(), 204);
    send(
        &app,
        &sender.token,
        &message("ehbox", &[&roomy, &recipient.id], &sealed()),
    )
    .await;
}

#[tokio::test]
async fn without_a_time_stamp_authority_nothing_is_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    openssl(
        tmp.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "root.key",
            "-out",
            "root.pem",
            "-days",
            "2",
            "-subj",
            "/CN=an unreachable TSA's root",
        ],
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let anchors = tmp.path().join("root.pem");
    let app = depot_app_with(|s| {
        s.tsa_url = Some(format!("http://127.0.0.1:{closed}/tsa"));
        s.tsa_trust_anchors = Some(anchors);
        s.tsa_retries = 0;
    })
    .await;
    let sender = system_party(&app, "hospital-gw", "03123456").await;
    let recipient = system_party(&app, "gp-gw", "05123456").await;
    let body = message(
        "ehbox",
        &[&recipient.id],
        &quoted(&seal_compact(b"hello", recipient.key())),
    );
    let response = post_message(&app, &sender.token, &body, Some("retry-me")).await;
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    problem(response, 503, "the TSA is down").await;
    let seconds: u64 = retry_after
        .expect("a Retry-After header")
        .parse()
        .expect("Retry-After in seconds");
    assert!(seconds >= 1, "{seconds}");
    assert_eq!(stored(&app).await, (0, 0), "nothing stored");
    assert!(
        listed_ids(&list(&app, &recipient.token, "").await).is_empty(),
        "no box entry"
    );
}

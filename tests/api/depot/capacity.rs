//! When the depot cannot take a message: a recipient's box is full (422 `box-full`
//! naming the recipient, until the box is emptied), or no proof of reception can be
//! had because the time-stamp authority is down (503 with `Retry-After`). Neither
//! stores anything.

use super::*;
use crate::keys::problem;
use crate::tsa::pki::openssl;

#[tokio::test]
async fn a_full_box_refuses_until_it_is_emptied() {
    // One message of ~700 bytes fits, two do not.
    let app = depot_app_with(|s| s.depot.box_quota_bytes = 1000).await;
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

/// Messages accepted at the same moment are stored several to a statement: each is
/// still stored once, listed once, and counted in its box's total.
#[tokio::test]
async fn messages_sent_at_once_are_each_stored_listed_and_counted() {
    let app = depot_app_with(|s| s.depot.box_quota_bytes = 20_000).await;
    let sender = system_party(&app, "hospital-gw", "03123456").await;
    let recipient = system_party(&app, "gp-gw", "05123456").await;
    let payload = [b'c'; 200];
    let sealed = || quoted(&seal_compact(&payload, sender.key()));
    let body = || message("ehbox", &[&recipient.id], &sealed());

    let first = send(&app, &sender.token, &body()).await;
    let size = box_summary(&app, &recipient.token).await["bytes"]
        .as_u64()
        .unwrap();
    let room = usize::try_from((20_000 - size) / size).unwrap();
    assert!(room >= 8, "room for {room} more messages of {size} bytes");

    let bodies: Vec<String> = (0..room).map(|_| body()).collect();
    let answers =
        futures_util::future::join_all(bodies.iter().map(|b| send(&app, &sender.token, b))).await;
    let mut ids: Vec<String> = std::iter::once(&first)
        .chain(&answers)
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), room + 1, "every message got its own id");
    assert_eq!(stored(&app).await, (room as u64 + 1, room as u64 + 1));

    let listing = list(&app, &recipient.token, "limit=100").await;
    let mut listed = listed_ids(&listing);
    listed.sort();
    assert_eq!(listed, ids, "each listed once");
    let summary = box_summary(&app, &recipient.token).await;
    assert_eq!(summary["messages"], room + 1, "{summary}");

    // Every one of them counts against the quota: the box is now full.
    let response = post_message(&app, &sender.token, &body(), None).await;
    problem(response, 422, "a box filled by concurrent messages").await;
    assert_eq!(stored(&app).await.0, room as u64 + 1, "nothing more stored");
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
    // A TSA that is down: it takes each connection and closes it unanswered, counting.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = listener.local_addr().unwrap().port();
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = asked.clone();
    std::thread::spawn(move || {
        for connection in listener.incoming() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(connection);
        }
    });
    let times_asked = || asked.load(std::sync::atomic::Ordering::SeqCst);
    let anchors = tmp.path().join("root.pem");
    let app = depot_app_with(|s| {
        s.tsa.tsa_url = Some(format!("http://127.0.0.1:{closed}/tsa"));
        s.tsa.tsa_trust_anchors = Some(anchors);
        s.tsa.tsa_retries = 0;
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
    assert!(times_asked() >= 1, "the TSA was asked");
    assert_eq!(stored(&app).await, (0, 0), "nothing stored");
    assert!(
        listed_ids(&list(&app, &recipient.token, "").await).is_empty(),
        "no box entry"
    );

    // An outside TSA is asked only for a message that passed the checks: one sealed to
    // a key nobody registered gets the key check's 422, and the TSA hears nothing.
    let before = times_asked();
    let nobody = EncKey::of_client_key(&ClientKey::generate("nobody-enc-1"));
    let unknown = message(
        "ehbox",
        &[&recipient.id],
        &quoted(&seal_compact(b"hello", &nobody)),
    );
    let response = post_message(&app, &sender.token, &unknown, None).await;
    let refused = problem(response, 422, "an unknown kid while the TSA is down").await;
    assert!(
        refused["detail"].as_str().unwrap().contains("nobody-enc-1"),
        "{refused}"
    );
    assert_eq!(stored(&app).await, (0, 0), "nothing stored");
    assert_eq!(times_asked(), before, "the TSA was not asked");
}

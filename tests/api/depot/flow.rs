//! The whole flow: a professional seals a message to a citizen (two EC keys) and a
//! doctor addressed by NIHII (an EC and an RSA key) and to itself; the depot answers
//! with a proof of reception over the exact bytes posted, which `openssl ts -verify`
//! accepts; a receiver's queue gets one notification per recipient; both recipients
//! fetch and open their entries with josekit; the sender sees their receipts; a compact
//! JWE comes back as the same string, a flattened JSON one as the same object.

use secrecy::SecretString;
use serde_json::{Value, json};

use super::*;
use crate::forms::nihii;
use crate::keys::authenticator::{KeyKind, Options};
use crate::keys::problem;
use crate::symkeys::{person, person_token};

const PLAINTEXT: &[u8] = br#"{"subject":"Lab results","body":"Hb 14.1 g/dL, CRP < 5 mg/L"}"#;

/// A receipt in `receipts` for `recipient`.
fn receipt<'a>(receipts: &'a Value, recipient: &Value) -> &'a Value {
    receipts
        .as_array()
        .unwrap()
        .iter()
        .find(|r| &r["recipient"] == recipient)
        .unwrap_or_else(|| panic!("no receipt for {recipient} in {receipts}"))
}

#[tokio::test]
async fn a_message_to_two_recipients_is_notified_stamped_fetched_opened_and_receipted() {
    let url = amqp_url();
    let app = depot_app_with(|s| {
        s.storage.amqp_url = url.clone().map(SecretString::from);
    })
    .await;
    let application = unique_application("ehbox");
    // A topic exchange drops what matches no binding: the receiver's queue comes first.
    let mut notifications = match &url {
        Some(url) => Some(Notifications::bind(url, &application).await),
        None => None,
    };

    let client = app
        .register_app("depot-app", false, APP_SCOPES, json!({}))
        .await;
    let a = person(
        &app,
        "850730501",
        "An Peeters",
        json!([{"profile": "citizen"}]),
    )
    .await;
    let b_nihii = nihii(555_555, "004");
    let b = person(
        &app,
        "850730502",
        "Dr. Bart Maes",
        json!([{"profile": "professional", "quality": "doctor", "nihii": b_nihii}]),
    )
    .await;
    let s_nihii = nihii(666_666, "004");
    let s = person(
        &app,
        "850730503",
        "Dr. Sara Jacobs",
        json!([{"profile": "professional", "quality": "doctor", "nihii": s_nihii}]),
    )
    .await;
    let b_profile = format!("professional:{b_nihii}");
    let s_profile = format!("professional:{s_nihii}");

    let a_token = person_token(&app, &client, &a, Some("citizen"), PERSON_SCOPE).await;
    let a_keys = [
        enc_key(&app, &a_token, &Options::default()).await,
        enc_key(&app, &a_token, &Options::default()).await,
    ];
    let b_token = person_token(&app, &client, &b, Some(&b_profile), PERSON_SCOPE).await;
    let rsa = Options {
        kind: KeyKind::Rs256 { bits: 2048 },
        ..Options::default()
    };
    let b_keys = [
        enc_key(&app, &b_token, &Options::default()).await,
        enc_key(&app, &b_token, &rsa).await,
    ];
    let first = person_token(&app, &client, &s, Some(&s_profile), PERSON_SCOPE).await;
    let s_key = enc_key(&app, &first, &Options::default()).await;
    // A token issued after the registration names the new key in its `keys` claim.
    let s_token = person_token(&app, &client, &s, Some(&s_profile), PERSON_SCOPE).await;

    let a_id = identifier("ssin", &a);
    let b_id = identifier("nihii", &b_nihii);
    let sealed = seal_general(
        PLAINTEXT,
        &[&a_keys[0], &a_keys[1], &b_keys[0], &b_keys[1], &s_key],
    );
    // Posted with the indentation and member order of another writer: the proof is over
    // these bytes, not over a re-serialization.
    let sealed_value: Value = serde_json::from_str(&sealed).unwrap();
    let sealed_text = serde_json::to_string_pretty(&sealed_value).unwrap();
    let metadata = json!({"subject": "lab results", "priority": "normal"});
    let body = message_with(
        &application,
        &[&a_id, &b_id],
        &sealed_text,
        &[("metadata", metadata.clone())],
    );
    let before = app.clock.now();
    let answer = send(&app, &s_token, &body).await;
    let id = answer["id"].as_str().unwrap().to_owned();
    assert_eq!(
        members(&answer),
        ["id", "receivedAt", "sender", "timestamp"],
        "{answer}"
    );
    let received_at = instant(&answer["receivedAt"]);
    assert!(
        (received_at - before).num_seconds().abs() <= 5,
        "{received_at}"
    );
    let sender = &answer["sender"];
    assert_eq!(
        sender["identity"],
        json!({"profile": "professional", "ssin": s, "quality": "doctor", "nihii": s_nihii}),
        "{sender}"
    );
    assert_eq!(sender["client_id"], "depot-app", "{sender}");
    assert_eq!(sender["acr"], "http://eidas.europa.eu/LoA/low", "{sender}");
    assert!(
        sender["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == s_key.kid.as_str() && k["use"] == "enc"),
        "the sender's keys name its enc key: {sender}"
    );
    assert!(sender.get("act").is_none(), "no actor: {sender}");

    // The proof of reception is over the exact bytes of `sealed`.
    // (`-data`: openssl recomputes the SHA-256 imprint from these bytes.)
    verify_timestamp(&app, sealed_text.as_bytes(), &answer["timestamp"]).await;

    // One notification per recipient, with the documented body and nothing else.
    match &mut notifications {
        Some(queue) => {
            let got = queue
                .until_distinct(2, std::time::Duration::from_secs(30))
                .await;
            let late = queue.quiet(std::time::Duration::from_secs(1)).await;
            assert!(
                got.len() == 2 && late.is_empty(),
                "exactly two notifications: {got:?} then {late:?}"
            );
            let mut recipients = Vec::new();
            for n in &got {
                assert_eq!(n.routing_key, format!("message.received.{application}"));
                assert_eq!(
                    members(&n.body),
                    [
                        "application",
                        "messageId",
                        "receivedAt",
                        "recipient",
                        "type",
                        "version"
                    ],
                    "{}",
                    n.body
                );
                assert_eq!(n.body["type"], "message.received");
                assert_eq!(n.body["version"], 1);
                assert_eq!(n.body["messageId"], id.as_str());
                assert_eq!(n.body["application"], application.as_str());
                assert_eq!(instant(&n.body["receivedAt"]), received_at, "{}", n.body);
                recipients.push(n.body["recipient"].clone());
            }
            assert!(
                recipients.contains(&a_id) && recipients.contains(&b_id),
                "{recipients:?}"
            );
        }
        None => {
            let health = ready(&app).await;
            assert_eq!(health["outboxPending"], 2, "{health}");
            let relay = health["broker"]["relay"].as_str().unwrap_or_default();
            assert!(relay.contains("outbox"), "{health}");
        }
    }

    // The sender's sent box: both recipients' receipts, none recorded yet.
    let sent = list(&app, &s_token, "box=sent").await;
    assert_eq!(listed_ids(&sent), [id.as_str()]);
    let listed = item(&sent, &id);
    assert_eq!(
        members(listed),
        [
            "application",
            "id",
            "metadata",
            "receipts",
            "receivedAt",
            "sender",
            "size"
        ],
        "{listed}"
    );
    assert_eq!(listed["application"], application.as_str());
    assert_eq!(listed["size"], sealed_text.len(), "{listed}");
    assert_eq!(listed["metadata"], metadata);
    assert_eq!(
        listed["sender"],
        json!({"identity": sender["identity"], "client_id": "depot-app"})
    );
    assert_eq!(instant(&listed["receivedAt"]), received_at);
    assert_eq!(listed["receipts"].as_array().unwrap().len(), 2, "{listed}");
    for who in [&a_id, &b_id] {
        let r = receipt(&listed["receipts"], who);
        assert!(r["receivedAt"].is_null() && r["readAt"].is_null(), "{r}");
    }

    // A's inbox lists it with A's receipt only.
    let inbox = list(&app, &a_token, "").await;
    assert_eq!(listed_ids(&inbox), [id.as_str()]);
    let receipts = &item(&inbox, &id)["receipts"];
    assert_eq!(receipts.as_array().unwrap().len(), 1, "{receipts}");
    receipt(receipts, &a_id);

    // A fetches: `sealed` is the posted object, byte for byte; both of A's keys open it.
    let text = fetched_text(&app, &a_token, &id, "A").await;
    assert!(
        text.contains(&sealed_text),
        "sealed comes back as posted: {text}"
    );
    let got: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        members(&got),
        [
            "application",
            "id",
            "metadata",
            "receipts",
            "receivedAt",
            "recipients",
            "sealed",
            "sender",
            "timestamp"
        ],
        "{got}"
    );
    assert_eq!(got["sealed"], sealed_value);
    assert_eq!(got["sender"], *sender);
    assert_eq!(got["recipients"], json!([a_id, b_id]));
    assert_eq!(got["timestamp"], answer["timestamp"]);
    assert_eq!(got["metadata"], metadata);
    assert_eq!(got["receipts"].as_array().unwrap().len(), 1, "{got}");
    let a_fetched = instant(&receipt(&got["receipts"], &a_id)["receivedAt"]);
    assert!(receipt(&got["receipts"], &a_id)["readAt"].is_null());
    for key in &a_keys {
        assert_eq!(
            open_json(&sealed_text, key),
            PLAINTEXT,
            "A's key {}",
            key.kid
        );
    }

    let sent = list(&app, &s_token, "box=sent").await;
    let receipts = &item(&sent, &id)["receipts"];
    assert_eq!(instant(&receipt(receipts, &a_id)["receivedAt"]), a_fetched);
    assert!(
        receipt(receipts, &b_id)["receivedAt"].is_null(),
        "{receipts}"
    );

    // A reads it; a second fetch keeps the first reception time.
    assert_eq!(mark_read(&app, &a_token, &id).await.status(), 204);
    let again = fetched(&app, &a_token, &id, "A again").await;
    let r = receipt(&again["receipts"], &a_id);
    assert_eq!(instant(&r["receivedAt"]), a_fetched, "{r}");
    assert!(r["readAt"].is_string(), "{r}");
    let sent = list(&app, &s_token, "box=sent").await;
    let receipts = &item(&sent, &id)["receipts"];
    assert!(receipt(receipts, &a_id)["readAt"].is_string(), "{receipts}");
    assert!(receipt(receipts, &b_id)["readAt"].is_null(), "{receipts}");

    // B, addressed by NIHII, reads its box as a professional and opens with both keys.
    let inbox = list(&app, &b_token, "").await;
    assert_eq!(listed_ids(&inbox), [id.as_str()]);
    let got = fetched(&app, &b_token, &id, "B").await;
    assert_eq!(got["sealed"], sealed_value);
    for key in &b_keys {
        assert_eq!(
            open_json(&sealed_text, key),
            PLAINTEXT,
            "B's key {}",
            key.kid
        );
    }
    assert_eq!(mark_read(&app, &b_token, &id).await.status(), 204);
    let sent = list(&app, &s_token, "box=sent").await;
    for who in [&a_id, &b_id] {
        let r = receipt(&item(&sent, &id)["receipts"], who);
        assert!(
            r["receivedAt"].is_string() && r["readAt"].is_string(),
            "{r}"
        );
    }

    // The sender reads its sent copy with its own key, records no receipt, and is no
    // recipient to mark it read.
    let got = fetched(&app, &s_token, &id, "the sender").await;
    assert_eq!(got["receipts"].as_array().unwrap().len(), 2, "{got}");
    assert_eq!(open_json(&sealed_text, &s_key), PLAINTEXT);
    problem(
        mark_read(&app, &s_token, &id).await,
        404,
        "the sender marking read",
    )
    .await;

    // A compact JWE comes back as the same string, and its proof covers that string.
    let compact = seal_compact(b"compact, for A only", &a_keys[1]);
    let answer = send(
        &app,
        &s_token,
        &message(&application, &[&a_id], &quoted(&compact)),
    )
    .await;
    let compact_id = answer["id"].as_str().unwrap().to_owned();
    verify_timestamp(&app, compact.as_bytes(), &answer["timestamp"]).await;
    let got = fetched(&app, &a_token, &compact_id, "A, compact").await;
    assert_eq!(got["sealed"], Value::String(compact.clone()));
    assert_eq!(
        open_compact(got["sealed"].as_str().unwrap(), &a_keys[1]),
        b"compact, for A only"
    );
    problem(
        fetch(&app, &b_token, &compact_id).await,
        404,
        "B is no recipient of the compact message",
    )
    .await;

    // A flattened JSON JWE (with additional authenticated data) to B's RSA key.
    let flattened = seal_flattened(b"flattened, for B", &b_keys[1], b"ehbox v1");
    let answer = send(&app, &s_token, &message(&application, &[&b_id], &flattened)).await;
    let flattened_id = answer["id"].as_str().unwrap().to_owned();
    verify_timestamp(&app, flattened.as_bytes(), &answer["timestamp"]).await;
    let text = fetched_text(&app, &b_token, &flattened_id, "B, flattened").await;
    assert!(
        text.contains(&flattened),
        "sealed comes back as posted: {text}"
    );
    assert_eq!(open_json(&flattened, &b_keys[1]), b"flattened, for B");

    if let Some(mut queue) = notifications {
        let got = queue
            .until_distinct(2, std::time::Duration::from_secs(30))
            .await;
        let pairs: Vec<(Value, Value)> = got
            .iter()
            .map(|n| (n.body["messageId"].clone(), n.body["recipient"].clone()))
            .collect();
        assert!(
            pairs.contains(&(json!(compact_id), a_id.clone()))
                && pairs.contains(&(json!(flattened_id), b_id.clone())),
            "{pairs:?}"
        );
        queue.finish().await;
    }
}

//! Both seed flows through the client library, receivers on two devices each, and
//! the failures a receiver must be told plainly.

use depot::client::open::{checks, open};
use depot::client::seal::{seal_for_recipients, seal_with_symkey};
use serde_json::{Value, json};

use super::World;

#[tokio::test]
async fn known_addressee_two_recipients_on_two_devices_each() {
    let world = World::new().await;
    let mut alice = world.person(true).await;
    let signing = alice.register(&world, "sig").await;
    alice.register(&world, "enc").await;
    let mut receivers = Vec::new();
    for doctor in [false, true] {
        let mut first = world.person(doctor).await;
        first.register(&world, "enc").await;
        let mut second = first.new_device(&world).await;
        second.register(&world, "enc").await;
        receivers.push([first, second]);
    }

    let recipients: Vec<_> = receivers.iter().map(|r| r[0].identifier()).collect();
    let payload = b"lab results: all normal";
    let (sealed, kids) = seal_for_recipients(&alice.session, &alice.device, &recipients, payload)
        .await
        .unwrap();
    assert_eq!(
        kids.len(),
        5,
        "2 devices x 2 recipients + the sender's own enc key"
    );
    let answer = alice
        .session
        .send("ehbox", &recipients, &sealed)
        .await
        .unwrap();
    let id = answer["id"].as_str().unwrap();
    assert!(
        answer["sender"]["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == signing.as_str())
    );

    for device in receivers.iter().flatten() {
        let fetched = device.session.fetch(id).await.unwrap();
        let verdict = open(&device.session, &device.device, &fetched, &world.trust).await;
        assert!(verdict.valid(), "{verdict}");
        assert_eq!(verdict.payload.as_deref(), Some(&payload[..]));
        assert_eq!(verdict.checks.len(), 7, "{verdict}");
    }
    // The sender reads her own sent message with her own enc key.
    let own = alice.session.fetch(id).await.unwrap();
    let verdict = open(&alice.session, &alice.device, &own, &world.trust).await;
    assert!(verdict.valid(), "{verdict}");
    // Receipts of both recipients are in the sent box.
    let sent = alice.session.list("sent", None).await.unwrap();
    let receipts = &sent["messages"][0]["receipts"];
    assert_eq!(receipts.as_array().unwrap().len(), 2);
    assert!(
        receipts
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["receivedAt"].is_string())
    );
}

/// Alice seals `payload` under a new symmetric key that Carol's NIHII may read, and
/// sends it to Carol: the message id and the key id.
async fn referral(
    alice: &super::Person,
    carol: &super::Person,
    payload: &[u8],
) -> (String, String) {
    let policy = json!({"allow": [{"type": "nihii", "value": carol.nihii.clone().unwrap()}]});
    let (sealed, key_id) = seal_with_symkey(&alice.session, &alice.device, &policy, 3600, payload)
        .await
        .unwrap();
    let answer = alice
        .session
        .send("ehbox", &[carol.identifier()], &sealed)
        .await
        .unwrap();
    (answer["id"].as_str().unwrap().to_owned(), key_id)
}

#[tokio::test]
async fn unknown_addressee_reads_through_the_symmetric_keys_policy() {
    let world = World::new().await;
    let mut alice = world.person(true).await;
    alice.register(&world, "sig").await;
    // Carol has no key anywhere; two of her devices log in.
    let carol = world.person(true).await;
    let carol_tablet = carol.new_device(&world).await;
    let bob = world.person(false).await;
    assert!(
        alice
            .session
            .enc_keys_of(&carol.identifier())
            .await
            .unwrap()
            .is_empty()
    );

    let payload = b"referral letter";
    let (id, key_id) = referral(&alice, &carol, payload).await;
    let id = id.as_str();

    for device in [&carol, &carol_tablet] {
        let fetched = device.session.fetch(id).await.unwrap();
        let verdict = open(&device.session, &device.device, &fetched, &world.trust).await;
        assert!(verdict.valid(), "{verdict}");
        assert_eq!(verdict.payload.as_deref(), Some(&payload[..]));
        assert!(verdict.checks[0].detail.contains(&key_id), "{verdict}");
    }
    // Someone the policy does not allow gets neither the message nor the key.
    assert_eq!(bob.session.fetch(id).await.unwrap_err().status(), Some(404));
    assert_eq!(
        bob.session.symkey(&key_id).await.unwrap_err().status(),
        Some(403)
    );
}

#[tokio::test]
async fn a_message_older_than_this_devices_key_says_so() {
    let world = World::new().await;
    let mut alice = world.person(true).await;
    alice.register(&world, "sig").await;
    let mut bob = world.person(false).await;
    bob.register(&world, "enc").await;
    let (sealed, _) = seal_for_recipients(&alice.session, &alice.device, &[bob.identifier()], b"x")
        .await
        .unwrap();
    let answer = alice
        .session
        .send("ehbox", &[bob.identifier()], &sealed)
        .await
        .unwrap();
    let id = answer["id"].as_str().unwrap();

    // Bob's new tablet gets its key after the message was received.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut tablet = bob.new_device(&world).await;
    tablet.register(&world, "enc").await;
    let fetched = tablet.session.fetch(id).await.unwrap();
    let verdict = open(&tablet.session, &tablet.device, &fetched, &world.trust).await;
    assert!(!verdict.valid());
    let failure = verdict.failure().unwrap();
    assert_eq!(failure.name, checks::DECRYPT);
    assert!(
        failure
            .detail
            .contains("encrypted before this device's key existed"),
        "{verdict}"
    );
    assert!(verdict.payload.is_none());
    // The phone that had a key then opens it.
    let fetched = bob.session.fetch(id).await.unwrap();
    assert!(
        open(&bob.session, &bob.device, &fetched, &world.trust)
            .await
            .valid()
    );
}

#[tokio::test]
async fn a_signing_key_revoked_before_the_timestamp_fails_one_revoked_after_verifies() {
    let world = World::new().await;
    let mut alice = world.person(true).await;
    let old = alice.register(&world, "sig").await;
    let mut bob = world.person(false).await;
    bob.register(&world, "enc").await;
    let to = [bob.identifier()];

    // Sent, then the key is revoked: the message still verifies.
    let (sealed, _) = seal_for_recipients(&alice.session, &alice.device, &to, b"before")
        .await
        .unwrap();
    let first = alice.session.send("ehbox", &to, &sealed).await.unwrap();
    // A token issued while the key was active still references it.
    let stale_token = alice.session.clone();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    alice.session.revoke_key(&old).await.unwrap();
    let fetched = bob
        .session
        .fetch(first["id"].as_str().unwrap())
        .await
        .unwrap();
    let verdict = open(&bob.session, &bob.device, &fetched, &world.trust).await;
    assert!(verdict.valid(), "{verdict}");
    assert!(
        verdict.checks[4].detail.contains("revoked later"),
        "{verdict}"
    );

    // Signed with the revoked key after its revocation: refused at genTime.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (sealed, _) = seal_for_recipients(&stale_token, &alice.device, &to, b"after")
        .await
        .unwrap();
    let second = stale_token.send("ehbox", &to, &sealed).await.unwrap();
    let fetched = bob
        .session
        .fetch(second["id"].as_str().unwrap())
        .await
        .unwrap();
    let verdict = open(&bob.session, &bob.device, &fetched, &world.trust).await;
    assert!(!verdict.valid());
    assert_eq!(
        verdict.failure().unwrap().name,
        checks::KEY_AT_TIMESTAMP,
        "{verdict}"
    );
    assert!(verdict.payload.is_none());
}

/// A system that registers a signing key and sends with it at once: the depot's
/// timestamp falls in the second the key was registered, which a `genTime` cut to
/// whole seconds put before the key's `notBefore` (the receiver was told the valid
/// message was signed by a key "not active" then). A system client does it here, as
/// an automated sender would: no password hashing between registration and sending.
#[tokio::test]
async fn a_key_registered_and_used_within_one_second_verifies() {
    let world = World::new().await;
    let mut bob = world.person(false).await;
    bob.register(&world, "enc").await;
    let cbe = "0404721018";
    world.app.register_organization(cbe, "Lab").await;
    let lab = world
        .app
        .register_system_client(
            "lab",
            &["depot:send", "keys:register", "keys:read"],
            json!({"organization": cbe}),
        )
        .await;

    // The service's clock is held at .400 of one second for the registration and at
    // .600 of it, then at .400 itself, for the stamp: the case the whole-second
    // genTime broke, and the key's first instant, on any machine.
    for (round, stamped_at) in [600, 400].into_iter().enumerate() {
        let second = world.app.coming_second();
        let session = depot::client::Session::new(
            world.http.clone(),
            &world.app.issuer,
            &world.app.token_for(&lab, &[]).await,
        );
        world
            .app
            .clock
            .hold_at(second + chrono::Duration::milliseconds(400));
        let key = session.register_key("sig", "lab signer").await.unwrap();
        let registered = key.registered_at;
        let mut device = depot::client::Device::new(&world.app.issuer, "lab");
        device.keys.push(key);
        // A token that references the new key, then seal and send at once.
        let session = depot::client::Session::new(
            world.http.clone(),
            &world.app.issuer,
            &world.app.token_for(&lab, &[]).await,
        );
        let payload = format!("result {round}");
        let (sealed, _) =
            seal_for_recipients(&session, &device, &[bob.identifier()], payload.as_bytes())
                .await
                .unwrap();
        world
            .app
            .clock
            .hold_at(second + chrono::Duration::milliseconds(stamped_at));
        let answer = session
            .send("ehbox", &[bob.identifier()], &sealed)
            .await
            .unwrap();
        world.app.clock.run();

        let fetched = bob
            .session
            .fetch(answer["id"].as_str().unwrap())
            .await
            .unwrap();
        let verdict = open(&bob.session, &bob.device, &fetched, &world.trust).await;
        assert!(verdict.valid(), "{verdict}");
        assert_eq!(verdict.payload.as_deref(), Some(payload.as_bytes()));
        assert_eq!(registered, second + chrono::Duration::milliseconds(400));
        assert_eq!(
            verdict.gen_time.unwrap(),
            second + chrono::Duration::milliseconds(stamped_at)
        );
        // Revoked after its use, it still verifies for that message; and the lab
        // stays within its three active keys.
        session.revoke_key(&device.keys[0].kid).await.unwrap();
        let verdict = open(&bob.session, &bob.device, &fetched, &world.trust).await;
        assert!(verdict.valid(), "{verdict}");
    }
}

#[tokio::test]
async fn a_reader_with_an_enc_key_gets_the_symmetric_key_wrapped_to_it() {
    let world = World::new().await;
    let mut alice = world.person(true).await;
    alice.register(&world, "sig").await;
    // Carol's phone has a sig+enc key (it counts as an enc key); her tablet only signs.
    let mut carol = world.person(true).await;
    let phone_key = carol.register(&world, "sig+enc").await;
    let mut tablet = carol.new_device(&world).await;
    tablet.register(&world, "sig").await;

    let payload = b"referral letter";
    let (id, key_id) = referral(&alice, &carol, payload).await;
    let id = id.as_str();

    let fetched = carol.session.fetch(id).await.unwrap();
    let verdict = open(&carol.session, &carol.device, &fetched, &world.trust).await;
    assert!(verdict.valid(), "{verdict}");
    assert_eq!(verdict.payload.as_deref(), Some(&payload[..]));
    assert!(
        verdict.checks[0]
            .detail
            .contains(&format!("wrapped to this device's key {phone_key}")),
        "{verdict}"
    );
    // The tablet has no enc key: it asks for the key in clear, and opens too.
    let fetched = tablet.session.fetch(id).await.unwrap();
    let verdict = open(&tablet.session, &tablet.device, &fetched, &world.trust).await;
    assert!(verdict.valid(), "{verdict}");
    assert!(!verdict.checks[0].detail.contains("wrapped"), "{verdict}");

    // The service's audit trail says which was asked: first the tablet's clear read,
    // then the phone's wrapped one (newest first).
    let token = world.app.admin_token().await;
    let audit: Value = world
        .app
        .get(&format!("/admin/symkeys/audit?key_id={key_id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    let reasons: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "granted")
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 2, "{audit}");
    assert!(!reasons[0].contains("wrapped"), "{audit}");
    assert!(
        reasons[1].contains(&format!("wrapped for key {phone_key}")),
        "{audit}"
    );
}

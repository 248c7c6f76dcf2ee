//! What a receiver is told when a message was tampered with: the fetched message is
//! altered the way a corrupt store, a man in the middle or a forger would, and the
//! verdict must name the check that caught it and release no payload.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use depot::client::open::{checks, open};
use depot::client::seal::{encrypt_for_keys, seal_for_recipients, sign};
use depot::client::{Fetched, Verdict};
use serde_json::Value;
use serde_json::value::RawValue;

use super::{Person, World};

/// Alice (sig + enc keys) sends Bob (enc key) a message; answers its id.
async fn sent(world: &World) -> (Person, Person, String) {
    let mut alice = world.person(true).await;
    alice.register(world, "sig").await;
    let mut bob = world.person(false).await;
    bob.register(world, "enc").await;
    let to = [bob.identifier()];
    let (sealed, _) = seal_for_recipients(&alice.session, &alice.device, &to, b"the original")
        .await
        .unwrap();
    let answer = alice.session.send("ehbox", &to, &sealed).await.unwrap();
    (alice, bob, answer["id"].as_str().unwrap().to_owned())
}

/// Alice seals `jws` as it is for Bob's keys and posts it; Bob fetches and opens it.
pub(super) async fn seal_send_open(
    world: &World,
    alice: &Person,
    bob: &Person,
    jws: &str,
) -> Verdict {
    let keys = alice.session.enc_keys_of(&bob.identifier()).await.unwrap();
    let sealed = encrypt_for_keys(jws.as_bytes(), &keys).unwrap();
    world.delivered(alice, bob, &sealed).await
}

/// The fetched message with its `sealed` JSON object changed by `edit`.
fn edited(mut fetched: Fetched, edit: impl FnOnce(&mut Value)) -> Fetched {
    let mut sealed: Value = serde_json::from_str(fetched.sealed.get()).unwrap();
    edit(&mut sealed);
    fetched.sealed = RawValue::from_string(sealed.to_string()).unwrap();
    fetched
}

fn flip_first_char(text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[tokio::test]
async fn a_changed_ciphertext_or_protected_header_does_not_decrypt() {
    let world = World::new().await;
    let (_, bob, id) = sent(&world).await;

    let fetched = bob.session.fetch(&id).await.unwrap();
    let tampered = edited(fetched, |s| {
        s["ciphertext"] = Value::String(flip_first_char(s["ciphertext"].as_str().unwrap()));
    });
    let verdict = open(&bob.session, &bob.device, &tampered, &world.trust).await;
    assert!(verdict.failed(checks::DECRYPT), "{verdict}");
    assert!(
        verdict.failed(checks::TIMESTAMP),
        "the bytes are not those stamped: {verdict}"
    );
    assert!(verdict.payload.is_none());

    let fetched = bob.session.fetch(&id).await.unwrap();
    let tampered = edited(fetched, |s| {
        let protected = B64.decode(s["protected"].as_str().unwrap()).unwrap();
        let mut header: Value = serde_json::from_slice(&protected).unwrap();
        header["cty"] = Value::String("text/plain".into());
        s["protected"] = Value::String(B64.encode(header.to_string()));
    });
    let verdict = open(&bob.session, &bob.device, &tampered, &world.trust).await;
    assert!(verdict.failed(checks::DECRYPT), "{verdict}");
    assert!(verdict.payload.is_none());
}

#[tokio::test]
async fn a_timestamp_over_other_bytes_is_caught() {
    let world = World::new().await;
    let (alice, bob, id) = sent(&world).await;
    let to = [bob.identifier()];
    let (other, _) = seal_for_recipients(&alice.session, &alice.device, &to, b"another")
        .await
        .unwrap();
    let other = alice.session.send("ehbox", &to, &other).await.unwrap();

    let mut fetched = bob.session.fetch(&id).await.unwrap();
    fetched.timestamp = other["timestamp"].as_str().unwrap().to_owned();
    let verdict = open(&bob.session, &bob.device, &fetched, &world.trust).await;
    assert!(!verdict.valid());
    assert!(verdict.failed(checks::TIMESTAMP), "{verdict}");
    assert!(!verdict.failed(checks::DECRYPT), "{verdict}");
    let failure = verdict.failure().unwrap();
    assert!(failure.detail.contains("over other data"), "{verdict}");
    assert!(verdict.payload.is_none());
}

#[tokio::test]
async fn a_signature_by_another_persons_key_is_caught() {
    let world = World::new().await;
    let mut alice = world.person(true).await;
    alice.register(&world, "sig").await;
    let mut eve = world.person(true).await;
    eve.register(&world, "sig").await;
    let mut bob = world.person(false).await;
    bob.register(&world, "enc").await;

    // Alice posts what Eve signed, encrypted for Bob.
    let forged = sign(b"pay Eve", eve.device.signing_key().unwrap()).unwrap();
    let verdict = seal_send_open(&world, &alice, &bob, &forged).await;
    assert!(!verdict.valid());
    let failure = verdict.failure().unwrap();
    assert_eq!(failure.name, checks::KEY_REFERENCE, "{verdict}");
    assert!(
        failure
            .detail
            .contains("not among the sender's key references")
    );
    assert!(verdict.payload.is_none());
}

#[tokio::test]
async fn a_signature_that_does_not_match_its_content_is_caught() {
    let world = World::new().await;
    let mut alice = world.person(true).await;
    alice.register(&world, "sig").await;
    let mut bob = world.person(false).await;
    bob.register(&world, "enc").await;

    // The JWS payload is changed after signing, then sealed properly.
    let jws = sign(b"dose: 5 mg", alice.device.signing_key().unwrap()).unwrap();
    let parts: Vec<&str> = jws.split('.').collect();
    let altered = format!("{}.{}.{}", parts[0], B64.encode("dose: 50 mg"), parts[2]);
    let verdict = seal_send_open(&world, &alice, &bob, &altered).await;
    assert_eq!(
        verdict.failure().unwrap().name,
        checks::SIGNATURE,
        "{verdict}"
    );
    assert!(verdict.payload.is_none());
}

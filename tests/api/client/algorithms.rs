//! A message signed with a key of each algorithm the keystore registers (ES256, EdDSA, RS256,
//! PS256; self-attested or attested by a certificate) opens as valid through the client library;
//! a tampered signature, or a JWS whose header names another algorithm than the key was
//! registered for, does not.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::Utc;
use depot::client::open::checks;
use depot::client::seal::{seal_for_recipients, sign};
use depot::client::{Alg, DeviceKey};
use josekit::jws::{self, JwsHeader};
use serde_json::json;

use super::tampering::seal_send_open;
use super::{Person, World};
use crate::keys::algorithms::KINDS;
use crate::keys::attestation::AttestationRoot;
use crate::keys::authenticator::{self, Format, Options};

/// Registers a `sig` key made by the test authenticator (not the client's) for `person`, and
/// puts its private half on the person's device.
async fn register_signing_key(
    world: &World,
    person: &mut Person,
    options: &Options,
    alg: &str,
) -> String {
    let app = &world.app;
    let token = &person.session.token();
    let started: serde_json::Value = app
        .post_json(
            "/keys/registrations",
            token,
            &json!({"use": "sig", "name": alg}),
        )
        .await
        .json()
        .await
        .unwrap();
    let made = authenticator::register(&started["publicKey"], &app.issuer, options);
    let id = started["registrationId"].as_str().unwrap();
    let response = app
        .post_json(
            &format!("/keys/registrations/{id}"),
            token,
            &json!({"credential": made.credential}),
        )
        .await;
    assert_eq!(
        response.status(),
        201,
        "{alg}: {}",
        response.text().await.unwrap()
    );
    let kid = B64.encode(&made.credential_id);
    person.device.keys.push(DeviceKey {
        kid: kid.clone(),
        key_use: "sig".into(),
        alg: Some(alg.to_owned()),
        registered_at: Utc::now(),
        private_pem: String::from_utf8(made.key.private_key_to_pem_pkcs8().unwrap()).unwrap(),
    });
    kid
}

/// Alice, with one signing key per algorithm and attestation, and Bob with an `enc` key.
async fn alice_and_bob(
    world: &World,
    root: &AttestationRoot,
) -> (Person, Person, Vec<(String, String)>) {
    let mut alice = world.person(true).await;
    let mut keys = Vec::new();
    for (kind, alg) in KINDS {
        for format in [Format::PackedSelf, Format::PackedX5c(root.attester(kind))] {
            let options = Options {
                kind,
                format,
                ..Options::default()
            };
            let kid = register_signing_key(world, &mut alice, &options, alg).await;
            keys.push((kid, alg.to_owned()));
        }
    }
    // A new token, so that every key is among the sender's references.
    alice.session = world
        .login_session(&alice.ssin, alice.nihii.as_deref())
        .await;
    let mut bob = world.person(false).await;
    bob.register(world, "enc").await;
    (alice, bob, keys)
}

async fn world_trusting(root: &AttestationRoot) -> (World, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("attestation-roots.pem");
    std::fs::write(&path, root.pem()).unwrap();
    let world = World::with(|s| {
        s.keys.webauthn_trust_roots = Some(path);
        s.keys.keys_max_active = 20;
    })
    .await;
    (world, dir)
}

/// The JWS signature checked here with OpenSSL (RFC 7518 §3.3, §3.5; RFC 8037 §3.1), not through
/// the library that made it. ES256 signatures are r‖s, not DER: left to `open`.
fn verifies_with_openssl(alg: &str, pem: &str, jws: &str) -> bool {
    use openssl::hash::MessageDigest;
    use openssl::rsa::Padding;
    use openssl::sign::{RsaPssSaltlen, Verifier};
    let key = openssl::pkey::PKey::private_key_from_pem(pem.as_bytes()).unwrap();
    let (input, signature) = jws.rsplit_once('.').unwrap();
    let signature = B64.decode(signature).unwrap();
    let mut verifier = match alg {
        "ES256" => return true,
        "EdDSA" => Verifier::new_without_digest(&key).unwrap(),
        _ => Verifier::new(MessageDigest::sha256(), &key).unwrap(),
    };
    if alg == "PS256" {
        verifier.set_rsa_padding(Padding::PKCS1_PSS).unwrap();
        verifier.set_rsa_mgf1_md(MessageDigest::sha256()).unwrap();
        verifier
            .set_rsa_pss_saltlen(RsaPssSaltlen::custom(32))
            .unwrap();
    }
    verifier
        .verify_oneshot(&signature, input.as_bytes())
        .unwrap()
}

#[tokio::test]
async fn a_message_signed_with_each_algorithm_opens_as_valid() {
    let root = AttestationRoot::new("Vendor root", crate::keys::authenticator::KeyKind::Es256);
    let (world, _dir) = world_trusting(&root).await;
    let (alice, bob, keys) = alice_and_bob(&world, &root).await;
    for (kid, alg) in &keys {
        let key = alice.device.key(kid).unwrap();
        let payload = format!("signed with {alg}");
        let jws = sign(payload.as_bytes(), key).unwrap();
        assert_eq!(crate::helpers::jwt_header(&jws)["alg"], *alg);
        assert!(verifies_with_openssl(alg, &key.private_pem, &jws), "{alg}");
        let verdict = seal_send_open(&world, &alice, &bob, &jws).await;
        assert!(verdict.valid(), "{alg}: {verdict}");
        assert_eq!(verdict.payload.as_deref(), Some(payload.as_bytes()));
        let signature = verdict
            .checks
            .iter()
            .find(|c| c.name == checks::SIGNATURE)
            .unwrap();
        assert!(signature.detail.starts_with(alg.as_str()), "{signature:?}");
    }
}

#[tokio::test]
async fn a_tampered_or_mislabelled_signature_does_not_open() {
    let root = AttestationRoot::new("Vendor root", crate::keys::authenticator::KeyKind::Es256);
    let (world, _dir) = world_trusting(&root).await;
    let (alice, bob, keys) = alice_and_bob(&world, &root).await;
    let kid_of = |alg: &str| &keys.iter().find(|(_, a)| a == alg).unwrap().0;

    // A flipped bit in the signature of every algorithm.
    for (kid, alg) in &keys {
        let jws = sign(b"dose: 5 mg", alice.device.key(kid).unwrap()).unwrap();
        let (signed, signature) = jws.rsplit_once('.').unwrap();
        let mut signature = B64.decode(signature).unwrap();
        signature[0] ^= 0x01;
        let tampered = format!("{signed}.{}", B64.encode(signature));
        let verdict = seal_send_open(&world, &alice, &bob, &tampered).await;
        assert_eq!(
            verdict.failure().unwrap().name,
            checks::SIGNATURE,
            "{alg}: {verdict}"
        );
        assert!(verdict.payload.is_none());
    }

    // The PS256 key signs PKCS#1 v1.5 (a valid RS256 signature by the same RSA key): the JWS
    // may not choose the registered key's algorithm.
    let ps256 = alice.device.key(kid_of("PS256")).unwrap();
    let signer = jws::RS256
        .signer_from_pem(ps256.private_pem.as_bytes())
        .unwrap();
    let mut header = JwsHeader::new();
    header.set_key_id(&ps256.kid);
    let mislabelled = jws::serialize_compact(b"dose: 5 mg", &header, &signer).unwrap();
    let verdict = seal_send_open(&world, &alice, &bob, &mislabelled).await;
    let failure = verdict.failure().unwrap();
    assert_eq!(failure.name, checks::SIGNATURE, "{verdict}");
    assert!(
        failure
            .detail
            .contains("registered for PS256, the JWS says RS256"),
        "{verdict}"
    );
    assert!(verdict.payload.is_none());

    // The Ed25519 key's JWS relabelled ES256 (and the other way round).
    for (from, to) in [("EdDSA", "ES256"), ("ES256", "EdDSA"), ("RS256", "PS256")] {
        let jws = sign(b"dose: 5 mg", alice.device.key(kid_of(from)).unwrap()).unwrap();
        let mut parts: Vec<String> = jws.split('.').map(str::to_owned).collect();
        let mut header = crate::helpers::jwt_header(&jws);
        header["alg"] = json!(to);
        parts[0] = B64.encode(header.to_string());
        let verdict = seal_send_open(&world, &alice, &bob, &parts.join(".")).await;
        let failure = verdict.failure().unwrap();
        assert_eq!(failure.name, checks::SIGNATURE, "{from} as {to}: {verdict}");
        assert!(
            failure
                .detail
                .contains(&format!("registered for {from}, the JWS says {to}")),
            "{verdict}"
        );
    }
}

#[tokio::test]
async fn the_client_registers_and_seals_with_an_ed25519_key() {
    let world = World::new().await;
    let mut alice = world.person(true).await;
    let key = alice
        .session
        .register_key_with("sig", "ed25519 device", Alg::EdDsa)
        .await
        .unwrap();
    assert_eq!(key.alg.as_deref(), Some("EdDSA"));
    alice.device.keys.push(key);
    alice.session = world
        .login_session(&alice.ssin, alice.nihii.as_deref())
        .await;
    // An Ed25519 key cannot be an encryption key.
    let refused = alice
        .session
        .register_key_with("sig+enc", "ed25519 device", Alg::EdDsa)
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(422), "{refused}");
    assert!(refused.to_string().contains("can only sign"), "{refused}");

    let mut bob = world.person(false).await;
    bob.register(&world, "enc").await;
    let to = [bob.identifier()];
    let (sealed, _) = seal_for_recipients(&alice.session, &alice.device, &to, b"hello")
        .await
        .unwrap();
    let verdict = world.delivered(&alice, &bob, &sealed).await;
    assert!(verdict.valid(), "{verdict}");
    assert_eq!(verdict.payload.as_deref(), Some(&b"hello"[..]));
}

/// A receiver whose device key is RSA (`enc`, RSA-OAEP-256) opens what is sealed to it:
/// a message encrypted to the key itself, and one under a symmetric key that the
/// service wraps to it.
#[tokio::test]
async fn a_receiver_with_an_rsa_enc_key_opens_both_kinds_of_message() {
    let world = World::new().await;
    let mut alice = world.person(true).await;
    alice.register(&world, "sig").await;
    let mut bob = world.person(true).await;
    let key = bob
        .session
        .register_key_with("enc", "rsa device", Alg::Rs256)
        .await
        .unwrap();
    let kid = key.kid.clone();
    bob.device.keys.push(key);
    bob.session = world.login_session(&bob.ssin, bob.nihii.as_deref()).await;

    let to = [bob.identifier()];
    let (sealed, kids) = seal_for_recipients(&alice.session, &alice.device, &to, b"direct")
        .await
        .unwrap();
    assert!(kids.contains(&kid), "{kids:?}");
    let policy = json!({"allow": [{"type": "nihii", "value": bob.nihii.clone().unwrap()}]});
    let (wrapped, _) = depot::client::seal::seal_with_symkey(
        &alice.session,
        &alice.device,
        &policy,
        3600,
        b"wrapped",
    )
    .await
    .unwrap();
    for (sealed, payload) in [(sealed, &b"direct"[..]), (wrapped, &b"wrapped"[..])] {
        let verdict = world.delivered(&alice, &bob, &sealed).await;
        assert!(verdict.valid(), "{verdict}");
        assert_eq!(verdict.payload.as_deref(), Some(payload));
        if payload == b"wrapped" {
            assert!(
                verdict.checks[0]
                    .detail
                    .contains(&format!("wrapped for key {kid}"))
                    || verdict.checks[0].detail.contains(&kid),
                "{verdict}"
            );
        }
    }
}

//! Seed figure 7: Alice, a doctor, writes to Bob, a patient she knows, whose two
//! devices each registered an `enc` key: one JWE with a recipient entry per key.

use super::setup::{person_login, person_login_on};
use super::{APPLICATION, Person, Steps};
use crate::client::open::{Trust, open};
use crate::client::seal::seal_for_recipients;
use crate::client::{Alg, ClientError, DpopKey};
use crate::people::Identifier;

/// Seed figure 7: a message to a known addressee with two devices.
#[allow(clippy::too_many_arguments)]
pub(super) async fn known_addressee(
    steps: &mut Steps,
    http: &reqwest::Client,
    issuer: &str,
    app: &str,
    trust: &Trust,
    (alice_ssin, alice_nihii): (&str, &str),
    bob_ssin: &str,
) -> Result<Person, ClientError> {
    println!("\n== Figure 7: known addressee (public keys of every device of every recipient)");

    steps.step(
        "7.1",
        "Alice logs in to the app (authorization code + PKCE, loopback redirect)",
    );
    let profile = format!("professional:{alice_nihii}");
    let mut alice = person_login(http, issuer, app, "Alice", alice_ssin, Some(&profile)).await?;
    let claims = alice.session.claims()?;
    steps.check(
        claims["identity"]["nihii"] == alice_nihii,
        format!("her token says who she is: {}", claims["identity"]),
    );
    let bound_to = alice.session.dpop_key().map(|k| k.jkt().to_owned());
    steps.check(
        bound_to.is_some() && claims["cnf"]["jkt"].as_str() == bound_to.as_deref(),
        format!(
            "it is DPoP-bound to her device's signing key (cnf.jkt {})",
            claims["cnf"]["jkt"]
        ),
    );

    steps.step(
        "7.2",
        "Alice's device registers a sig and an enc key (WebAuthn, packed self-attestation)",
    );
    for key_use in ["sig", "enc"] {
        let key = alice
            .session
            .register_device_key(&mut alice.device, key_use, "Alice's laptop", Alg::Es256)
            .await?;
        steps.check(
            true,
            format!(
                "{key_use} key {} registered; its private key stays on the device",
                key.kid
            ),
        );
    }
    let registered = alice
        .device
        .signing_key()
        .map(|k| k.dpop_key())
        .transpose()?;
    steps.check(
        registered.as_ref().map(DpopKey::jkt) == bound_to.as_deref(),
        "her sig key is the key her tokens are bound to",
    );
    alice = person_login_on(
        http,
        issuer,
        app,
        "Alice",
        alice_ssin,
        Some(&profile),
        alice.device,
    )
    .await?;
    let refs = alice.session.claims()?["keys"].clone();
    let signing = alice
        .device
        .signing_key()
        .map(|k| k.kid.clone())
        .unwrap_or_default();
    steps.check(
        refs.as_array()
            .is_some_and(|r| r.iter().any(|r| r["kid"] == signing.as_str())),
        format!("her new token references her active keys: {refs}"),
    );

    steps.step(
        "7.3",
        "Bob logs in on two devices; each registers its own enc key",
    );
    let mut bobs = Vec::new();
    for device_name in ["Bob's phone", "Bob's tablet"] {
        let mut bob = person_login(http, issuer, app, "Bob", bob_ssin, None).await?;
        let key = bob
            .session
            .register_device_key(&mut bob.device, "enc", device_name, Alg::Es256)
            .await?;
        steps.check(true, format!("{device_name}: enc key {}", key.kid));
        bobs.push(bob);
    }

    steps.step(
        "7.4",
        "Alice signs (JWS) and encrypts once for every active enc key of Bob, and her own",
    );
    let bob_id =
        Identifier::parse("ssin", bob_ssin).map_err(|e| ClientError::Sealing(e.to_string()))?;
    let letter = format!(
        "Dear Bob, your results of {} are normal. Dr. Alice",
        chrono::Utc::now().date_naive()
    );
    let (sealed, kids) = seal_for_recipients(
        &alice.session,
        &alice.device,
        std::slice::from_ref(&bob_id),
        letter.as_bytes(),
    )
    .await?;
    let bob_kids: Vec<&str> = bobs
        .iter()
        .flat_map(|b| b.device.keys.iter().map(|k| k.kid.as_str()))
        .collect();
    steps.check(
        bob_kids.iter().all(|k| kids.iter().any(|x| x == k)) && kids.len() == bob_kids.len() + 1,
        format!("one JWE (general JSON, A256GCM), {} recipient entries: Bob's 2 devices + Alice's own enc key", kids.len()),
    );

    steps.step("7.5", "Alice posts it to the depot with her token");
    let answer = alice.session.send(APPLICATION, &[bob_id], &sealed).await?;
    let id = answer["id"].as_str().unwrap_or_default().to_owned();
    steps.check(
        !id.is_empty(),
        format!(
            "201: message {id}, received at {}, with an RFC 3161 timestamp",
            answer["receivedAt"]
        ),
    );
    steps.check(
        answer["sender"]["keys"] == refs,
        "the depot stored her key references from her token as the sender's claims",
    );

    for (i, bob) in bobs.iter().enumerate() {
        let number = format!("7.{}", 6 + i);
        steps.step(
            &number,
            &format!(
                "Bob, on device {}, lists his box, fetches the message and opens it",
                i + 1
            ),
        );
        let listing = bob.session.list("inbox", None).await?;
        let listed = listing["messages"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["id"] == id.as_str()));
        steps.check(listed, "the message is in his inbox");
        let fetched = bob.session.fetch(&id).await?;
        let verdict = open(&bob.session, &bob.device, &fetched, trust).await;
        println!("{verdict}");
        steps.check(
            verdict.valid() && verdict.payload.as_deref() == Some(letter.as_bytes()),
            "decrypted with this device's key; timestamp, key reference, key at genTime and signature verified; the letter reads as Alice wrote it",
        );
    }
    if let Some(bob) = bobs.first() {
        bob.session.mark_read(&id).await?;
    }

    steps.step("7.8", "Alice sees Bob's receipts in her sent box");
    let sent = alice.session.list("sent", None).await?;
    let receipts = sent["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["id"] == id.as_str()))
        .map(|m| m["receipts"].clone())
        .unwrap_or_default();
    steps.check(
        receipts[0]["receivedAt"].is_string() && receipts[0]["readAt"].is_string(),
        format!("receipts: {receipts}"),
    );
    let own = alice.session.fetch(&id).await?;
    let verdict = open(&alice.session, &alice.device, &own, trust).await;
    steps.check(
        verdict.valid(),
        "Alice can still open what she sent, with her own enc key",
    );
    Ok(alice)
}

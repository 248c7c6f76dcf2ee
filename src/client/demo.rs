//! `depot demo`: both seed flows against a running `depot serve`, step by step.
//!
//! It makes its own administrator offline (as `depot admin bootstrap` does, with a
//! fresh key), then works only through the service's HTTP API, as the apps of a
//! doctor and of her patients would: fresh people each run, logins by the
//! authorization code flow with PKCE and a loopback redirect (a scripted user agent
//! fills the login pages a person would), device keys registered through the WebAuthn
//! ceremony, messages sealed, posted, fetched and opened. Every token is DPoP-bound:
//! a person's to the signing key of their device, the administrator's to its key.
//! Every step says what it proved; the process succeeds only when every check passed.

use std::time::Duration;

use serde_json::{Value, json};

use super::login::{self, ClientAssertionKey, ClientAuth, Credentials, ScriptedBrowser};
use super::open::{Trust, open};
use super::seal::{seal_for_recipients, seal_with_symkey};
use super::{Alg, ClientError, Device, DpopKey, Session};
use crate::config::Config;
use crate::people::Identifier;

const PASSWORD: &str = "demo password, not for production";
const SCOPES: &str =
    "openid depot:send depot:read keys:register keys:read symkeys:create symkeys:read";
const APPLICATION: &str = "ehbox";

/// The running tally of the demo's checks.
struct Steps {
    passed: usize,
    failed: Vec<String>,
}

impl Steps {
    fn step(&mut self, number: &str, title: &str) {
        println!("\n[{number}] {title}");
    }

    fn check(&mut self, ok: bool, what: impl std::fmt::Display) {
        if ok {
            self.passed += 1;
            println!("      ok    {what}");
        } else {
            println!("      FAIL  {what}");
            self.failed.push(what.to_string());
        }
    }
}

/// A person of the demo, logged in on one device of one app.
struct Person {
    session: Session,
    device: Device,
}

/// Runs the demo; `Ok(true)` when every check passed.
pub async fn run(config: &Config) -> anyhow::Result<bool> {
    let issuer = config.issuer.trim_end_matches('/').to_owned();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut steps = Steps {
        passed: 0,
        failed: Vec::new(),
    };
    println!("depot demo against {issuer}");

    steps.step(
        "0.1",
        "an administrator, made offline (as `depot admin bootstrap`)",
    );
    let admin = administrator(config, &http, &issuer).await?;
    steps.check(
        true,
        "admin token by client_credentials with private_key_jwt",
    );

    steps.step(
        "0.2",
        "a public app for persons, with a loopback redirect (RFC 8252)",
    );
    let app = format!("demo-app-{}", short_id());
    admin_post(
        &admin,
        "/admin/clients",
        &json!({"client_id": app, "type": "public", "name": "Demo mailbox app",
                "redirect_uris": ["http://127.0.0.1/callback"],
                "scopes": SCOPES.split(' ').filter(|s| *s != "openid").collect::<Vec<_>>()}),
    )
    .await?;
    steps.check(true, format!("app {app} registered"));

    steps.step(
        "0.3",
        "three people: Dr. Alice (doctor), Bob (patient), Carol (doctor)",
    );
    let (alice_ssin, bob_ssin, carol_ssin) = (ssin(), ssin(), ssin());
    let (alice_nihii, carol_nihii) = (nihii(), nihii());
    for (ssin, name, profile) in [
        (
            &alice_ssin,
            "Alice Demo",
            json!({"profile": "professional", "quality": "doctor", "nihii": alice_nihii}),
        ),
        (&bob_ssin, "Bob Demo", json!({"profile": "citizen"})),
        (
            &carol_ssin,
            "Carol Demo",
            json!({"profile": "professional", "quality": "doctor", "nihii": carol_nihii}),
        ),
    ] {
        admin_post(
            &admin,
            "/admin/persons",
            &json!({"ssin": ssin, "name": name, "password": PASSWORD, "profiles": [profile]}),
        )
        .await?;
    }
    steps.check(true, format!("Alice {alice_ssin} (NIHII {alice_nihii}), Bob {bob_ssin}, Carol {carol_ssin} (NIHII {carol_nihii})"));

    let trust = Trust::from_service(&Session::new(http.clone(), &issuer, "")).await?;
    let known = known_addressee(
        &mut steps,
        &http,
        &issuer,
        &app,
        &trust,
        (&alice_ssin, &alice_nihii),
        &bob_ssin,
    )
    .await;
    let alice = match known {
        Ok(alice) => Some(alice),
        Err(e) => {
            steps.check(false, format!("figure 7 stopped: {e}"));
            None
        }
    };
    if let Some(alice) = alice
        && let Err(e) = unknown_addressee(
            &mut steps,
            &http,
            &issuer,
            &app,
            &trust,
            &alice,
            (&carol_ssin, &carol_nihii),
            &bob_ssin,
        )
        .await
    {
        steps.check(false, format!("figure 8 stopped: {e}"));
    }

    println!(
        "\n{} checks passed, {} failed",
        steps.passed,
        steps.failed.len()
    );
    for failure in &steps.failed {
        println!("  FAIL {failure}");
    }
    Ok(steps.failed.is_empty())
}

/// Seed figure 7: a message to a known addressee with two devices.
#[allow(clippy::too_many_arguments)]
async fn known_addressee(
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

/// Seed figure 8: a message to an unknown addressee, under a symmetric key whose
/// policy says who may read it.
#[allow(clippy::too_many_arguments)]
async fn unknown_addressee(
    steps: &mut Steps,
    http: &reqwest::Client,
    issuer: &str,
    app: &str,
    trust: &Trust,
    alice: &Person,
    (carol_ssin, carol_nihii): (&str, &str),
    bob_ssin: &str,
) -> Result<(), ClientError> {
    println!("\n== Figure 8: unknown addressee (symmetric key with an access policy)");
    steps.step(
        "8.1",
        "Carol has no registered key: Alice finds none to encrypt to",
    );
    let carol_id =
        Identifier::parse("ssin", carol_ssin).map_err(|e| ClientError::Sealing(e.to_string()))?;
    let keys = alice.session.enc_keys_of(&carol_id).await?;
    steps.check(keys.is_empty(), "the keystore has no enc key for Carol");

    steps.step(
        "8.2",
        "Alice asks symkeys for a key only Carol may read, signs and encrypts with it, posts",
    );
    let policy = json!({"allow": [{"type": "nihii", "value": carol_nihii}]});
    let letter = "Dear colleague, a patient of yours was seen today. Dr. Alice";
    let (sealed, key_id) = seal_with_symkey(
        &alice.session,
        &alice.device,
        &policy,
        3600,
        letter.as_bytes(),
    )
    .await?;
    let answer = alice
        .session
        .send(APPLICATION, std::slice::from_ref(&carol_id), &sealed)
        .await?;
    let id = answer["id"].as_str().unwrap_or_default().to_owned();
    steps.check(
        !id.is_empty(),
        format!("201: message {id}, compact JWE, A256KW with key {key_id} (kid in clear)"),
    );

    steps.step(
        "8.3",
        "Carol logs in, fetches the message and the key with her own token, opens it",
    );
    let carol = person_login(
        http,
        issuer,
        app,
        "Carol",
        carol_ssin,
        Some(&format!("professional:{carol_nihii}")),
    )
    .await?;
    let fetched = carol.session.fetch(&id).await?;
    let verdict = open(&carol.session, &carol.device, &fetched, trust).await;
    println!("{verdict}");
    steps.check(
        verdict.valid() && verdict.payload.as_deref() == Some(letter.as_bytes()),
        "symkeys let her read the key (the policy allows her NIHII); timestamp, key reference, key at genTime and signature verified",
    );

    steps.step(
        "8.4",
        "Bob, whom the policy does not allow, cannot have the key",
    );
    let bob = person_login(http, issuer, app, "Bob", bob_ssin, None).await?;
    let refused = bob.session.symkey(&key_id).await;
    steps.check(
        refused.as_ref().err().and_then(ClientError::status) == Some(403),
        "symkeys refuses him (403), and the refusal is audited",
    );
    Ok(())
}

/// Logs a person in on a new device, as the app would: the scripted user agent stands
/// in for the person at the login pages.
async fn person_login(
    http: &reqwest::Client,
    issuer: &str,
    app: &str,
    name: &'static str,
    ssin: &str,
    profile: Option<&str>,
) -> Result<Person, ClientError> {
    let device = Device::new(issuer, app);
    person_login_on(http, issuer, app, name, ssin, profile, device).await
}

/// The same on `device`, its tokens bound to the device's signing key (one is made
/// when it has none yet, and registered later).
async fn person_login_on(
    http: &reqwest::Client,
    issuer: &str,
    app: &str,
    name: &'static str,
    ssin: &str,
    profile: Option<&str>,
    device: Device,
) -> Result<Person, ClientError> {
    let device = device.with_proof_key()?;
    let key = device
        .proof_key()?
        .ok_or_else(|| ClientError::Device("no signing key".into()))?;
    let browser = ScriptedBrowser::new()
        .map_err(|e| ClientError::Protocol(format!("{name}'s browser: {e}")))?;
    let tokens = browser
        .log_in_as(
            http,
            issuer,
            &ClientAuth::public(app).with_dpop(key.clone()),
            SCOPES,
            Credentials {
                username: ssin,
                password: PASSWORD,
                profile,
            },
        )
        .await
        .map_err(|e| ClientError::Protocol(format!("{name}'s login: {e}")))?;
    Ok(Person {
        session: Session::for_tokens(http.clone(), issuer, &tokens, Some(&key)),
        device,
    })
}

/// The demo's administrator: a fresh key, bootstrapped offline, then an admin token.
async fn administrator(
    config: &Config,
    http: &reqwest::Client,
    issuer: &str,
) -> anyhow::Result<Session> {
    let client_id = format!("demo-admin-{}", short_id());
    let (key, pem) = super::keypair::generate_p256()?;
    let public = openssl::pkey::PKey::public_key_from_der(&key.public_key_to_der()?)?;
    let jwk = crate::keys::jwk::from_openssl(&public, "demo-admin", crate::keys::KeyUse::Sig)
        .map_err(|e| anyhow::anyhow!(e))?;
    crate::operator::bootstrap_jwks(config, &client_id, json!({"keys": [jwk.jwk]})).await?;
    // Its token is bound to the key it authenticates with: it has no other.
    let dpop = DpopKey::new(&key, Alg::Es256)?;
    let client = ClientAuth::from(ClientAssertionKey::from_pem(
        &client_id,
        "demo-admin",
        pem.as_bytes(),
    )?)
    .with_dpop(dpop.clone());
    let tokens = login::client_credentials_with(http, issuer, &client, "admin")
        .await
        .map_err(|e| anyhow::anyhow!("the administrator's token: {e}"))?;
    Ok(Session::for_tokens(
        http.clone(),
        issuer,
        &tokens,
        Some(&dpop),
    ))
}

async fn admin_post(admin: &Session, path: &str, body: &Value) -> anyhow::Result<Value> {
    admin
        .post_json(path, body)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

fn random_below(n: u64) -> u64 {
    let mut bytes = [0u8; 8];
    // A failure leaves zeros: still a valid (if less random) demo identity.
    let _ = openssl::rand::rand_bytes(&mut bytes);
    u64::from_le_bytes(bytes) % n
}

fn short_id() -> String {
    format!("{:08x}", random_below(1 << 32))
}

/// A fresh valid SSIN (born in the 1980s, check digits mod 97).
fn ssin() -> String {
    let first9 = format!(
        "8{}{:02}{:02}{:03}",
        random_below(10),
        1 + random_below(12),
        1 + random_below(28),
        1 + random_below(997)
    );
    let base: u64 = first9.parse().unwrap_or_default();
    format!("{first9}{:02}", 97 - base % 97)
}

/// A fresh valid NIHII of a doctor (qualification code 004).
fn nihii() -> String {
    let six = 100_000 + random_below(900_000);
    format!("{six:06}{:02}004", 97 - six % 97)
}

//! `depot demo`: the seed flows against a running `depot serve`, step by step: a
//! message to a known addressee (figure 7) and to an unknown one (figure 8), the app
//! acting for a person by token exchange, for a SAML holder-of-key assertion and an
//! access token (figures 9 and 10), and a supplier organization acting for a consumer
//! organization by delegation (figure 11).
//!
//! It makes its own administrator offline (as `depot admin bootstrap` does, with a
//! fresh key), then works only through the service's HTTP API, as the apps of a
//! doctor and of her patients would: fresh people each run, logins by the
//! authorization code flow with PKCE and a loopback redirect (a scripted user agent
//! fills the login pages a person would), device keys registered through the WebAuthn
//! ceremony, messages sealed, posted, fetched and opened. Every token is DPoP-bound:
//! a person's to the signing key of their device, the administrator's to its key.
//! Every step says what it proved; the process succeeds only when every check passed.

mod acting_for_a_person;
mod delegation;
mod known_addressee;
mod setup;
mod unknown_addressee;

use std::time::Duration;

use serde_json::json;

use super::open::Trust;
use super::{Device, Session};
use crate::config::Config;
use acting_for_a_person::acting_for_a_person;
use delegation::delegation;
use known_addressee::known_addressee;
use setup::{admin_post, administrator, nihii, short_id, ssin};
use unknown_addressee::unknown_addressee;

const PASSWORD: &str = "demo password, not for production";
const SCOPES: &str =
    "openid depot:send depot:read keys:register keys:read symkeys:create symkeys:read";
const APPLICATION: &str = "ehbox";

/// What every figure after 8 works with.
struct Scene<'a> {
    http: &'a reqwest::Client,
    issuer: &'a str,
    /// The persons' app.
    app: &'a str,
    trust: &'a Trust,
    admin: &'a Session,
}

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
        "a public app for persons, with a loopback redirect (RFC 8252), that may act for them (exchange)",
    );
    let app = format!("demo-app-{}", short_id());
    admin_post(
        &admin,
        "/admin/clients",
        &json!({"client_id": app, "type": "public", "name": "Demo mailbox app",
                "redirect_uris": ["http://127.0.0.1/callback"],
                "scopes": SCOPES.split(' ').filter(|s| *s != "openid").chain(["exchange"]).collect::<Vec<_>>()}),
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
    if let Some(alice) = &alice
        && let Err(e) = unknown_addressee(
            &mut steps,
            &http,
            &issuer,
            &app,
            &trust,
            alice,
            (&carol_ssin, &carol_nihii),
            &bob_ssin,
        )
        .await
    {
        steps.check(false, format!("figure 8 stopped: {e}"));
    }
    let scene = Scene {
        http: &http,
        issuer: &issuer,
        app: &app,
        trust: &trust,
        admin: &admin,
    };
    if let Some(alice) = alice
        && let Err(e) =
            acting_for_a_person(&mut steps, &scene, alice, (&alice_ssin, &alice_nihii)).await
    {
        steps.check(false, format!("figures 9 and 10 stopped: {e}"));
    }
    if let Err(e) = delegation(&mut steps, &scene, &bob_ssin).await {
        steps.check(false, format!("figure 11 stopped: {e}"));
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

//! `depot client …` run as processes, as people and operators run them, each party at a
//! [`Terminal`] of its own: a person logs in through the URL the command prints (the
//! scripted browser's last redirect reaches the command's loopback listener), a
//! system client with its key; then register-key, send, inbox, fetch and open, for
//! both seed flows. Exit codes, stdout (JSON) and stderr are checked. The tokens the
//! commands hold are DPoP-bound to the device's signing key.

use std::path::Path;

use serde_json::json;

use super::SCOPES;
use super::terminal::{APP, Run, Terminal};
use crate::forms::{PASSWORD, nihii, ssin};
use crate::helpers::*;

mod dpop;
mod groups;
mod substitutes;
const SYSTEM_SCOPES: &str =
    "depot:send depot:read keys:register keys:read symkeys:create symkeys:read";

/// The service with the persons' app of the commands.
async fn service() -> TestApp {
    service_with(|_| {}).await
}

/// The same, with the service's settings changed by `tweak`.
async fn service_with(tweak: impl FnOnce(&mut depot::config::Settings)) -> TestApp {
    let app = spawn_app_with(tweak).await;
    app.admin_create(
        "/admin/clients",
        &json!({"client_id": APP, "type": "public", "name": "depot client",
                "redirect_uris": ["http://127.0.0.1/callback"],
                "scopes": SCOPES.split(' ').filter(|s| *s != "openid").collect::<Vec<_>>()}),
    )
    .await;
    app
}

/// A person registered with the service (a doctor when `nihii` is given).
async fn person(app: &TestApp, first9: &str, nihii: Option<&str>) -> String {
    let ssin = ssin(first9);
    let profile = match nihii {
        Some(nihii) => json!({"profile": "professional", "quality": "doctor", "nihii": nihii}),
        None => json!({"profile": "citizen"}),
    };
    app.admin_create(
        "/admin/persons",
        &json!({"ssin": ssin, "name": format!("Person {first9}"), "password": PASSWORD,
                "profiles": [profile]}),
    )
    .await;
    ssin
}

/// A logged-in person at a terminal of their own, with a key of `key_use` registered.
async fn person_at_terminal(app: &TestApp, ssin: &str, key_use: Option<&str>) -> Terminal {
    let terminal = Terminal::new(app);
    let login = terminal.log_in_person(ssin, None).await.succeeded("login");
    assert!(login.stdout.contains(ssin), "{login:#?}");
    if let Some(key_use) = key_use {
        let registered = terminal
            .run(&["register-key", "--use", key_use])
            .await
            .succeeded("register-key");
        assert!(
            registered
                .stdout
                .starts_with(&format!("registered {key_use} ES256 key ")),
            "{registered:#?}"
        );
    }
    terminal
}

/// A laboratory's gateway (a system client of its organization), logged in with its
/// key (`private_key_jwt`) and with a signing key registered through the ceremony.
async fn laboratory(app: &TestApp) -> Terminal {
    let cbe = crate::symkeys::cbe("02032013");
    app.register_organization(&cbe, "Laboratory").await;
    let client = app
        .register_system_client(
            "lab-gw",
            &SYSTEM_SCOPES.split(' ').collect::<Vec<_>>(),
            json!({"organization": cbe}),
        )
        .await;
    let terminal = Terminal::new(app);
    let key = terminal.file("lab-gw.pem");
    std::fs::write(&key, &client.key.private_pem).unwrap();
    let key = key.to_str().unwrap();
    let login = terminal
        .run(&[
            "login",
            "--client-id",
            "lab-gw",
            "--key",
            key,
            "--kid",
            &client.key.kid,
            "--scope",
            SYSTEM_SCOPES,
        ])
        .await
        .succeeded("the gateway's login");
    assert!(login.stdout.contains(&cbe), "{login:#?}");
    terminal
        .run(&["register-key", "--use", "sig"])
        .await
        .succeeded("the gateway's register-key");
    terminal
}

/// `depot client send --to ssin:<ssin> --file <letter>`, which must succeed.
async fn send_to_person(terminal: &Terminal, ssin: &str, letter: &Path) -> Run {
    terminal
        .run(&[
            "send",
            "--to",
            &format!("ssin:{ssin}"),
            "--file",
            letter.to_str().unwrap(),
        ])
        .await
        .succeeded("send")
}

fn verdict_line<'a>(run: &'a Run, check: &str) -> &'a str {
    run.stderr
        .lines()
        .find(|l| l.contains(&format!("] {check}:")))
        .unwrap_or_else(|| panic!("no {check} line: {run:#?}"))
}

/// A self-signed certificate of someone who is not the TSA's root.
fn unrelated_root(path: &Path) {
    use openssl::asn1::Asn1Time;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::{X509, X509NameBuilder};
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "Some Other Root").unwrap();
    let name = name.build();
    let mut cert = X509::builder().unwrap();
    cert.set_version(2).unwrap();
    cert.set_subject_name(&name).unwrap();
    cert.set_issuer_name(&name).unwrap();
    cert.set_pubkey(&key).unwrap();
    cert.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    cert.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    cert.sign(&key, MessageDigest::sha256()).unwrap();
    std::fs::write(path, cert.build().to_pem().unwrap()).unwrap();
}

/// The self-signed certificate of the chain the service serves, as an operator would
/// hand it out out of band.
async fn served_root(app: &TestApp, path: &Path) {
    let pem = app.tsa_chain().await;
    let root = openssl::x509::X509::stack_from_pem(pem.as_bytes())
        .unwrap()
        .into_iter()
        .find(|c| c.issued(c) == openssl::x509::X509VerifyResult::OK)
        .unwrap();
    std::fs::write(path, root.to_pem().unwrap()).unwrap();
}

#[tokio::test]
async fn known_addressee_through_the_commands() {
    let app = service().await;
    let lab = laboratory(&app).await;
    let bob = person(&app, "850101001", None).await;
    let bob_terminal = person_at_terminal(&app, &bob, Some("enc")).await;

    let letter = lab.file("results.txt");
    std::fs::write(&letter, "lab results: all normal").unwrap();
    let sent = send_to_person(&lab, &bob, &letter).await;
    let answer = sent.json();
    let id = answer["id"].as_str().unwrap().to_owned();
    assert!(answer["timestamp"].is_string(), "{answer}");
    assert!(sent.stderr.contains("encrypted for 1 keys"), "{sent:#?}");

    let inbox = bob_terminal.run(&["inbox"]).await.succeeded("inbox").json();
    assert_eq!(inbox["messages"][0]["id"], id.as_str(), "{inbox}");
    let fetched = bob_terminal
        .run(&["fetch", &id])
        .await
        .succeeded("fetch")
        .json();
    assert_eq!(fetched["id"], id.as_str());
    assert_eq!(fetched["sender"]["identity"]["profile"], "system");

    let out = bob_terminal.file("results.out");
    let opened = bob_terminal
        .run(&["open", &id, "--out", out.to_str().unwrap()])
        .await
        .succeeded("open");
    assert!(
        opened.stderr.contains("VALID: every check passed"),
        "{opened:#?}"
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "lab results: all normal"
    );
    // Without --out, the payload is standard output.
    let opened = bob_terminal.run(&["open", &id]).await.succeeded("open");
    assert_eq!(opened.stdout, "lab results: all normal");

    // A TSA root given out of band replaces the chain the service serves: a wrong one
    // fails the timestamp check (and nothing is released), the right one passes.
    let wrong = bob_terminal.file("wrong-root.pem");
    unrelated_root(&wrong);
    let refused = bob_terminal
        .run(&["open", &id, "--tsa-root", wrong.to_str().unwrap()])
        .await
        .failed("open with another root");
    assert_eq!(refused.code, Some(1));
    assert!(
        verdict_line(&refused, "timestamp").contains("[FAIL]"),
        "{refused:#?}"
    );
    assert!(refused.stdout.is_empty(), "no payload: {refused:#?}");
    let right = bob_terminal.file("tsa-root.pem");
    served_root(&app, &right).await;
    let opened = bob_terminal
        .run(&["open", &id, "--tsa-root", right.to_str().unwrap()])
        .await
        .succeeded("open with the right root");
    assert!(
        verdict_line(&opened, "timestamp").contains("[ok  ]"),
        "{opened:#?}"
    );
    let missing = bob_terminal
        .run(&["open", &id, "--tsa-root", "no-such.pem"])
        .await
        .failed("open with a root file that is not there");
    assert!(missing.stderr.contains("--tsa-root"), "{missing:#?}");

    // The sender's box shows Bob's receipt.
    let sent_box = lab
        .run(&["inbox", "--box", "sent"])
        .await
        .succeeded("inbox --box sent")
        .json();
    let receipts = &sent_box["messages"][0]["receipts"];
    assert_eq!(
        receipts[0]["recipient"]["value"],
        bob.as_str(),
        "{sent_box}"
    );
    assert!(receipts[0]["receivedAt"].is_string(), "{sent_box}");
}

#[tokio::test]
async fn unknown_addressee_through_the_commands() {
    let app = service().await;
    let lab = laboratory(&app).await;
    let carol_nihii = nihii(100_201, "004");
    let carol = person(&app, "850101002", Some(&carol_nihii)).await;
    let dave = person(&app, "850101003", None).await;
    let eve = person(&app, "850101004", None).await;
    // Carol's device has an enc key: she gets the symmetric key wrapped to it.
    let carol_terminal = person_at_terminal(&app, &carol, Some("enc")).await;
    let dave_terminal = person_at_terminal(&app, &dave, None).await;
    let eve_terminal = person_at_terminal(&app, &eve, None).await;

    let letter = lab.file("referral.txt");
    std::fs::write(&letter, "referral letter").unwrap();
    let sent = lab
        .run(&[
            "send",
            "--to",
            &format!("nihii:{carol_nihii}"),
            "--to",
            &format!("ssin:{dave}"),
            "--allow",
            &format!("nihii:{carol_nihii}"),
            "--file",
            letter.to_str().unwrap(),
        ])
        .await
        .succeeded("send to an unknown addressee");
    let id = sent.json()["id"].as_str().unwrap().to_owned();
    assert!(
        sent.stderr.contains("encrypted with symmetric key"),
        "{sent:#?}"
    );

    let opened = carol_terminal
        .run(&["open", &id])
        .await
        .succeeded("the allowed reader opens");
    assert_eq!(opened.stdout, "referral letter");
    assert!(
        verdict_line(&opened, "decrypt").contains("wrapped to this device's key"),
        "{opened:#?}"
    );

    // Dave is a recipient, but the key's policy does not allow him.
    let refused = dave_terminal
        .run(&["open", &id])
        .await
        .failed("a recipient the policy does not allow");
    assert_eq!(refused.code, Some(1));
    let decrypt = verdict_line(&refused, "decrypt");
    assert!(
        decrypt.contains("[FAIL]") && decrypt.contains("403"),
        "{refused:#?}"
    );
    assert!(refused.stdout.is_empty(), "{refused:#?}");

    // Eve is no recipient at all: the depot does not show her the message.
    let refused = eve_terminal
        .run(&["open", &id])
        .await
        .failed("open of someone else's message");
    assert!(
        refused
            .stderr
            .contains(&format!("message {id} is not in your boxes")),
        "{refused:#?}"
    );
    let refused = eve_terminal
        .run(&["fetch", &id])
        .await
        .failed("fetch of someone else's message");
    assert!(refused.stderr.contains("not in your boxes"), "{refused:#?}");
}

#[tokio::test]
async fn a_persons_session_outlives_its_access_token() {
    let app = service().await;
    let bob = person(&app, "850101005", None).await;
    let terminal = person_at_terminal(&app, &bob, None).await;
    let before = terminal.session();
    assert!(before["refresh_token"].is_string(), "{before}");

    // The service's clock is past the token's expiry; this machine's is not, so the
    // command sends the token, is refused, renews and repeats the call.
    app.clock.advance(400);
    let inbox = terminal
        .run(&["inbox"])
        .await
        .succeeded("inbox after the token expired by the service's clock");
    assert!(inbox.json()["messages"].is_array(), "{inbox:#?}");
    let after = terminal.session();
    assert_ne!(after["access_token"], before["access_token"]);
    assert_ne!(after["refresh_token"], before["refresh_token"], "rotated");

    // And again from the renewed session.
    app.clock.advance(400);
    terminal
        .run(&["inbox"])
        .await
        .succeeded("inbox after a second expiry");
    assert_ne!(terminal.session()["refresh_token"], after["refresh_token"]);
}

#[tokio::test]
async fn bad_input_is_a_clear_error_and_a_non_zero_exit() {
    let app = service().await;
    let terminal = Terminal::new(&app);
    let letter = terminal.file("letter.txt");
    std::fs::write(&letter, "hello").unwrap();
    let letter = letter.to_str().unwrap();

    for args in [
        &["inbox"][..],
        &["open", "0190d6f2-0000-7000-8000-000000000000"],
    ] {
        let run = terminal.run(args).await.failed("without a session");
        assert!(
            run.stderr
                .contains("not logged in: run `depot client login` first"),
            "{run:#?}"
        );
    }
    for (to, says) in [
        ("85073003328", "expected type:value"),
        ("email:bob@example.com", "email"),
        ("ssin:85073003327", "ssin:85073003327"),
    ] {
        let run = terminal
            .run(&["send", "--to", to, "--file", letter])
            .await
            .failed("an unknown recipient syntax");
        assert!(run.stderr.contains(says), "{to}: {run:#?}");
        assert!(
            !run.stderr.contains("not logged in"),
            "the input is checked first: {run:#?}"
        );
    }
    let run = terminal
        .run(&[
            "send",
            "--to",
            "ssin:85073003328",
            "--allow",
            "nobody",
            "--file",
            letter,
        ])
        .await
        .failed("an unknown selector");
    assert!(run.stderr.contains("nobody"), "{run:#?}");
}

/// Issue 19 through the commands: a gateway registers an Ed25519 signing key and sends
/// with it at once, the way an automated sender does; the receiver's `open` finds the
/// key active although the depot stamped the message within the second of the key's
/// registration. The service's clock is held at .400 of one second for the
/// registration and at .600 of it for the stamp, so the case is the same on any
/// machine. The key is revoked afterwards (by the administrator), which does not
/// matter for the message it signed before.
#[tokio::test]
async fn a_key_registered_and_used_at_once_through_the_commands_verifies() {
    let app = service().await;
    let lab = laboratory(&app).await;
    let bob = person(&app, "850101003", None).await;
    let bob_terminal = person_at_terminal(&app, &bob, Some("enc")).await;
    let letter = lab.file("results.txt");
    std::fs::write(&letter, "potassium 4.1 mmol/L").unwrap();
    let admin = app.admin_token().await;

    let second = app.coming_second();
    app.clock
        .hold_at(second + chrono::Duration::milliseconds(400));
    let registered = lab
        .run(&["register-key", "--alg", "EdDSA"])
        .await
        .succeeded("register-key --alg EdDSA");
    app.clock
        .hold_at(second + chrono::Duration::milliseconds(600));
    let answer = send_to_person(&lab, &bob, &letter).await.json();
    app.clock.run();
    let kid = registered
        .stdout
        .trim()
        .strip_prefix("registered sig EdDSA key ")
        .unwrap_or_else(|| panic!("{registered:#?}"))
        .to_owned();

    let found = bob_terminal
        .library_session()
        .jwks(&[("kid", &kid)])
        .await
        .unwrap();
    let not_before =
        chrono::DateTime::parse_from_rfc3339(found[0]["not_before"].as_str().unwrap()).unwrap();
    let received =
        chrono::DateTime::parse_from_rfc3339(answer["receivedAt"].as_str().unwrap()).unwrap();
    assert_eq!(not_before, second + chrono::Duration::milliseconds(400));
    assert_eq!(received, second + chrono::Duration::milliseconds(600));

    // The stamp falls after the key's registration and before its revocation: the
    // message verifies before and after the key is revoked.
    for revoke_first in [false, true] {
        if revoke_first {
            let revoked = app
                .http
                .delete(app.url(&format!("/admin/keys/{kid}")))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap();
            assert_eq!(revoked.status(), 204);
        }
        let opened = bob_terminal
            .run(&["open", answer["id"].as_str().unwrap()])
            .await
            .succeeded("open");
        assert_eq!(opened.stdout, "potassium 4.1 mmol/L");
        assert!(
            verdict_line(&opened, "signed form").contains("EdDSA"),
            "{opened:#?}"
        );
    }
}

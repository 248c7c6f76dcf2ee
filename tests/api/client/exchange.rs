//! `depot client exchange` and `depot client login --consumer`, run as processes
//! against the service: a person's session exchanged (RFC 8693) for a SAML
//! holder-of-key assertion held by her device key and for an access token in which
//! the app acts; a supplier's system logged in for a consumer organization that
//! delegated to it, sending for it until the delegation ends.

use depot::client::saml;
use depot::client::{Device, Session};
use serde_json::json;

use super::SCOPES;
use super::terminal::{APP, Terminal};
use crate::forms::{PASSWORD, ssin};
use crate::helpers::xmlsec::{xml_tools_available, xmlsec1_verifies};
use crate::helpers::*;

const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

/// The service, with the persons' app of the commands allowed to act for them.
async fn service_with(tweak: impl FnOnce(&mut depot::config::Settings)) -> TestApp {
    let app = spawn_app_with(tweak).await;
    let scopes: Vec<&str> = SCOPES
        .split(' ')
        .filter(|s| *s != "openid")
        .chain(["exchange"])
        .collect();
    app.admin_create(
        "/admin/clients",
        &json!({"client_id": APP, "type": "public", "name": "depot client",
                "redirect_uris": ["http://127.0.0.1/callback"], "scopes": scopes}),
    )
    .await;
    app
}

/// A citizen registered with the service; their SSIN.
async fn citizen(app: &TestApp, first9: &str) -> String {
    let ssin = ssin(first9);
    app.admin_create(
        "/admin/persons",
        &json!({"ssin": ssin, "name": format!("Person {first9}"), "password": PASSWORD,
                "profiles": [{"profile": "citizen"}]}),
    )
    .await;
    ssin
}

/// A person logged in at a terminal of their own asking `exchange` too.
async fn exchanging_person(app: &TestApp, ssin: &str) -> Terminal {
    let terminal = Terminal::new(app);
    let scope = format!("{SCOPES} exchange");
    terminal
        .log_in_person_asking(ssin, None, Some(&scope))
        .await
        .succeeded("login with exchange");
    terminal
}

/// The private key of the device's registered signing key.
fn device_signing_key(terminal: &Terminal) -> openssl::pkey::PKey<openssl::pkey::Private> {
    let device = Device::load(&terminal.home().join("device.json")).unwrap();
    device.signing_key().unwrap().private_key().unwrap()
}

#[tokio::test]
async fn exchange_saml_prints_an_assertion_held_by_the_device_key() {
    let app = service_with(|_| {}).await;
    let ssin = citizen(&app, "850105001").await;
    let terminal = exchanging_person(&app, &ssin).await;

    // The holder must be a registered key: none yet.
    let refused = terminal
        .run(&["exchange", "--saml"])
        .await
        .failed("exchange --saml without a registered key");
    assert!(refused.stderr.contains("register-key"), "{refused:#?}");

    terminal
        .run(&["register-key", "--use", "sig"])
        .await
        .succeeded("register-key");
    let run = terminal
        .run(&["exchange", "--saml"])
        .await
        .succeeded("exchange --saml");
    let xml = run.stdout.trim();
    assert!(xml.starts_with("<saml:Assertion"), "{run:#?}");

    // Checked as a SOAP service would: the certificate of /saml/metadata.
    let http = reqwest::Client::new();
    let metadata = saml::metadata(&http, &app.issuer).await.unwrap();
    let verified = saml::verify(xml, &metadata.certificate).unwrap();
    assert_eq!(verified.name_id, ssin);
    assert_eq!(verified.issuer, app.issuer);
    assert_eq!(verified.audiences, [format!("{}/soap", app.issuer)]);
    let device_key = device_signing_key(&terminal);
    assert!(verified.held_by(&device_key), "held by the device key");
    if xml_tools_available() {
        let (_, certificate) = crate::saml::metadata(&app).await;
        assert!(xmlsec1_verifies(xml, &certificate), "xmlsec1: {xml}");
    }

    // Another audience, when asked.
    let soap = "https://soap.example/ehealth";
    let run = terminal
        .run(&["exchange", "--saml", "--audience", soap])
        .await
        .succeeded("exchange --saml --audience");
    let verified = saml::verify(run.stdout.trim(), &metadata.certificate).unwrap();
    assert_eq!(verified.audiences, [soap]);
}

#[tokio::test]
async fn exchange_prints_an_access_token_in_which_the_app_acts() {
    let app = service_with(|_| {}).await;
    let ssin = citizen(&app, "850105002").await;
    let terminal = exchanging_person(&app, &ssin).await;
    terminal
        .run(&["register-key", "--use", "sig"])
        .await
        .succeeded("register-key");

    let run = terminal.run(&["exchange"]).await.succeeded("exchange");
    let printed = run.json();
    assert_eq!(printed["answer"]["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(printed["answer"]["token_type"], "DPoP");
    let claims = &printed["claims"];
    assert_eq!(
        claims,
        &jwt_claims(printed["answer"]["access_token"].as_str().unwrap())
    );
    assert_eq!(claims["act"], json!({"sub": APP, "client_id": APP}));
    assert_eq!(claims["sub"], ssin);
    assert_eq!(claims["identity"]["ssin"], ssin);
    let jkt = terminal.session()["dpop_jkt"].clone();
    assert!(jkt.is_string());
    assert_eq!(claims["cnf"]["jkt"], jkt, "held by the device key");
    let scopes: Vec<&str> = claims["scope"].as_str().unwrap().split(' ').collect();
    assert!(!scopes.contains(&"exchange"), "{scopes:?}");

    // The depot takes it, with proofs by the device key.
    let device = Device::load(&terminal.home().join("device.json")).unwrap();
    let key = device
        .proof_key_for(jkt.as_str().unwrap())
        .unwrap()
        .unwrap();
    let acting = Session::new(
        reqwest::Client::new(),
        &app.issuer,
        printed["answer"]["access_token"].as_str().unwrap(),
    )
    .with_dpop(key);
    acting.list("inbox", None).await.unwrap();

    // Narrowed when asked; a scope beyond the session's is refused.
    let run = terminal
        .run(&["exchange", "--scope", "depot:read"])
        .await
        .succeeded("exchange --scope depot:read");
    assert_eq!(run.json()["claims"]["scope"], "depot:read");
    let refused = terminal
        .run(&["exchange", "--scope", "tsa"])
        .await
        .failed("exchange --scope tsa");
    assert!(refused.stderr.contains("invalid_scope"), "{refused:#?}");
}

#[tokio::test]
async fn exchange_without_the_scope_says_how_to_log_in() {
    let app = service_with(|_| {}).await;
    let ssin = citizen(&app, "850105003").await;
    let terminal = Terminal::new(&app);
    terminal
        .log_in_person(&ssin, None)
        .await
        .succeeded("login without exchange");
    let refused = terminal
        .run(&["exchange"])
        .await
        .failed("exchange without the scope");
    assert!(
        refused.stderr.contains("lacks the scope exchange") && refused.stderr.contains("--scope"),
        "{refused:#?}"
    );
}

/// `depot client login --key … --kid …` of the supplier's system, with `extra` args.
async fn supplier_login(
    terminal: &Terminal,
    kid: &str,
    scope: &str,
    extra: &[&str],
) -> super::terminal::Run {
    let key = terminal.file("supplier.pem");
    let mut args = vec![
        "login",
        "--client-id",
        "supplier-gw",
        "--key",
        key.to_str().unwrap(),
        "--kid",
        kid,
        "--scope",
        scope,
    ];
    args.extend_from_slice(extra);
    terminal.run(&args).await
}

#[tokio::test]
async fn login_consumer_then_send_acts_for_the_consumer_until_the_delegation_ends() {
    // Short-lived tokens: every command renews, asking again with consumer=.
    let app = service_with(|s| s.authz.access_token_ttl_seconds = 20).await;
    let consumer = crate::symkeys::cbe("05100001");
    let supplier = crate::symkeys::cbe("05200002");
    app.register_organization(&consumer, "Consumer hospital")
        .await;
    app.register_organization(&supplier, "Supplier software house")
        .await;
    let own_scopes = ["depot:send", "depot:read", "keys:register", "keys:read"];
    let client = app
        .register_system_client(
            "supplier-gw",
            &own_scopes,
            json!({"organization": supplier}),
        )
        .await;
    let gateway = Terminal::new(&app);
    std::fs::write(gateway.file("supplier.pem"), &client.key.private_pem).unwrap();
    supplier_login(&gateway, &client.key.kid, &own_scopes.join(" "), &[])
        .await
        .succeeded("the supplier's own login");
    gateway
        .run(&["register-key", "--use", "sig"])
        .await
        .succeeded("the supplier's register-key");

    // Sending finds the recipients' keys with the delegated token: keys:read too.
    let delegated = "depot:send depot:read keys:read";
    let refused = supplier_login(
        &gateway,
        &client.key.kid,
        delegated,
        &["--consumer", &consumer],
    )
    .await
    .failed("login --consumer without a delegation");
    assert!(
        refused.stderr.contains("unauthorized_client"),
        "{refused:#?}"
    );
    let bad = supplier_login(
        &gateway,
        &client.key.kid,
        delegated,
        &["--consumer", "0123"],
    )
    .await
    .failed("login --consumer with a malformed CBE");
    assert!(bad.stderr.contains("--consumer"), "{bad:#?}");

    let recorded = app
        .admin_create(
            "/admin/delegations",
            &json!({"consumer": {"type": "cbe", "value": consumer},
                    "supplier": {"type": "cbe", "value": supplier},
                    "scopes": delegated.split(' ').collect::<Vec<_>>()}),
        )
        .await;
    let login = supplier_login(
        &gateway,
        &client.key.kid,
        delegated,
        &["--consumer", &consumer],
    )
    .await
    .succeeded("login --consumer");
    assert!(login.stdout.contains(&consumer), "{login:#?}");
    assert!(
        login.stderr.contains(&supplier),
        "the actor is named: {login:#?}"
    );
    assert_eq!(gateway.session()["consumer"], consumer.as_str());

    // Bob, with an enc key, receives a letter sent for the consumer.
    let bob_ssin = citizen(&app, "850105004").await;
    let bob = Terminal::new(&app);
    bob.log_in_person(&bob_ssin, None)
        .await
        .succeeded("Bob's login");
    bob.run(&["register-key", "--use", "enc"])
        .await
        .succeeded("Bob's register-key");
    let letter = gateway.file("letter.txt");
    std::fs::write(&letter, "Your appointment is confirmed.").unwrap();
    let sent = gateway
        .run(&[
            "send",
            "--to",
            &format!("ssin:{bob_ssin}"),
            "--file",
            letter.to_str().unwrap(),
        ])
        .await
        .succeeded("send for the consumer");
    let answer = sent.json();
    assert_eq!(
        answer["sender"]["identity"],
        json!({"profile": "system", "cbe": consumer})
    );
    assert_eq!(answer["sender"]["act"]["cbe"], supplier.as_str());
    assert_eq!(answer["sender"]["act"]["client_id"], "supplier-gw");
    // The renewed token still acts for the consumer.
    let renewed = jwt_claims(gateway.session()["access_token"].as_str().unwrap());
    assert_eq!(renewed["identity"]["cbe"], consumer.as_str());
    assert_eq!(renewed["act"]["cbe"], supplier.as_str());

    let id = answer["id"].as_str().unwrap();
    let fetched = bob.run(&["fetch", id]).await.succeeded("Bob's fetch");
    assert_eq!(fetched.json()["sender"]["act"]["cbe"], supplier.as_str());
    let opened = bob.run(&["open", id]).await.succeeded("Bob's open");
    assert_eq!(opened.stdout, "Your appointment is confirmed.");

    // Ended: the token is refused and renewing it is refused too.
    let token = app.admin_token().await;
    let ended = app
        .http
        .delete(app.url(&format!(
            "/admin/delegations/{}",
            recorded["id"].as_str().unwrap()
        )))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 204);
    let refused = gateway
        .run(&["inbox"])
        .await
        .failed("inbox after the delegation ended");
    assert!(
        refused.stderr.contains("unauthorized_client"),
        "{refused:#?}"
    );
}

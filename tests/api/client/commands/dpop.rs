//! The commands with DPoP-bound tokens (RFC 9449): the device's signing key binds the
//! tokens the commands keep, they give the nonce the service asks for, and they date
//! their proofs by the service's clock.

use super::*;

/// RFC 7638 thumbprint of a public EC P-256 JWK, computed here rather than by the
/// service or the library.
fn ec_thumbprint(jwk: &serde_json::Value) -> String {
    use base64::Engine as _;
    assert_eq!(jwk["kty"], "EC", "{jwk}");
    let members = format!(
        r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["crv"].as_str().unwrap(),
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap()
    );
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(openssl::sha::sha256(members.as_bytes()))
}

/// The status and challenge of `GET /depot/messages` with these headers.
async fn list_with(app: &TestApp, headers: &[(&str, String)]) -> (u16, String) {
    let mut request = app.http.get(app.url("/depot/messages"));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let answer = request.send().await.unwrap();
    let challenge = answer
        .headers()
        .get("www-authenticate")
        .map(|h| h.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (answer.status().as_u16(), challenge)
}

/// The depot flow through the commands with DPoP-bound tokens: `login` makes the
/// device's signing key and binds the tokens to it, `register-key` registers that very
/// key, and send, fetch and open go through with proofs by it. The token the commands
/// keep is worth nothing without the key: replayed as a bearer token, or with a proof
/// by another key, it is refused.
#[tokio::test]
async fn the_commands_bind_the_tokens_to_the_device_key() {
    let app = service().await;
    let alice = person(&app, "850101006", None).await;
    let bob = person(&app, "850101007", None).await;
    let bob_terminal = person_at_terminal(&app, &bob, Some("enc")).await;

    let terminal = Terminal::new(&app);
    let login = terminal
        .log_in_person(&alice, None)
        .await
        .succeeded("login");
    assert!(
        login
            .stderr
            .contains("the tokens are bound to this device's signing key"),
        "{login:#?}"
    );
    let session = terminal.session();
    assert_eq!(session["token_type"], "DPoP", "{session}");
    let jkt = session["dpop_jkt"].as_str().unwrap().to_owned();
    let claims = jwt_claims(session["access_token"].as_str().unwrap());
    assert_eq!(claims["cnf"]["jkt"], jkt.as_str(), "{claims}");
    assert!(
        session["refresh_token"].is_string(),
        "bound, so refreshable"
    );
    // Made before the login, not registered yet: a login comes first.
    let device = terminal.device();
    assert_eq!(device["keys"], json!([]), "{device}");
    assert_eq!(device["unregistered"]["alg"], "ES256", "{device}");

    // Registering a signing key registers that very key pair; the renewed token is
    // bound to it still and references it.
    let registered = terminal
        .run(&["register-key", "--use", "sig"])
        .await
        .succeeded("register-key");
    let kid = registered
        .stdout
        .trim()
        .strip_prefix("registered sig ES256 key ")
        .unwrap_or_else(|| panic!("{registered:#?}"))
        .to_owned();
    let device = terminal.device();
    assert!(device.get("unregistered").is_none(), "{device}");
    assert_eq!(device["keys"][0]["kid"], kid.as_str());
    let session = terminal.session();
    let claims = jwt_claims(session["access_token"].as_str().unwrap());
    assert_eq!(claims["cnf"]["jkt"], jkt.as_str(), "{claims}");
    assert!(
        claims["keys"]
            .as_array()
            .is_some_and(|k| k.iter().any(|k| k["kid"] == kid.as_str())),
        "{claims}"
    );
    let published = terminal
        .library_session()
        .jwks(&[("kid", &kid)])
        .await
        .unwrap();
    assert_eq!(
        ec_thumbprint(&published[0]),
        jkt,
        "the keystore's sig key is the key the tokens are bound to"
    );

    // The depot flow, every call with a proof.
    let letter = terminal.file("letter.txt");
    std::fs::write(&letter, "bound and delivered").unwrap();
    let id = send_to_person(&terminal, &bob, &letter).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let fetched = terminal
        .run(&["fetch", &id])
        .await
        .succeeded("the sender's fetch")
        .json();
    assert_eq!(fetched["sender"]["identity"]["ssin"], alice.as_str());
    let opened = bob_terminal.run(&["open", &id]).await.succeeded("open");
    assert_eq!(opened.stdout, "bound and delivered");
    assert!(
        opened.stderr.contains("VALID: every check passed"),
        "{opened:#?}"
    );

    // The token alone is refused: as a bearer token, with the DPoP scheme but no
    // proof, and with a proof by another key. With a proof by the device key, it
    // passes.
    let token = terminal.session()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, challenge) =
        list_with(&app, &[("authorization", format!("Bearer {token}"))]).await;
    assert_eq!(status, 401);
    assert!(challenge.starts_with("DPoP "), "{challenge}");
    let (status, _) = list_with(&app, &[("authorization", format!("DPoP {token}"))]).await;
    assert_eq!(status, 401);
    // The service names itself by its issuer: the proofs' htu.
    let url = format!("{}/depot/messages", app.issuer);
    let other = depot::client::DpopKey::generate(depot::client::Alg::Es256).unwrap();
    let (status, challenge) = list_with(
        &app,
        &[
            ("authorization", format!("DPoP {token}")),
            ("dpop", other.proof("GET", &url, Some(&token)).unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 401);
    assert!(challenge.contains("invalid_dpop_proof"), "{challenge}");
    let own = terminal.library_session();
    let key = own.dpop_key().unwrap();
    let (status, _) = list_with(
        &app,
        &[
            ("authorization", format!("DPoP {token}")),
            ("dpop", key.proof("GET", &url, Some(&token)).unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 200);
}

/// With `DEPOT_DPOP_NONCE=required`, the commands give the service the nonce it asks
/// for (at the token endpoint and at the resource servers), the depot's own client
/// too when it gets the timestamp of a message, and a session is renewed under nonces.
#[tokio::test]
async fn the_commands_give_the_service_the_dpop_nonce_it_requires() {
    let app = service_with(|s| s.authz.dpop_nonce = depot::config::DpopNonce::Required).await;
    let alice = person(&app, "850101008", None).await;
    let bob = person(&app, "850101009", None).await;
    let alice_terminal = person_at_terminal(&app, &alice, Some("sig")).await;
    let bob_terminal = person_at_terminal(&app, &bob, Some("enc")).await;
    assert_eq!(alice_terminal.session()["token_type"], "DPoP");

    let letter = alice_terminal.file("letter.txt");
    std::fs::write(&letter, "with the nonce").unwrap();
    let id = send_to_person(&alice_terminal, &bob, &letter).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let opened = bob_terminal.run(&["open", &id]).await.succeeded("open");
    assert_eq!(opened.stdout, "with the nonce");

    // Past the token's expiry and the nonces' slots: refused, renewed with a new
    // nonce, repeated.
    let before = alice_terminal.session();
    app.clock.advance(700);
    let sent = alice_terminal
        .run(&["inbox", "--box", "sent"])
        .await
        .succeeded("inbox after the token expired")
        .json();
    assert_eq!(sent["messages"][0]["id"], id.as_str(), "{sent}");
    assert_ne!(
        alice_terminal.session()["access_token"],
        before["access_token"]
    );
}

/// A machine whose clock is two minutes behind the service's: proofs dated by it are
/// too old for the service, whose `Date` says by how much; the command dates its proofs
/// by the service's clock and repeats the call once.
#[tokio::test]
async fn proofs_are_dated_by_the_services_clock() {
    let app = service().await;
    let bob = person(&app, "850101010", None).await;
    let terminal = person_at_terminal(&app, &bob, None).await;
    let before = terminal.session();

    app.clock.advance(120);
    let inbox = terminal.run(&["inbox"]).await.succeeded("inbox");
    assert!(inbox.json()["messages"].is_array(), "{inbox:#?}");
    assert_eq!(
        terminal.session()["access_token"],
        before["access_token"],
        "the token is still good: no renewal"
    );
}

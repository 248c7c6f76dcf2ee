//! A real browser through the person-facing pages: headless Chromium driven by
//! chromedriver (WebDriver) from fantoccini. The person types with the keyboard, picks a
//! profile by its label, consents, and the browser lands on a loopback redirect URI that
//! this test serves; the code it carries is redeemed with PKCE. Each page is saved as a
//! PNG in `target/test-artifacts/chromium/`, with chromedriver's log.
//!
//! Needs `chromium` and `chromedriver` (Debian: `chromium chromium-driver`; or the
//! `CHROME_BIN` / `CHROMEDRIVER` variables). Without them the test says it skipped,
//! unless `CI=true`, where a missing tool is a failure.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use serde_json::json;

use crate::forms::*;
use crate::helpers::*;

mod harness;

use harness::*;

struct Person {
    ssin: String,
    nihii: String,
}

/// The flow itself, in the browser; returns the query the callback received.
async fn person_signs_in(c: Client, authorize_url: String, person: Person) -> String {
    c.goto(&authorize_url).await.unwrap();

    // Login: focus starts in the username field; the person types, tabs, types, Enter.
    let username = find(&c, "form input[name=username]").await;
    // Every step is shown at `/login/{id}` (a good POST is answered by 303 back to it).
    let step_path = c.current_url().await.unwrap().path().to_owned();
    assert!(step_path.starts_with("/login/"), "{step_path}");
    let form = find(&c, "form").await;
    assert_eq!(attr(&form, "action").await.as_deref(), Some(&*step_path));
    check_accessibility(&c, "login").await;
    assert!(
        find(&c, "form input[type=hidden][name=csrf]")
            .await
            .attr("value")
            .await
            .unwrap()
            .is_some(),
        "a CSRF field"
    );
    assert_eq!(
        focused_id(&c).await.as_deref(),
        Some("username"),
        "autofocus"
    );
    let active = c.active_element().await.unwrap();
    active.send_keys(&person.ssin).await.unwrap();
    active.send_keys(&Key::Tab).await.unwrap();
    assert_eq!(
        focused_id(&c).await.as_deref(),
        Some("password"),
        "tab order"
    );
    let password = c.active_element().await.unwrap();
    password.send_keys("not the password").await.unwrap();
    assert_eq!(
        username.prop("value").await.unwrap().as_deref(),
        Some(&*person.ssin)
    );
    screenshot(&c, "1-login").await;
    password.send_keys(&Key::Enter).await.unwrap();

    // A wrong password: the login page again, the error announced, the username kept.
    let alert = find(&c, "main [role=alert]").await;
    assert!(
        !alert.text().await.unwrap().trim().is_empty(),
        "an error text"
    );
    check_accessibility(&c, "login with an error").await;
    let username = find(&c, "form input[name=username]").await;
    assert_eq!(
        username.prop("value").await.unwrap().as_deref(),
        Some(&*person.ssin),
        "the username is kept"
    );
    let password = find(&c, "form input[name=password]").await;
    assert_eq!(password.prop("value").await.unwrap().as_deref(), Some(""));
    screenshot(&c, "1b-login-error").await;
    assert_eq!(
        focused_id(&c).await.as_deref(),
        Some("password"),
        "after a wrong password the focus is on the empty password field"
    );
    assert_eq!(
        password.attr("aria-invalid").await.unwrap().as_deref(),
        Some("true")
    );
    assert!(
        password
            .attr("aria-describedby")
            .await
            .unwrap()
            .is_some_and(|d| d.contains("form-error")),
        "the error describes the field"
    );
    password
        .send_keys(&(PASSWORD.to_owned() + &Key::Enter))
        .await
        .unwrap();

    // Profile: the first profile is preselected; the person clicks the label of another.
    let professional = format!("professional:{}", person.nihii);
    let radio = find(
        &c,
        &format!("input[name=profile][value=\"{professional}\"]"),
    )
    .await;
    assert_eq!(c.current_url().await.unwrap().path(), step_path);
    let form = find(&c, "form").await;
    assert_eq!(
        attr(&form, "action").await,
        Some(format!("{step_path}/profile"))
    );
    check_accessibility(&c, "profile").await;
    assert!(
        !c.find_all(Locator::Css("fieldset > legend"))
            .await
            .unwrap()
            .is_empty(),
        "the radio group has a legend"
    );
    assert!(!radio.is_selected().await.unwrap());
    let id = attr(&radio, "id").await.expect("the radio has an id");
    c.find(Locator::Css(&format!("label[for=\"{id}\"]")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(
        radio.is_selected().await.unwrap(),
        "clicking the label selects"
    );
    screenshot(&c, "2-profile").await;
    c.find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // Consent: the app and its scopes, and the decision buttons.
    let allow = find(&c, "form button[name=decision][value=allow]").await;
    assert_eq!(c.current_url().await.unwrap().path(), step_path);
    let form = find(&c, "form").await;
    assert_eq!(
        attr(&form, "action").await,
        Some(format!("{step_path}/consent"))
    );
    check_accessibility(&c, "consent").await;
    let text = find(&c, "main").await.text().await.unwrap();
    assert!(
        text.contains("App browser-app"),
        "the consent names the app: {text}"
    );
    assert!(
        text.contains("depot:read"),
        "the consent lists the scope: {text}"
    );
    assert!(
        c.find(Locator::Css("button[name=decision][value=deny]"))
            .await
            .is_ok(),
        "a way to refuse"
    );
    screenshot(&c, "3-consent").await;
    allow.click().await.unwrap();

    // Back at the client.
    let deadline = Instant::now() + WAIT;
    loop {
        let url = c.current_url().await.unwrap();
        if url.path() == "/callback" && find(&c, "h1").await.text().await.unwrap() == "done" {
            screenshot(&c, "4-callback").await;
            return url.query().unwrap_or_default().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "still not at the callback: {url}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_with_chromium_and_the_app_gets_tokens() {
    let started = Instant::now();
    let chrome = tool(
        "CHROME_BIN",
        &["chromium", "chromium-browser", "google-chrome"],
    );
    let chromedriver = tool("CHROMEDRIVER", &["chromedriver"]);
    let (Some(chrome), Some(chromedriver)) = (chrome, chromedriver) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium/chromedriver not installed, and CI=true: install chromium chromium-driver \
             (or set CHROME_BIN and CHROMEDRIVER)"
        );
        eprintln!(
            "skipped: chromium/chromedriver not installed (apt-get install chromium chromium-driver)"
        );
        return;
    };

    let app = spawn_app().await;
    let (callback_port, mut callbacks) = callback_server().await;
    let redirect_uri = format!("http://127.0.0.1:{callback_port}/callback");
    let nihii = nihii(234567, "004");
    let ssin = ssin("790214013");
    app.register_person(json!({
        "ssin": ssin, "name": "Dr. Els Claes", "password": PASSWORD,
        "profiles": [{"profile": "citizen"},
                     {"profile": "professional", "quality": "doctor", "nihii": nihii}],
    }))
    .await;
    let client_app = app
        .register_app(
            "browser-app",
            false,
            &["depot:read"],
            json!({"redirect_uris": [redirect_uri]}),
        )
        .await;
    let pkce = Pkce::new();
    let state = format!("state-{}", uuid::Uuid::new_v4().simple());
    let authorize_url = url::Url::parse_with_params(
        &app.url("/oauth2/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", &client_app.id),
            ("redirect_uri", &redirect_uri),
            ("scope", "openid depot:read"),
            ("state", &state),
            ("nonce", "nonce-chromium"),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();

    let _ = std::fs::remove_file(artifacts().join("failure.png"));
    let driver = Driver::start(&chromedriver, &artifacts().join("chromedriver.log"));
    let c = connect(&driver, &chrome).await;
    let person = Person {
        ssin: ssin.clone(),
        nihii: nihii.clone(),
    };
    // In its own task, so that a failed assertion still leaves a screenshot and ends the
    // browser session before the panic goes on.
    let flow = tokio::spawn(person_signs_in(c.clone(), authorize_url.into(), person)).await;
    let query = match flow {
        Ok(query) => query,
        Err(e) => {
            if let Ok(png) = c.screenshot().await {
                let _ = std::fs::write(artifacts().join("failure.png"), png);
            }
            let _ = c.close().await;
            std::panic::resume_unwind(e.into_panic());
        }
    };
    c.close().await.unwrap();
    drop(driver);

    let heard = tokio::time::timeout(WAIT, callbacks.recv())
        .await
        .expect("the callback server heard the browser")
        .unwrap();
    assert_eq!(
        heard, query,
        "the browser's URL is the request the client got"
    );
    let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(params["state"], state);
    assert_eq!(params["iss"], app.issuer);
    assert!(!params.contains_key("error"), "{params:?}");

    let response = app
        .redeem(&client_app, &params["code"], &pkce.verifier)
        .await;
    let status = response.status();
    let tokens: serde_json::Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{tokens}");
    let access = jwt_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["sub"], ssin);
    assert_eq!(access["identity"]["profile"], "professional");
    assert_eq!(access["identity"]["nihii"], nihii);
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["nonce"],
        "nonce-chromium"
    );
    eprintln!(
        "chromium: login, profile, consent and callback in {:.1?}; artifacts in {}",
        started.elapsed(),
        artifacts().display()
    );
}

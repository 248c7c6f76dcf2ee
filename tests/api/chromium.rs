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
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::forms::*;
use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(15);

/// `name` as an executable file: the path itself when absolute, else looked up in `PATH`.
fn executable(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let path = Path::new(name);
    if path.is_absolute() {
        return runnable(path).then(|| path.to_owned());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| runnable(p))
}

/// The first of `env`'s value (when set) or `names` that is an executable.
fn tool(env: &str, names: &[&str]) -> Option<PathBuf> {
    match std::env::var(env) {
        Ok(explicit) if !explicit.is_empty() => executable(&explicit),
        _ => names.iter().find_map(|n| executable(n)),
    }
}

/// chromedriver, in its own process group so that the browsers it starts go with it.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start(binary: &Path, log: &Path) -> Self {
        use std::os::unix::process::CommandExt;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        Self { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Driver {
    /// Ends chromedriver's process group, with any browser a panic left behind.
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// A WebDriver session with headless Chromium, once chromedriver answers.
async fn connect(driver: &Driver, chrome: &Path) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chrome,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1000,900", "--lang=en-US"],
            "prefs": {"intl.accept_languages": "en-US,en"},
        }),
    );
    let deadline = Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(("127.0.0.1", driver.port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "chromedriver does not listen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ClientBuilder::native()
        .capabilities(capabilities)
        .connect(&driver.url())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "no WebDriver session (see target/test-artifacts/chromium/chromedriver.log): {e}"
            )
        })
}

/// The client's side of a loopback redirect (RFC 8252 §7.3): answers `GET /callback` with
/// a small page and reports each callback's query; anything else is a 404.
async fn callback_server() -> (u16, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&request);
                let target = head.split_whitespace().nth(1).unwrap_or_default();
                let (status, body) = match target.split_once('?') {
                    Some(("/callback", query)) => {
                        let _ = tx.send(query.to_owned());
                        (
                            "200 OK",
                            "<!doctype html><html lang=\"en\"><title>done</title><h1>done</h1></html>",
                        )
                    }
                    _ => ("404 Not Found", "not found"),
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (port, rx)
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts/chromium");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let path = artifacts().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

async fn find(c: &Client, css: &str) -> fantoccini::elements::Element {
    match c.wait().at_most(WAIT).for_element(Locator::Css(css)).await {
        Ok(element) => element,
        Err(e) => panic!("no {css} on {:?}: {e}", c.current_url().await),
    }
}

async fn attr(element: &fantoccini::elements::Element, name: &str) -> Option<String> {
    element.attr(name).await.unwrap()
}

/// Basic accessibility facts of the page: a language, a title, one `h1`, and every
/// visible form control named by a visible `<label for=…>`.
async fn check_accessibility(c: &Client, page: &str) {
    let html = find(c, "html").await;
    let lang = attr(&html, "lang").await.unwrap_or_default();
    assert!(!lang.is_empty(), "{page}: <html lang> is set");
    assert!(
        !c.title().await.unwrap().trim().is_empty(),
        "{page}: a title"
    );
    assert_eq!(
        c.find_all(Locator::Css("h1")).await.unwrap().len(),
        1,
        "{page}: one h1"
    );
    for input in c
        .find_all(Locator::Css("input:not([type=hidden])"))
        .await
        .unwrap()
    {
        if !input.is_displayed().await.unwrap() {
            continue;
        }
        let name = attr(&input, "name").await.unwrap_or_default();
        let id = attr(&input, "id")
            .await
            .unwrap_or_else(|| panic!("{page}: input {name} has an id"));
        let labels = c
            .find_all(Locator::Css(&format!("label[for=\"{id}\"]")))
            .await
            .unwrap();
        assert_eq!(
            labels.len(),
            1,
            "{page}: input {name} has one <label for={id}>"
        );
        assert!(
            labels[0].is_displayed().await.unwrap(),
            "{page}: label {id}"
        );
        let text = labels[0].text().await.unwrap();
        assert!(!text.trim().is_empty(), "{page}: label {id} has text");
    }
}

/// The `id` of the element that has the keyboard focus.
async fn focused_id(c: &Client) -> Option<String> {
    attr(&c.active_element().await.unwrap(), "id").await
}

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

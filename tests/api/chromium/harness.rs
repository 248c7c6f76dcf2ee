//! The machinery of the Chromium test: finding chromium and chromedriver, running
//! chromedriver, a WebDriver session, the loopback callback the browser lands on, and
//! the page helpers (screenshots, lookups, accessibility checks).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub(super) const WAIT: Duration = Duration::from_secs(15);

/// `name` as an executable file: the path itself when absolute, else looked up in `PATH`.
pub(super) fn executable(name: &str) -> Option<PathBuf> {
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
pub(super) fn tool(env: &str, names: &[&str]) -> Option<PathBuf> {
    match std::env::var(env) {
        Ok(explicit) if !explicit.is_empty() => executable(&explicit),
        _ => names.iter().find_map(|n| executable(n)),
    }
}

/// chromedriver, in its own process group so that the browsers it starts go with it.
pub(super) struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    pub(super) fn start(binary: &Path, log: &Path) -> Self {
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

    pub(super) fn url(&self) -> String {
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
pub(super) async fn connect(driver: &Driver, chrome: &Path) -> Client {
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
pub(super) async fn callback_server() -> (u16, mpsc::UnboundedReceiver<String>) {
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

pub(super) fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts/chromium");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(super) async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let path = artifacts().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

pub(super) async fn find(c: &Client, css: &str) -> fantoccini::elements::Element {
    match c.wait().at_most(WAIT).for_element(Locator::Css(css)).await {
        Ok(element) => element,
        Err(e) => panic!("no {css} on {:?}: {e}", c.current_url().await),
    }
}

pub(super) async fn attr(element: &fantoccini::elements::Element, name: &str) -> Option<String> {
    element.attr(name).await.unwrap()
}

/// Basic accessibility facts of the page: a language, a title, one `h1`, and every
/// visible form control named by a visible `<label for=…>`.
pub(super) async fn check_accessibility(c: &Client, page: &str) {
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
pub(super) async fn focused_id(c: &Client) -> Option<String> {
    attr(&c.active_element().await.unwrap(), "id").await
}

//! The redirect URI of a native app: a listener on the loopback interface, on a port
//! the system picks (RFC 8252 §7.3; the server accepts any port for a registered
//! `http://127.0.0.1/…` URI). It serves one small HTTP server with one route until
//! the answer of the authorization server arrives at `/callback`, checks it (RFC 6749
//! §4.1.2, RFC 9207 §2.4), tells the person in the browser, and stops.

use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY};
use actix_web::http::{KeepAlive, StatusCode};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use maud::{DOCTYPE, html};
use tokio::sync::mpsc;

use super::LoginError;

const PATH: &str = "/callback";

/// A bound loopback listener, waiting to become the redirect URI of one login.
pub struct LoopbackRedirect {
    listener: TcpListener,
    port: u16,
    issuer: Option<String>,
}

impl LoopbackRedirect {
    /// Binds `127.0.0.1:0`: an IP literal rather than `localhost`, so no resolver or
    /// firewall sends the answer elsewhere (RFC 8252 §8.3).
    pub fn bind() -> Result<Self, LoginError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(LoginError::Loopback)?;
        let port = listener.local_addr().map_err(LoginError::Loopback)?.port();
        Ok(Self {
            listener,
            port,
            issuer: None,
        })
    }

    /// Also requires the answer's `iss` to be `issuer` (RFC 9207; this server always
    /// sends it), which defeats mix-ups between authorization servers.
    pub fn expecting_issuer(mut self, issuer: &str) -> Self {
        self.issuer = Some(issuer.to_owned());
        self
    }

    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{PATH}", self.port)
    }

    /// Serves until a request for `/callback` arrives or `timeout` passes, and returns
    /// the authorization code it carries. The first callback ends the wait, whatever
    /// it says: one with another `state` is refused, not skipped. Other paths (a
    /// browser's `/favicon.ico`) are 404 and change nothing.
    pub async fn wait(self, expected_state: &str, timeout: Duration) -> Result<String, LoginError> {
        let (sender, mut received) = mpsc::unbounded_channel();
        let callback = web::Data::new(Callback {
            expected: Expected {
                state: expected_state.to_owned(),
                issuer: self.issuer,
            },
            sender,
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(callback.clone())
                .route(PATH, web::get().to(answer))
        })
        .workers(1)
        .disable_signals()
        // Each connection closes after its answer, so stopping waits for no idle one.
        .keep_alive(KeepAlive::Disabled)
        .shutdown_timeout(1)
        .listen(self.listener)
        .map_err(LoginError::Loopback)?
        .run();
        let stop = StopOnDrop(server.handle());
        let serving = tokio::spawn(server);
        let outcome = tokio::time::timeout(timeout, received.recv()).await;
        // Graceful: the browser still gets its page.
        stop.0.stop(true).await;
        if let Ok(Err(e)) = serving.await {
            tracing::debug!(error = %e, "the loopback listener ended with an error");
        }
        match outcome {
            Ok(Some(result)) => result,
            Ok(None) => Err(LoginError::Loopback(std::io::Error::other(
                "the listener stopped before an answer arrived",
            ))),
            Err(_) => Err(LoginError::Timeout(timeout)),
        }
    }
}

/// Stops the listener when the wait is abandoned (a login that failed in the browser
/// drops the wait before any answer).
struct StopOnDrop(ServerHandle);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        // The command is sent now; the future only reports its completion.
        drop(self.0.stop(false));
    }
}

struct Expected {
    state: String,
    issuer: Option<String>,
}

struct Callback {
    expected: Expected,
    sender: mpsc::UnboundedSender<Result<String, LoginError>>,
}

async fn answer(req: HttpRequest, callback: web::Data<Callback>) -> HttpResponse {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let outcome = check(&params, &callback.expected);
    let response = page(&outcome);
    // A second callback while the server stops finds nobody listening: nothing to do.
    let _ = callback.sender.send(outcome);
    response
}

/// The parameters of an answer that are read; each may appear once (RFC 6749 §3.1).
const READ: [&str; 5] = ["state", "iss", "code", "error", "error_description"];

/// What the authorization server's answer says (RFC 6749 §4.1.2, §4.1.2.1): first
/// whether it is this login's (`state`, §10.12) and from the expected server (`iss`,
/// RFC 9207 §2.4) — an error answer as much as a code, so that no other server's error
/// is shown as this one's — then the code or the error. A parameter given twice is
/// refused before anything else: which of its values counts would be a guess.
fn check(params: &[(String, String)], expected: &Expected) -> Result<String, LoginError> {
    if let Some(name) = READ
        .iter()
        .find(|name| params.iter().filter(|(k, _)| k == *name).count() > 1)
    {
        return Err(LoginError::RepeatedParameter((*name).to_owned()));
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if get("state") != Some(expected.state.as_str()) {
        return Err(LoginError::StateMismatch);
    }
    if let Some(issuer) = &expected.issuer
        && get("iss") != Some(issuer.as_str())
    {
        return Err(LoginError::IssuerMismatch {
            expected: issuer.clone(),
            found: get("iss").map(str::to_owned),
        });
    }
    if let Some(error) = get("error") {
        return Err(LoginError::Authorization {
            error: error.to_owned(),
            description: get("error_description").map(str::to_owned),
        });
    }
    get("code")
        .filter(|code| !code.is_empty())
        .map(str::to_owned)
        .ok_or(LoginError::MissingCode)
}

/// The page the person sees in the browser at the end.
fn page(outcome: &Result<String, LoginError>) -> HttpResponse {
    let (status, title, text) = match outcome {
        Ok(_) => (
            StatusCode::OK,
            "Logged in",
            "You can close this window and go back to the application.".to_owned(),
        ),
        Err(e) => (StatusCode::BAD_REQUEST, "Login failed", e.to_string()),
    };
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { (title) } }
            body { h1 { (title) } p { (text) } }
        }
    };
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((REFERRER_POLICY, "no-referrer"))
        .insert_header((CONTENT_SECURITY_POLICY, "default-src 'none'"))
        .body(markup.into_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn expected() -> Expected {
        Expected {
            state: "s-1".into(),
            issuer: Some("https://depot.example".into()),
        }
    }

    #[test]
    fn a_code_with_this_state_and_issuer_is_taken() {
        let answer = params(&[
            ("code", "c-1"),
            ("state", "s-1"),
            ("iss", "https://depot.example"),
        ]);
        assert_eq!(check(&answer, &expected()).unwrap(), "c-1");
    }

    #[test]
    fn another_state_or_issuer_is_refused_before_anything_else() {
        let forged = params(&[("error", "access_denied"), ("state", "s-2")]);
        assert!(matches!(
            check(&forged, &expected()),
            Err(LoginError::StateMismatch)
        ));
        let no_state = params(&[("code", "c-1"), ("iss", "https://depot.example")]);
        assert!(matches!(
            check(&no_state, &expected()),
            Err(LoginError::StateMismatch)
        ));
        let mixed_up = params(&[
            ("code", "c-1"),
            ("state", "s-1"),
            ("iss", "https://other.example"),
        ]);
        assert!(matches!(
            check(&mixed_up, &expected()),
            Err(LoginError::IssuerMismatch { found: Some(f), .. }) if f == "https://other.example"
        ));
        let without_iss = params(&[("code", "c-1"), ("state", "s-1")]);
        assert!(matches!(
            check(&without_iss, &expected()),
            Err(LoginError::IssuerMismatch { found: None, .. })
        ));
    }

    #[test]
    fn an_error_answer_is_believed_only_from_the_expected_issuer() {
        // RFC 9207 §2.4 applies to error answers too: another server's (or an
        // attacker's) `access_denied` is not reported as this server's refusal.
        for iss in [Some("https://other.example"), None] {
            let mut answer = vec![
                ("error", "access_denied"),
                ("error_description", "the person refused consent"),
                ("state", "s-1"),
            ];
            answer.extend(iss.map(|iss| ("iss", iss)));
            match check(&params(&answer), &expected()) {
                Err(LoginError::IssuerMismatch { expected, found }) => {
                    assert_eq!(expected, "https://depot.example");
                    assert_eq!(found.as_deref(), iss);
                }
                other => panic!("{iss:?}: {other:?}"),
            }
        }
        // The issuer compares as a string (RFC 9207 §2.4): no normalization.
        let trailing = params(&[
            ("code", "c-1"),
            ("state", "s-1"),
            ("iss", "https://depot.example/"),
        ]);
        assert!(matches!(
            check(&trailing, &expected()),
            Err(LoginError::IssuerMismatch { .. })
        ));
    }

    #[test]
    fn a_parameter_given_twice_is_refused() {
        for repeated in [
            vec![
                ("code", "c-1"),
                ("code", "c-2"),
                ("state", "s-1"),
                ("iss", "https://depot.example"),
            ],
            vec![
                ("code", "c-1"),
                ("state", "s-1"),
                ("iss", "https://other.example"),
                ("iss", "https://depot.example"),
            ],
            vec![
                ("code", "c-1"),
                ("state", "s-1"),
                ("state", "s-2"),
                ("iss", "https://depot.example"),
            ],
            vec![
                ("error", "access_denied"),
                ("error", "server_error"),
                ("state", "s-1"),
                ("iss", "https://depot.example"),
            ],
        ] {
            assert!(
                matches!(
                    check(&params(&repeated), &expected()),
                    Err(LoginError::RepeatedParameter(_))
                ),
                "{repeated:?}"
            );
        }
        // Parameters the client does not read may repeat.
        let extra = params(&[
            ("code", "c-1"),
            ("state", "s-1"),
            ("iss", "https://depot.example"),
            ("session_state", "a"),
            ("session_state", "b"),
        ]);
        assert_eq!(check(&extra, &expected()).unwrap(), "c-1");
    }

    #[test]
    fn an_error_keeps_the_servers_words() {
        let denied = params(&[
            ("error", "access_denied"),
            ("error_description", "the person refused consent"),
            ("state", "s-1"),
            ("iss", "https://depot.example"),
        ]);
        match check(&denied, &expected()) {
            Err(LoginError::Authorization { error, description }) => {
                assert_eq!(error, "access_denied");
                assert_eq!(description.as_deref(), Some("the person refused consent"));
            }
            other => panic!("{other:?}"),
        }
        let empty = params(&[("state", "s-1"), ("iss", "https://depot.example")]);
        assert!(matches!(
            check(&empty, &expected()),
            Err(LoginError::MissingCode)
        ));
    }

    #[test]
    fn without_an_expected_issuer_iss_is_not_required() {
        let expected = Expected {
            state: "s-1".into(),
            issuer: None,
        };
        let answer = params(&[("code", "c-1"), ("state", "s-1")]);
        assert_eq!(check(&answer, &expected).unwrap(), "c-1");
    }
}

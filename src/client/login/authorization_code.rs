//! The authorization code grant with PKCE, as a native app does it (RFC 6749 §4.1,
//! RFC 7636, RFC 8252): the app opens the authorization URL in a browser (§4.1.1),
//! the person logs in there, the server sends the browser back to the app's loopback
//! redirect URI with a code (§4.1.2), and the app exchanges the code and its PKCE
//! verifier for tokens (§4.1.3).

use std::future::Future;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::id_token;
use super::pkce::random_value;
use super::token_endpoint::{self, Tokens, endpoint};
use super::{ClientAuth, LoginError, LoopbackRedirect, Pkce};

/// The authorization request (RFC 6749 §4.1.1 with RFC 7636 §4.3 and OpenID Connect
/// Core §3.1.2.1): `{issuer}/oauth2/authorize` with every parameter form-encoded.
pub fn authorization_url(
    issuer: &str,
    client_id: &str,
    redirect_uri: &str,
    scope: &str,
    pkce: &Pkce,
    state: &str,
    nonce: &str,
) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", scope)
        .append_pair("state", state)
        .append_pair("nonce", nonce)
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    format!("{}?{query}", endpoint(issuer, "/oauth2/authorize"))
}

/// The access token request (RFC 6749 §4.1.3): the code, the same `redirect_uri` as
/// in the authorization request, and the PKCE verifier (RFC 7636 §4.5).
pub async fn exchange_code(
    http: &reqwest::Client,
    issuer: &str,
    client: &ClientAuth,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
) -> Result<Tokens, LoginError> {
    let grant = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ];
    token_endpoint::request(http, issuer, &grant, client).await
}

/// A whole login through a browser: a loopback redirect on a fresh port, a fresh PKCE
/// pair, `state` and `nonce`; `open` is given the authorization URL and runs while the
/// answer is awaited (at most `timeout`); then the code is exchanged and the id_token,
/// if any, verified (signature, issuer, audience, expiry, nonce: see [`id_token`]).
///
/// `open` is the user agent: [`open_system_browser`] for a person, or a
/// `ScriptedBrowser` (feature `client-tools`) when nobody is there. An error from
/// `open` ends the login at once (the scripted browser met a wrong password); an opener
/// that only tries (the system browser) should report its failure itself and return
/// `Ok`, so that the person can still open the URL by hand.
pub async fn login_with_browser<F, Fut>(
    http: &reqwest::Client,
    issuer: &str,
    client: &ClientAuth,
    scope: &str,
    open: F,
    timeout: Duration,
) -> Result<Tokens, LoginError>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<(), LoginError>>,
{
    // The issuer as the server names itself (no trailing slash), for `iss` checks.
    let issuer = issuer.trim_end_matches('/');
    let redirect = LoopbackRedirect::bind()?.expecting_issuer(issuer);
    let redirect_uri = redirect.redirect_uri();
    let pkce = Pkce::new()?;
    let state = random_value()?;
    let nonce = random_value()?;
    let url = authorization_url(
        issuer,
        client.client_id(),
        &redirect_uri,
        scope,
        &pkce,
        &state,
        &nonce,
    );
    let waiting = redirect.wait(&state, timeout);
    let opening = open(url);
    tokio::pin!(waiting, opening);
    let code = tokio::select! {
        code = &mut waiting => code?,
        opened = &mut opening => {
            opened?;
            waiting.await?
        }
    };
    let tokens = exchange_code(http, issuer, client, &code, &pkce.verifier, &redirect_uri).await?;
    if let Some(token) = &tokens.id_token {
        let expected = id_token::Expected {
            issuer,
            client_id: client.client_id(),
            nonce: &nonce,
            access_token: &tokens.access_token,
        };
        let jwks = id_token::fetch_jwks(http, issuer).await?;
        id_token::verify(token, jwks, &expected, chrono::Utc::now())?;
    }
    Ok(tokens)
}

/// Opens `url` in the system's browser (RFC 8252 §4.1: the user's own browser, never an
/// embedded one) and returns without waiting for it. On Windows through `rundll32
/// url.dll,FileProtocolHandler` rather than `cmd /C start`: cmd would cut the URL at
/// its first `&`.
pub fn open_system_browser(url: &str) -> Result<(), LoginError> {
    let (program, args): (&str, &[&str]) = if cfg!(target_os = "windows") {
        ("rundll32", &["url.dll,FileProtocolHandler"])
    } else if cfg!(target_os = "macos") {
        ("open", &[])
    } else {
        ("xdg-open", &[])
    };
    let mut child = Command::new(program)
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| LoginError::OpenBrowser(format!("{program}: {e}")))?;
    // Reaped in the background: the launcher may outlive this call.
    std::thread::spawn(move || child.wait());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorization_url_encodes_every_parameter() {
        let pkce = Pkce {
            verifier: "v".into(),
            challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        };
        let url = authorization_url(
            "https://depot.example/",
            "depot cli",
            "http://127.0.0.1:53123/callback",
            "openid depot:read",
            &pkce,
            "s&1",
            "n=1",
        );
        let parsed = url::Url::parse(&url).unwrap();
        assert_eq!(parsed.path(), "/oauth2/authorize");
        let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        let expected = [
            ("response_type", "code"),
            ("client_id", "depot cli"),
            ("redirect_uri", "http://127.0.0.1:53123/callback"),
            ("scope", "openid depot:read"),
            ("state", "s&1"),
            ("nonce", "n=1"),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(pairs, expected);
    }
}

//! The client checks what an authorization server gives it. The depot's own server
//! only issues good tokens, so here the test plays an authorization server of its
//! own (discovery is not needed: the client builds every endpoint from the issuer):
//! `/oauth2/authorize` sends the browser back to the client's loopback redirect,
//! `/oauth2/token` answers an id_token made by the test, `/oauth2/jwks` publishes the
//! key the client must verify it with. The client's whole login runs against it.

use std::sync::Mutex;
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use depot::client::login::{ClientAuth, LoginError, Tokens, login_with_browser};
use serde_json::{Value, json};

use crate::helpers::ClientKey;

const ACCESS_TOKEN: &str = "an-access-token";

/// What the fake server puts in (or does to) its id_token.
#[derive(Clone, Copy, Debug)]
enum IdToken {
    Good,
    SignedByAnotherKey,
    OtherAudience,
    OtherNonce,
    Expired,
    OtherIssuer,
}

struct Fake {
    issuer: String,
    key: ClientKey,
    mode: IdToken,
    /// The nonce of the authorization request, as the real server keeps it with the code.
    nonce: Mutex<Option<String>>,
    /// What the redirect back says besides code and state.
    redirect_iss: Option<String>,
    redirect_error: bool,
}

fn at_hash(token: &str) -> String {
    B64.encode(&openssl::sha::sha256(token.as_bytes())[..16])
}

async fn authorize(req: HttpRequest, fake: web::Data<Fake>) -> HttpResponse {
    let query: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(req.query_string().as_bytes())
            .into_owned()
            .collect();
    *fake.nonce.lock().unwrap() = query.get("nonce").cloned();
    let mut back = url::Url::parse(&query["redirect_uri"]).unwrap();
    {
        let mut pairs = back.query_pairs_mut();
        if fake.redirect_error {
            pairs.append_pair("error", "access_denied");
            pairs.append_pair("error_description", "the person refused consent");
        } else {
            pairs.append_pair("code", "the-code");
        }
        pairs.append_pair("state", &query["state"]);
        if let Some(iss) = &fake.redirect_iss {
            pairs.append_pair("iss", iss);
        }
    }
    HttpResponse::SeeOther()
        .insert_header(("location", back.to_string()))
        .finish()
}

async fn token(fake: web::Data<Fake>) -> HttpResponse {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": fake.issuer, "sub": "85073003328", "aud": "cli", "azp": "cli",
        "iat": now, "exp": now + 300, "auth_time": now,
        "nonce": fake.nonce.lock().unwrap().clone(), "at_hash": at_hash(ACCESS_TOKEN),
    });
    let mut key = fake.key.clone();
    match fake.mode {
        IdToken::Good => {}
        IdToken::SignedByAnotherKey => key = ClientKey::generate(&fake.key.kid),
        IdToken::OtherAudience => claims["aud"] = json!("another-client"),
        IdToken::OtherNonce => claims["nonce"] = json!("a-nonce-of-another-login"),
        IdToken::Expired => {
            claims["iat"] = json!(now - 900);
            claims["exp"] = json!(now - 600);
        }
        IdToken::OtherIssuer => claims["iss"] = json!("https://mix-up.example"),
    }
    HttpResponse::Ok().json(json!({
        "access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 300,
        "scope": "openid", "id_token": key.sign(&claims),
    }))
}

async fn jwks(fake: web::Data<Fake>) -> HttpResponse {
    let mut public: Value = fake.key.public_jwk.clone();
    public["alg"] = json!("ES256");
    public["use"] = json!("sig");
    HttpResponse::Ok().json(json!({"keys": [public]}))
}

/// A whole login of the client `cli` against a fake server behaving as told, a plain
/// HTTP client standing in for the browser (it follows the redirect to the loopback).
async fn login_against(
    mode: IdToken,
    redirect_iss: Option<&str>,
    redirect_error: bool,
) -> Result<Tokens, LoginError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let fake = web::Data::new(Fake {
        issuer: issuer.clone(),
        key: ClientKey::generate("fake-as-key"),
        mode,
        nonce: Mutex::new(None),
        redirect_iss: Some(redirect_iss.map_or_else(|| issuer.clone(), str::to_owned)),
        redirect_error,
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(fake.clone())
            .route("/oauth2/authorize", web::get().to(authorize))
            .route("/oauth2/token", web::post().to(token))
            .route("/oauth2/jwks", web::get().to(jwks))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    let http = reqwest::Client::new();
    let outcome = login_with_browser(
        &http,
        &issuer,
        &ClientAuth::public("cli"),
        "openid",
        |url| async move {
            let browser = reqwest::Client::new();
            let _ = browser.get(url).send().await;
            Ok(())
        },
        Duration::from_secs(10),
    )
    .await;
    handle.stop(false).await;
    outcome
}

#[tokio::test]
async fn the_client_verifies_the_id_token_it_is_given() {
    let tokens = login_against(IdToken::Good, None, false).await.unwrap();
    assert_eq!(
        tokens.access_token, ACCESS_TOKEN,
        "the fake server plays fair"
    );

    for (mode, says) in [
        (IdToken::SignedByAnotherKey, "signature"),
        (IdToken::OtherAudience, "audience"),
        (IdToken::OtherNonce, "nonce"),
        (IdToken::Expired, "expired"),
        (IdToken::OtherIssuer, "issuer"),
    ] {
        match login_against(mode, None, false).await {
            Err(e @ LoginError::IdToken(_)) => {
                let text = e.to_string();
                assert!(
                    text.starts_with("the id_token is refused"),
                    "{mode:?}: {text}"
                );
                assert!(text.to_lowercase().contains(says), "{mode:?}: {text}");
            }
            other => panic!("{mode:?}: expected a refused id_token, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_answer_from_another_issuer_is_refused_even_an_error() {
    // RFC 9207: the code of a mixed-up server is not redeemed ...
    match login_against(IdToken::Good, Some("https://mix-up.example"), false).await {
        Err(LoginError::IssuerMismatch { expected, found }) => {
            assert!(expected.starts_with("http://127.0.0.1:"), "{expected}");
            assert_eq!(found.as_deref(), Some("https://mix-up.example"));
        }
        other => panic!("expected an issuer mismatch, got {other:?}"),
    }
    // ... and its refusal is not taken for this server's.
    match login_against(IdToken::Good, Some("https://mix-up.example"), true).await {
        Err(LoginError::IssuerMismatch { .. }) => {}
        other => panic!("expected an issuer mismatch, got {other:?}"),
    }
    // The expected issuer's own refusal is reported with its words.
    match login_against(IdToken::Good, None, true).await {
        Err(LoginError::Authorization { error, description }) => {
            assert_eq!(error, "access_denied");
            assert_eq!(description.as_deref(), Some("the person refused consent"));
        }
        other => panic!("expected access_denied, got {other:?}"),
    }
}

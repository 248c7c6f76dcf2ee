//! Token exchange (RFC 8693, API.md "Token exchange"): a person's access token with
//! scope `exchange`, exchanged by the app it was issued to, with an actor token signed
//! by a device key registered for the pair (the public app) or by the app's own key
//! (the confidential app), for an access token in which the app acts, or a SAML
//! holder-of-key assertion.
//!
//! The device keys are made and registered through the WebAuthn ceremony by the
//! openssl authenticator of the keystore tests; the actor tokens and DPoP proofs are
//! signed with josekit by the test, as a client would.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use josekit::jws::JwsHeader;
use openssl::pkey::{Id, PKey, Private};
use serde_json::{Value, json};

use crate::forms::{App, Browser, Pkce, code_for_scope, person_tokens, token_json};
use crate::helpers::*;
use crate::keys::authenticator::{self, KeyKind, Options};
use crate::keys::{ORIGIN, finish, keystore_app_with, start};

mod access;
mod consent;
mod refusals;
mod saml;

pub const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
pub const SAML2: &str = "urn:ietf:params:oauth:token-type:saml2";
/// What the person allows the app.
pub const SCOPE: &str = "openid depot:read depot:send keys:register exchange";
const APP_SCOPES: &[&str] = &[
    "openid",
    "depot:read",
    "depot:send",
    "keys:register",
    "exchange",
];

/// A person, an app they allowed to exchange their tokens, and its token.
pub struct Setting {
    pub app: TestApp,
    pub ssin: String,
    pub client: App,
    pub token: String,
    pub browser: Browser,
}

/// A citizen and a public app (`confidential` false) or a confidential one, with the
/// person's access token for [`SCOPE`].
pub async fn setting(first9: &str, confidential: bool) -> Setting {
    let app = keystore_app_with(|_| {}).await;
    let ssin = app.citizen(first9, false).await;
    let client = app
        .register_app("gp-app", confidential, APP_SCOPES, json!({}))
        .await;
    let (token, browser) = person_token(&app, &client, &ssin, SCOPE).await;
    Setting {
        app,
        ssin,
        client,
        token,
        browser,
    }
}

/// The person's access token for `client` after a whole authorization of `scope`.
pub async fn person_token(
    app: &TestApp,
    client: &App,
    ssin: &str,
    scope: &str,
) -> (String, Browser) {
    if client.client.is_some() {
        let (tokens, browser) = person_tokens(app, client, ssin, scope).await;
        return (tokens["access_token"].as_str().unwrap().to_owned(), browser);
    }
    let pkce = Pkce::new();
    let (code, browser) = code_for_scope(app, client, ssin, scope, &pkce).await;
    let tokens = token_json(app.redeem(client, &code, &pkce.verifier).await).await;
    (tokens["access_token"].as_str().unwrap().to_owned(), browser)
}

/// A key pair held by the test: a device key registered through the ceremony.
pub struct Device {
    pub key: PKey<Private>,
    pub kid: String,
}

/// Registers a new signing key of `kind` for the token's (person, app).
pub async fn register_device(app: &TestApp, token: &str, kind: KeyKind) -> Device {
    let (status, started) = start(app, token, "sig", "device").await;
    assert_eq!(status, 201, "{started}");
    let options = Options {
        kind,
        ..Options::default()
    };
    let made = authenticator::register(&started["publicKey"], ORIGIN, &options);
    let (status, body) = finish(
        app,
        token,
        started["registrationId"].as_str().unwrap(),
        &made.credential,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["jwk"]["kid"], body["kid"]);
    Device {
        key: made.key,
        kid: body["kid"].as_str().unwrap().to_owned(),
    }
}

/// A key of `kind` that nobody registered.
pub fn unregistered_device(kind: KeyKind, kid: &str) -> Device {
    let key = authenticator::generate(kind);
    Device {
        key,
        kid: kid.to_owned(),
    }
}

impl Device {
    fn alg(&self) -> &'static str {
        match self.key.id() {
            Id::EC => "ES256",
            Id::ED25519 => "EdDSA",
            _ => "RS256",
        }
    }

    fn sign(&self, header: &JwsHeader, claims: &Value) -> String {
        let pem = self.key.private_key_to_pem_pkcs8().unwrap();
        let payload = claims.to_string();
        match self.alg() {
            "ES256" => {
                let signer = josekit::jws::ES256.signer_from_pem(&pem).unwrap();
                josekit::jws::serialize_compact(payload.as_bytes(), header, &signer)
            }
            "EdDSA" => {
                let signer = josekit::jws::EdDSA.signer_from_pem(&pem).unwrap();
                josekit::jws::serialize_compact(payload.as_bytes(), header, &signer)
            }
            _ => {
                let signer = josekit::jws::RS256.signer_from_pem(&pem).unwrap();
                josekit::jws::serialize_compact(payload.as_bytes(), header, &signer)
            }
        }
        .unwrap()
    }

    /// The RFC 7638 thumbprint of the public key.
    pub fn jkt(&self) -> String {
        let jwk = authenticator::jwk_of(&self.key);
        let members: Vec<&str> = match jwk["kty"].as_str().unwrap() {
            "EC" => vec!["crv", "kty", "x", "y"],
            "OKP" => vec!["crv", "kty", "x"],
            _ => vec!["e", "kty", "n"],
        };
        let canonical: serde_json::Map<String, Value> = members
            .into_iter()
            .map(|m| (m.to_owned(), jwk[m].clone()))
            .collect();
        B64.encode(openssl::sha::sha256(
            Value::Object(canonical).to_string().as_bytes(),
        ))
    }

    /// Valid actor-token claims of `client_id` at `app`.
    pub fn actor_claims(app: &TestApp, client_id: &str) -> Value {
        let now = app.now();
        json!({
            "iss": client_id, "sub": client_id, "aud": app.issuer,
            "iat": now, "exp": now + 60, "jti": uuid::Uuid::new_v4().to_string(),
        })
    }

    /// An actor token of `client_id` with `claims` signed by this key.
    pub fn actor_token_with(&self, claims: &Value) -> String {
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        header.set_key_id(&self.kid);
        self.sign(&header, claims)
    }

    /// A valid actor token of `client_id`.
    pub fn actor_token(&self, app: &TestApp, client_id: &str) -> String {
        self.actor_token_with(&Self::actor_claims(app, client_id))
    }

    /// A DPoP proof (RFC 9449) of `htm` `path` by this key, for `access_token` if any.
    pub fn proof(
        &self,
        app: &TestApp,
        htm: &str,
        path: &str,
        access_token: Option<&str>,
    ) -> String {
        let mut header = JwsHeader::new();
        header.set_token_type("dpop+jwt");
        header
            .set_claim("jwk", Some(authenticator::jwk_of(&self.key)))
            .unwrap();
        let mut claims = json!({
            "htm": htm, "htu": format!("{}{path}", app.issuer), "iat": app.now(),
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        if let Some(token) = access_token {
            claims["ath"] = json!(B64.encode(openssl::sha::sha256(token.as_bytes())));
        }
        self.sign(&header, &claims)
    }
}

/// The form of an exchange of `subject` with `actor` (if any) and `extra` parameters.
pub fn exchange_form<'a>(
    subject: &'a str,
    actor: Option<&'a str>,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("grant_type", GRANT),
        ("subject_token", subject),
        ("subject_token_type", ACCESS),
    ];
    if let Some(actor) = actor {
        form.push(("actor_token", actor));
        form.push(("actor_token_type", JWT));
    }
    form.extend_from_slice(extra);
    form
}

/// Posts an exchange as `client`, with a DPoP proof by `device` when given.
pub async fn exchange(
    app: &TestApp,
    client: &App,
    form: &[(&str, &str)],
    device: Option<&Device>,
) -> reqwest::Response {
    let proof = device.map(|d| d.proof(app, "POST", "/oauth2/token", None));
    app.app_token_request_with_proof(client, form, proof.as_deref())
        .await
}

/// A successful exchange's answer.
pub async fn exchanged(
    app: &TestApp,
    client: &App,
    form: &[(&str, &str)],
    device: Option<&Device>,
) -> Value {
    token_json(exchange(app, client, form, device).await).await
}

/// Whether introspection (by the admin's system client) says the token is active.
pub async fn active(app: &TestApp, token: &str) -> bool {
    let assertion = app
        .admin
        .key
        .sign(&app.admin.claims(&app.issuer, app.now()));
    let response = app
        .post_form(
            "/oauth2/introspect",
            &[
                ("token", token),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &assertion),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["active"] == true
}

//! Acting as a person in a browser: a cookie jar, the HTML forms of the login pages
//! read with a real HTML parser, PKCE, TOTP codes (RFC 6238 computed here with
//! OpenSSL's HMAC, independently of the server's implementation), and fixtures for
//! persons and the apps they use.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::StatusCode;
use scraper::{Html, Selector};
use serde_json::{Value, json};

use crate::helpers::dpop::DpopKey;
use crate::helpers::*;

/// A valid SSIN from its first nine digits (born before 2000).
pub fn ssin(first9: &str) -> String {
    let base: u64 = first9.parse().unwrap();
    format!("{first9}{:02}", 97 - base % 97)
}

/// A valid NIHII: six digits, check digits, qualification code.
pub fn nihii(six: u64, qualification: &str) -> String {
    format!("{six:06}{:02}{qualification}", 97 - six % 97)
}

/// A base32 TOTP secret of 160 bits.
pub const TOTP_SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
pub const PASSWORD: &str = "correct horse battery";

/// RFC 6238 with HMAC-SHA-1 and 6 digits, for the time step of `unix_time`.
pub fn totp(secret_base32: &str, unix_time: i64) -> String {
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::sign::Signer;
    let secret = base32_decode(secret_base32);
    let counter = ((unix_time / 30) as u64).to_be_bytes();
    let key = PKey::hmac(&secret).unwrap();
    let mut signer = Signer::new(MessageDigest::sha1(), &key).unwrap();
    signer.update(&counter).unwrap();
    let mac = signer.sign_to_vec().unwrap();
    let offset = (mac[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    format!("{:06}", bin % 1_000_000)
}

fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u64;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c).unwrap() as u64;
        bits = (bits << 5) | v;
        nbits += 5;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
        }
    }
    out
}

/// A PKCE pair (RFC 7636): a random verifier and its S256 challenge.
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Self {
        let mut bytes = [0u8; 32];
        openssl::rand::rand_bytes(&mut bytes).unwrap();
        let verifier = B64.encode(bytes);
        let challenge = B64.encode(openssl::sha::sha256(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

/// An app registered for persons.
pub struct App {
    pub id: String,
    pub redirect_uri: String,
    /// Set for a confidential client (private_key_jwt).
    pub client: Option<TestClient>,
}

impl TestApp {
    /// Registers a person through the admin API (panics unless 201).
    pub async fn register_person(&self, body: Value) {
        self.admin_create("/admin/persons", &body).await;
    }

    /// A citizen with a password (and a TOTP secret when `with_totp`).
    pub async fn citizen(&self, first9: &str, with_totp: bool) -> String {
        let ssin = ssin(first9);
        let mut body = json!({"ssin": ssin, "name": "An Peeters", "password": PASSWORD,
            "profiles": [{"profile": "citizen"}]});
        if with_totp {
            body["totp_secret"] = json!(TOTP_SECRET);
        }
        self.register_person(body).await;
        ssin
    }

    /// The public app most login tests use: `app`, asking `depot:read`.
    pub async fn reading_app(&self) -> App {
        self.register_app("app", false, &["depot:read"], json!({}))
            .await
    }

    /// A fresh browser at the login page of an authorization of `client` for
    /// [`SCOPE`], with that authorization's PKCE pair.
    pub async fn login_page(&self, client: &App) -> (Browser, Page, Pkce) {
        let pkce = Pkce::new();
        let browser = self.browser();
        let page = browser.authorize(&auth_query(client, SCOPE, &pkce)).await;
        (browser, page, pkce)
    }

    /// Registers a public or confidential app with one redirect URI.
    pub async fn register_app(
        &self,
        id: &str,
        confidential: bool,
        scopes: &[&str],
        extra: Value,
    ) -> App {
        let redirect_uri = format!("https://{id}.example/callback");
        let mut body = json!({
            "client_id": id, "type": if confidential { "confidential" } else { "public" },
            "name": format!("App {id}"), "redirect_uris": [redirect_uri], "scopes": scopes,
        });
        let key = confidential.then(|| ClientKey::generate(&format!("{id}-key")));
        if let Some(key) = &key {
            body["jwks"] = key.jwks();
        }
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        self.admin_create("/admin/clients", &body).await;
        let redirect_uri = body["redirect_uris"][0].as_str().unwrap().to_owned();
        App {
            id: id.into(),
            redirect_uri,
            client: key.map(|key| TestClient { id: id.into(), key }),
        }
    }

    /// Redeems a code at the token endpoint as `app` would.
    pub async fn redeem(&self, app: &App, code: &str, verifier: &str) -> reqwest::Response {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &app.redirect_uri),
            ("code_verifier", verifier),
        ];
        self.app_token_request(app, &form).await
    }

    pub async fn refresh(&self, app: &App, refresh_token: &str) -> reqwest::Response {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        self.app_token_request(app, &form).await
    }

    /// [`redeem`](Self::redeem) with a DPoP proof by `key` (RFC 9449 §5): the tokens are
    /// bound to it, and a public client gets a refresh token.
    pub async fn dpop_redeem(
        &self,
        app: &App,
        code: &str,
        verifier: &str,
        key: &DpopKey,
    ) -> reqwest::Response {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &app.redirect_uri),
            ("code_verifier", verifier),
        ];
        let proof = key.proof_at(self.now(), "POST", &self.token_endpoint(), None, None);
        self.app_token_request_with_proof(app, &form, Some(&proof))
            .await
    }

    /// [`refresh`](Self::refresh) with a DPoP proof by `key`.
    pub async fn dpop_refresh(
        &self,
        app: &App,
        refresh_token: &str,
        key: &DpopKey,
    ) -> reqwest::Response {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        let proof = key.proof_at(self.now(), "POST", &self.token_endpoint(), None, None);
        self.app_token_request_with_proof(app, &form, Some(&proof))
            .await
    }

    /// A token request of `app` with its client authentication added.
    pub async fn app_token_request(&self, app: &App, form: &[(&str, &str)]) -> reqwest::Response {
        self.app_token_request_with_proof(app, form, None).await
    }

    /// [`app_token_request`](Self::app_token_request) with `proof` as its `DPoP` header.
    pub async fn app_token_request_with_proof(
        &self,
        app: &App,
        form: &[(&str, &str)],
        proof: Option<&str>,
    ) -> reqwest::Response {
        let mut form: Vec<(&str, String)> =
            form.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        form.extend(self.client_auth(app));
        let mut request = self.http.post(self.url("/oauth2/token")).form(&form);
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        request.send().await.unwrap()
    }

    /// `none` for a public app, a fresh private_key_jwt assertion for a confidential one.
    pub fn client_auth(&self, app: &App) -> Vec<(&'static str, String)> {
        match &app.client {
            None => vec![("client_id", app.id.clone())],
            Some(client) => vec![
                ("client_assertion_type", JWT_BEARER.to_owned()),
                (
                    "client_assertion",
                    client
                        .key
                        .sign(&client.claims(&self.token_endpoint(), self.now())),
                ),
            ],
        }
    }

    pub fn browser(&self) -> Browser {
        Browser {
            base: self.address.clone(),
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }
}

/// A page as the browser got it.
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub retry_after: Option<String>,
    pub body: String,
}

impl Page {
    /// The value of the hidden input `name` of the form posting to `action`.
    pub fn hidden(&self, action_suffix: &str, name: &str) -> Option<String> {
        let html = Html::parse_document(&self.body);
        let forms = Selector::parse("form").unwrap();
        let input = Selector::parse(&format!("input[name=\"{name}\"]")).unwrap();
        html.select(&forms)
            .find(|f| {
                f.value()
                    .attr("action")
                    .is_some_and(|a| a.ends_with(action_suffix))
            })
            .and_then(|f| f.select(&input).next())
            .and_then(|i| i.value().attr("value").map(str::to_owned))
    }

    /// The `action` of the first form that has a field called `field`.
    pub fn form_with(&self, field: &str) -> Option<String> {
        let html = Html::parse_document(&self.body);
        let forms = Selector::parse("form").unwrap();
        let named = Selector::parse(&format!("[name=\"{field}\"]")).unwrap();
        html.select(&forms)
            .find(|f| f.select(&named).next().is_some())
            .and_then(|f| f.value().attr("action").map(str::to_owned))
    }

    /// The values of the radio group `profile`.
    pub fn profile_values(&self) -> Vec<String> {
        let html = Html::parse_document(&self.body);
        let radios = Selector::parse("input[type=radio][name=profile]").unwrap();
        html.select(&radios)
            .filter_map(|r| r.value().attr("value").map(str::to_owned))
            .collect()
    }

    /// The query parameters of a redirect back to the client.
    pub fn redirect_params(&self) -> std::collections::HashMap<String, String> {
        let location = self.location.as_deref().expect("a redirect");
        url::Url::parse(location)
            .unwrap()
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
}

/// A browser: cookies kept, redirects not followed (each step is looked at).
pub struct Browser {
    pub base: String,
    pub http: reqwest::Client,
}

impl Browser {
    fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.base)
        } else {
            url.to_owned()
        }
    }

    async fn page(response: reqwest::Response) -> Page {
        Page {
            status: response.status(),
            location: response
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned()),
            retry_after: response
                .headers()
                .get("retry-after")
                .map(|l| l.to_str().unwrap().to_owned()),
            body: response.text().await.unwrap(),
        }
    }

    pub async fn get(&self, url: &str) -> Page {
        Self::page(self.http.get(self.absolute(url)).send().await.unwrap()).await
    }

    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> Page {
        Self::page(
            self.http
                .post(self.absolute(url))
                .form(form)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Follows redirects that stay on the server; stops at a page or at a redirect
    /// that leaves it (back to the client).
    pub async fn follow(&self, mut page: Page) -> Page {
        while let Some(location) = page.location.clone() {
            if !location.starts_with('/') {
                break;
            }
            page = self.get(&location).await;
        }
        page
    }

    /// Starts an authorization and follows it to the first page (or back to the client).
    pub async fn authorize(&self, query: &[(&str, &str)]) -> Page {
        let url =
            reqwest::Url::parse_with_params(&self.absolute("/oauth2/authorize"), query).unwrap();
        let page = Self::page(self.http.get(url).send().await.unwrap()).await;
        self.follow(page).await
    }

    /// Submits the form of `page` that has the field `marker`, with its CSRF token and
    /// `fields`, and follows to the next page.
    pub async fn submit(&self, page: &Page, marker: &str, fields: &[(&str, &str)]) -> Page {
        let action = page.form_with(marker).expect("the form");
        let csrf = page.hidden(&action, "csrf").expect("a csrf field");
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        let next = self.post(&action, &form).await;
        self.follow(next).await
    }

    /// Fills the login form of `page` and follows to the next page.
    pub async fn login(&self, page: &Page, username: &str, password: &str, totp: &str) -> Page {
        let fields = [
            ("username", username),
            ("password", password),
            ("totp", totp),
        ];
        self.submit(page, "username", &fields).await
    }

    pub async fn choose_profile(&self, page: &Page, value: &str) -> Page {
        self.submit(page, "profile", &[("profile", value)]).await
    }

    pub async fn decide(&self, page: &Page, decision: &str) -> Page {
        self.submit(page, "decision", &[("decision", decision)])
            .await
    }
}

/// The query of an authorization request of `app` with PKCE, state and nonce.
pub fn auth_query<'a>(app: &'a App, scope: &'a str, pkce: &'a Pkce) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", &app.id),
        ("redirect_uri", &app.redirect_uri),
        ("scope", scope),
        ("state", "state-123"),
        ("nonce", "nonce-456"),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ]
}

/// The scope most tests ask for.
pub const SCOPE: &str = "openid depot:read";

/// Runs a whole authorization for a person with one profile who consents; returns the
/// code and the browser (with its session).
pub async fn code_for(app: &TestApp, client: &App, ssin: &str, pkce: &Pkce) -> (String, Browser) {
    code_for_scope(app, client, ssin, SCOPE, pkce).await
}

/// [`code_for`] with the scope asked.
pub async fn code_for_scope(
    app: &TestApp,
    client: &App,
    ssin: &str,
    scope: &str,
    pkce: &Pkce,
) -> (String, Browser) {
    let browser = app.browser();
    let login = browser.authorize(&auth_query(client, scope, pkce)).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let mut back = browser.login(&login, ssin, PASSWORD, "").await;
    if back.form_with("decision").is_some() {
        back = browser.decide(&back, "allow").await;
    }
    let params = back.redirect_params();
    (params["code"].clone(), browser)
}

/// The tokens a confidential `client` redeems for a person's whole authorization of
/// `scope`, and the browser (with its session).
pub async fn person_tokens(
    app: &TestApp,
    client: &App,
    ssin: &str,
    scope: &str,
) -> (Value, Browser) {
    let pkce = Pkce::new();
    let (code, browser) = code_for_scope(app, client, ssin, scope, &pkce).await;
    let tokens = token_json(app.redeem(client, &code, &pkce.verifier).await).await;
    (tokens, browser)
}

pub async fn token_json(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

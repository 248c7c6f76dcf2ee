//! A scripted user agent for the person-facing login pages, for the demo and tests
//! where nobody is there to log in. The pages are plain HTML forms meant to be driven
//! this way (API.md, person-facing pages): a login form with `username`, `password`
//! and `totp`, a radio group `profile`, a consent button `decision`, each with a hidden
//! CSRF field. Like a browser, it keeps the server's cookies, follows its redirects
//! and, at the end, makes the request to the redirect URI that leaves the server (the
//! app's loopback listener). It never sends a form to another server.

use std::time::Duration;

use reqwest::header::{ACCEPT_LANGUAGE, HeaderMap, HeaderValue, LOCATION};
use url::Url;

use super::LoginError;

mod page;

use page::{Form, Page};

/// A login takes a handful of pages; more means a loop.
const MAX_PAGES: usize = 20;

/// What the scripted person answers on the consent page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consent {
    Allow,
    Deny,
}

/// Who logs in, and as which profile (`citizen`, `professional:<nihii>`, …; the
/// preselected one when `None`).
#[derive(Clone, Copy, Debug)]
pub struct Credentials<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub profile: Option<&'a str>,
}

/// A browser with a cookie jar that fills the login pages as told.
#[derive(Clone)]
pub struct ScriptedBrowser {
    http: reqwest::Client,
    consent: Consent,
}

impl ScriptedBrowser {
    /// A browser that allows what the app asks on the consent page.
    pub fn new() -> Result<Self, LoginError> {
        Self::from_builder(reqwest::Client::builder())
    }

    /// The same, on an HTTP client configured by the caller (e.g. with the root
    /// certificate of a test server); cookies and manual redirects are added.
    pub fn from_builder(builder: reqwest::ClientBuilder) -> Result<Self, LoginError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_LANGUAGE, HeaderValue::from_static("en"));
        let http = builder
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| LoginError::HttpClient(e.to_string()))?;
        Ok(Self {
            http,
            consent: Consent::Allow,
        })
    }

    /// What to answer on the consent page (by default `allow`).
    pub fn with_consent(mut self, consent: Consent) -> Self {
        self.consent = consent;
        self
    }

    /// Logs a person in for the public app `client_id`, this browser standing in for
    /// them: [`login_with_browser`](super::login_with_browser) (authorization
    /// code + PKCE, loopback redirect) with [`Self::login`] at the pages, within 30 s.
    pub async fn log_in(
        self,
        http: &reqwest::Client,
        issuer: &str,
        client_id: &str,
        scope: &str,
        person: Credentials<'_>,
    ) -> Result<super::Tokens, LoginError> {
        let client = super::ClientAuth::public(client_id);
        self.log_in_as(http, issuer, &client, scope, person).await
    }

    /// The same for the app `client` (e.g. a public app whose tokens are bound to a
    /// device key, [`ClientAuth::with_dpop`](super::ClientAuth::with_dpop)).
    pub async fn log_in_as(
        self,
        http: &reqwest::Client,
        issuer: &str,
        client: &super::ClientAuth,
        scope: &str,
        person: Credentials<'_>,
    ) -> Result<super::Tokens, LoginError> {
        let username = person.username.to_owned();
        let password = person.password.to_owned();
        let profile = person.profile.map(str::to_owned);
        super::login_with_browser(
            http,
            issuer,
            client,
            scope,
            move |url| async move {
                self.login(&url, &username, &password, None, profile.as_deref())
                    .await
            },
            Duration::from_secs(30),
        )
        .await
    }

    /// Opens `authorization_url` and goes through the pages the server shows: the
    /// login form (with `totp` when given), the profile choice (`profile`, e.g.
    /// `citizen` or `professional:<nihii>`; the preselected one when `None`), the
    /// consent; then delivers the server's answer to the redirect URI. A page with a
    /// message for the person (a wrong password) ends it with that message.
    pub async fn login(
        &self,
        authorization_url: &str,
        username: &str,
        password: &str,
        totp: Option<&str>,
        profile: Option<&str>,
    ) -> Result<(), LoginError> {
        let start = Url::parse(authorization_url).map_err(|e| LoginError::Scripted {
            url: authorization_url.to_owned(),
            reason: format!("not a URL: {e}"),
        })?;
        let server = start.origin();
        let mut page = self.get(start).await?;
        let mut filled: Vec<Step> = Vec::new();
        for _ in 0..MAX_PAGES {
            if let Some(target) = page.redirect()? {
                if target.origin() == server {
                    page = self.get(target).await?;
                    continue;
                }
                // Back to the app (RFC 6749 §4.1.2): its listener reads the answer.
                self.http
                    .get(target.clone())
                    .send()
                    .await
                    .map_err(|e| LoginError::unreachable(target.as_str(), &e))?;
                return Ok(());
            }
            if let Some(message) = &page.alert {
                return Err(LoginError::Page {
                    status: page.status.as_u16(),
                    message: message.clone(),
                });
            }
            let (step, form) = page.next_step()?;
            if filled.contains(&step) {
                let said = page.notice.as_deref().unwrap_or(&page.heading);
                return Err(page.stuck(format!("the {} form came back: {said}", step.name())));
            }
            let fields = match step {
                Step::Login => {
                    let mut fields = vec![
                        ("username", username.to_owned()),
                        ("password", password.to_owned()),
                    ];
                    if let Some(totp) = totp {
                        fields.push(("totp", totp.to_owned()));
                    }
                    fields
                }
                Step::Profile => vec![("profile", page.choose_profile(form, profile)?)],
                Step::Consent => vec![("decision", self.consent.value().to_owned())],
            };
            let action = page.action(form, &server)?;
            page = self.submit(action, form, &fields).await?;
            filled.push(step);
        }
        Err(page.stuck(format!("still no answer after {MAX_PAGES} pages")))
    }

    async fn get(&self, url: Url) -> Result<Page, LoginError> {
        self.fetch(self.http.get(url.clone()), url).await
    }

    /// Sends `form` as a browser would: its hidden fields (the CSRF token) and `fields`.
    async fn submit(
        &self,
        mut action: Url,
        form: &Form,
        fields: &[(&str, String)],
    ) -> Result<Page, LoginError> {
        let values = form
            .hidden
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(fields.iter().map(|(k, v)| (*k, v.as_str())));
        if form.method == "get" {
            action.query_pairs_mut().clear().extend_pairs(values);
            return self.get(action).await;
        }
        let body: Vec<(&str, &str)> = values.collect();
        self.fetch(self.http.post(action.clone()).form(&body), action)
            .await
    }

    async fn fetch(&self, request: reqwest::RequestBuilder, url: Url) -> Result<Page, LoginError> {
        let response = request
            .send()
            .await
            .map_err(|e| LoginError::unreachable(url.as_str(), &e))?;
        let status = response.status();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        let body = response
            .text()
            .await
            .map_err(|e| LoginError::unreachable(url.as_str(), &e))?;
        Page::read(url, status, location, &body)
    }
}

impl Consent {
    fn value(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

/// The forms of the login pages, each known by a field only it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Login,
    Profile,
    Consent,
}

impl Step {
    const ALL: [Step; 3] = [Step::Login, Step::Profile, Step::Consent];

    fn field(self) -> &'static str {
        match self {
            Self::Login => "username",
            Self::Profile => "profile",
            Self::Consent => "decision",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Profile => "profile",
            Self::Consent => "consent",
        }
    }
}

//! Upstream federation against a real OpenID Provider: panva's `oidc-provider` (a
//! certified implementation, pinned in `package-lock.json` here), run by
//! `provider.mjs` on Node.js with a client for the depot and the accounts each test
//! gives. The person's browser (cookies kept, each redirect looked at) goes from the
//! depot's login page to the provider, signs in there, and comes back to the depot's
//! callback; the depot's tokens then carry the mapped identity and `acr`.
//!
//! `.ci/run` installs the package into `~/.cache/depot-ci/oidc-provider`
//! (`OIDC_PROVIDER_MODULES` points to another `node_modules`); without Node.js or the
//! package the tests print `skipped`, and fail with `CI=true`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use depot::authz::federation::config::{AcrTable, ClientAuth};
use sea_orm::{EntityTrait, PaginatorTrait};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::forms::*;
use crate::helpers::*;

mod flows;
mod refusals;

pub const SECRET: &str = "a-client-secret-of-the-depot-at-the-upstream";
pub const LOA_LOW: &str = "urn:test:loa:1";
pub const LOA_SUBSTANTIAL: &str = "urn:test:loa:2";

/// The `node_modules` holding `oidc-provider`, or `None` (a `skipped` line; a failure
/// with `CI=true`) when it or Node.js is missing.
fn provider_modules() -> Option<PathBuf> {
    let modules = std::env::var_os("OIDC_PROVIDER_MODULES")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|home| PathBuf::from(home).join(".cache/depot-ci/oidc-provider/node_modules"))
        })?;
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let package = modules.join("oidc-provider/package.json").is_file();
    if node && package {
        return Some(modules);
    }
    let missing = if node {
        format!("oidc-provider not in {}", modules.display())
    } else {
        "node not installed".to_owned()
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{missing}, and CI=true (.ci/run installs it)"
    );
    println!("skipped: {missing}");
    None
}

/// The running upstream provider; stopped when dropped.
pub struct Provider {
    pub issuer: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    /// Starts `provider.mjs` (listening, not yet configured); `None` when skipped.
    pub fn start() -> Option<Self> {
        let modules = provider_modules()?;
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/federation/provider.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .env("OIDC_PROVIDER_MODULES", modules)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let first = Self::line(&mut stdout);
        Some(Self {
            issuer: first["issuer"].as_str().unwrap().to_owned(),
            child,
            stdin,
            stdout,
        })
    }

    fn line(stdout: &mut BufReader<std::process::ChildStdout>) -> Value {
        loop {
            let mut line = String::new();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "the provider ended"
            );
            if let Ok(value) = serde_json::from_str::<Value>(&line) {
                return value;
            }
        }
    }

    /// Registers the depot `app` as its client, with `accounts`, and starts serving.
    pub fn configure(&mut self, app: &TestApp, extra: Value, accounts: Value) {
        let mut setup = json!({
            "client_id": "depot",
            "client_secret": SECRET,
            "redirect_uri": format!("{}/login/federation/callback", app.issuer),
            "accounts": accounts,
        });
        setup
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let mut stdin = self.stdin.take().unwrap();
        writeln!(stdin, "{setup}").unwrap();
        stdin.flush().unwrap();
        let ready = Self::line(&mut self.stdout);
        assert_eq!(ready["ready"], true);
    }
}

/// The depot's federation settings for `provider` (claims: `national_number`, `roles`).
pub fn federate(settings: &mut depot::config::Settings, provider: &Provider) {
    let f = &mut settings.federation;
    f.federation_issuer = Some(provider.issuer.clone());
    f.federation_client_id = Some("depot".into());
    f.federation_client_secret = Some(SecretString::from(SECRET));
    f.federation_client_auth = ClientAuth::ClientSecretBasic;
    f.federation_scopes = "openid ehealth".into();
    f.federation_name = Some("Test IdP".into());
    f.federation_ssin_claim = Some("national_number".into());
    f.federation_acr_map = Some(AcrTable::Text(format!(
        "{LOA_LOW}=low {LOA_SUBSTANTIAL}=substantial"
    )));
}

/// A depot federated with a fresh provider holding `accounts`; `None` when skipped.
pub async fn federated_app(
    tweak: impl FnOnce(&mut depot::config::Settings),
    provider_extra: Value,
    accounts: Value,
) -> Option<(TestApp, Provider)> {
    let mut provider = Provider::start()?;
    let app = spawn_app_with(|s| {
        federate(s, &provider);
        tweak(s);
    })
    .await;
    provider.configure(&app, provider_extra, accounts);
    Some((app, provider))
}

/// An upstream account: its `acr` and its claims.
pub fn account(acr: &str, claims: Value) -> Value {
    json!({"acr": acr, "amr": ["pwd"], "claims": claims})
}

/// The depot's "Sign in with" form on `page`: posted, it answers the redirect to the
/// upstream authorization endpoint (its URL).
pub async fn sign_in_upstream(browser: &Browser, page: &Page) -> String {
    assert!(page.body.contains("Sign in with Test IdP"), "{}", page.body);
    let action = page
        .form_with("csrf")
        .filter(|a| a.ends_with("/federation"))
        .or_else(|| {
            let html = scraper::Html::parse_document(&page.body);
            let forms = scraper::Selector::parse("form").unwrap();
            html.select(&forms)
                .filter_map(|f| f.value().attr("action"))
                .find(|a| a.ends_with("/federation"))
                .map(str::to_owned)
        })
        .expect("the upstream login form");
    let csrf = page.hidden(&action, "csrf").expect("its CSRF field");
    let sent = browser.post(&action, &[("csrf", &csrf)]).await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    sent.location.unwrap()
}

/// At the provider: the authorization request `url`, then its login form signed as
/// `login` (or cancelled with `None`); answers the callback URL the provider sends the
/// browser to, on the depot's address.
pub async fn at_upstream(
    browser: &Browser,
    provider: &Provider,
    app: &TestApp,
    url: &str,
    login: Option<&str>,
) -> String {
    let absolute = |location: &str| {
        if location.starts_with('/') {
            format!("{}{location}", provider.issuer)
        } else {
            location.to_owned()
        }
    };
    let mut page = browser.get(url).await;
    let mut signed = false;
    loop {
        assert_eq!(page.status, 303, "at the provider: {}", page.body);
        let location = absolute(page.location.as_deref().unwrap());
        if location.starts_with(&app.issuer) {
            return location.replacen(&app.issuer, &app.address, 1);
        }
        if location.contains("/interaction/") && !signed {
            let form = browser.get(&location).await;
            assert_eq!(form.status, 200, "{}", form.body);
            let fields: Vec<(&str, &str)> = match login {
                Some(login) => vec![("login", login)],
                None => vec![("deny", "1")],
            };
            page = browser.post(&location, &fields).await;
            signed = true;
        } else {
            page = browser.get(&location).await;
        }
    }
}

/// Rows the depot holds about logins: sessions, federated sessions, pending upstream logins.
pub async fn login_rows(app: &TestApp) -> (u64, u64, u64) {
    let db = &app.state.db;
    (
        entity::login_session::Entity::find()
            .count(db)
            .await
            .unwrap(),
        entity::federated_session::Entity::find()
            .count(db)
            .await
            .unwrap(),
        entity::federation_pending::Entity::find()
            .count(db)
            .await
            .unwrap(),
    )
}

/// The page an error ends on carries its code.
pub fn assert_refused(page: &Page, status: u16, code: &str) {
    assert_eq!(page.status.as_u16(), status, "{code}: {}", page.body);
    assert!(page.body.contains(code), "{code}: {}", page.body);
}

/// A person with a citizen and a professional profile; answers (ssin, nihii).
pub async fn doctor(app: &TestApp, first9: &str) -> (String, String) {
    let person = ssin(first9);
    let nihii = nihii(123456, "004");
    app.register_person(json!({
        "ssin": person, "name": "Dr. An Peeters",
        "profiles": [{"profile": "citizen"},
                     {"profile": "professional", "quality": "doctor", "nihii": nihii}],
    }))
    .await;
    (person, nihii)
}

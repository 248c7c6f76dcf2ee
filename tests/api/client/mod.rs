//! The client side against the real service: people log in through the library
//! (authorization code + PKCE, loopback redirect, the scripted user agent at the login
//! pages), register device keys through the ceremony, seal, send, fetch and open.

mod algorithms;
mod commands;
mod demo;
mod exchange;
mod flows;
mod interop;
mod login_checks;
mod tampering;
mod terminal;
mod transparency;

use depot::client::login::{Credentials, ScriptedBrowser};
use depot::client::open::{Trust, Verdict, open};
use depot::client::seal::Sealed;
use depot::client::{Device, Session};
use depot::people::Identifier;
use serde_json::json;

use crate::forms::{PASSWORD, nihii, ssin};
use crate::helpers::*;

pub const SCOPES: &str =
    "openid depot:send depot:read keys:register keys:read symkeys:create symkeys:read";

/// The service, an app for persons, and the TSA root the receivers trust.
pub struct World {
    pub app: TestApp,
    pub http: reqwest::Client,
    pub client_id: String,
    pub trust: Trust,
    next: std::sync::atomic::AtomicU64,
}

/// A person of a test, logged in on one device.
pub struct Person {
    pub ssin: String,
    pub nihii: Option<String>,
    pub session: Session,
    pub device: Device,
}

impl Person {
    pub fn identifier(&self) -> Identifier {
        Identifier::parse("ssin", &self.ssin).unwrap()
    }

    /// Registers a key on this device and logs in again, so that the token
    /// references it.
    pub async fn register(&mut self, world: &World, key_use: &str) -> String {
        let key = self
            .session
            .register_key(key_use, "test device")
            .await
            .unwrap();
        let kid = key.kid.clone();
        self.device.keys.push(key);
        self.session = world.login_session(&self.ssin, self.nihii.as_deref()).await;
        kid
    }

    /// The same person on a new device (a new login, no keys yet).
    pub async fn new_device(&self, world: &World) -> Person {
        Person {
            ssin: self.ssin.clone(),
            nihii: self.nihii.clone(),
            session: world.login_session(&self.ssin, self.nihii.as_deref()).await,
            device: Device::new(&world.app.issuer, &world.client_id),
        }
    }
}

impl World {
    /// `from` posts `sealed` to `to`, who fetches it and opens it: the verdict.
    pub async fn delivered(&self, from: &Person, to: &Person, sealed: &Sealed) -> Verdict {
        let answer = from
            .session
            .send("ehbox", &[to.identifier()], sealed)
            .await
            .unwrap();
        let fetched = to
            .session
            .fetch(answer["id"].as_str().unwrap())
            .await
            .unwrap();
        open(&to.session, &to.device, &fetched, &self.trust).await
    }

    pub async fn new() -> Self {
        Self::with(|_| {}).await
    }

    /// The same, with the service's settings changed by `tweak`.
    pub async fn with(tweak: impl FnOnce(&mut depot::config::Settings)) -> Self {
        let app = spawn_app_with(tweak).await;
        let client_id = "mailbox-app".to_owned();
        app.admin_create(
            "/admin/clients",
            &json!({"client_id": client_id, "type": "public", "name": "Mailbox app",
                    "redirect_uris": ["http://127.0.0.1/callback"],
                    "scopes": SCOPES.split(' ').filter(|s| *s != "openid").collect::<Vec<_>>()}),
        )
        .await;
        let http = reqwest::Client::new();
        let trust = Trust::from_service(&Session::new(http.clone(), &app.issuer, ""))
            .await
            .unwrap();
        Self {
            app,
            http,
            client_id,
            trust,
            next: std::sync::atomic::AtomicU64::new(1),
        }
    }

    /// A new person: a doctor when `doctor`, else a citizen; logged in, no keys yet.
    pub async fn person(&self, doctor: bool) -> Person {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let ssin = ssin(&format!("850101{n:03}"));
        let nihii = doctor.then(|| nihii(100_000 + n, "004"));
        let profile = match &nihii {
            Some(nihii) => json!({"profile": "professional", "quality": "doctor", "nihii": nihii}),
            None => json!({"profile": "citizen"}),
        };
        self.app
            .admin_create(
                "/admin/persons",
                &json!({"ssin": ssin, "name": format!("Person {n}"), "password": PASSWORD,
                        "profiles": [profile]}),
            )
            .await;
        Person {
            session: self.login_session(&ssin, nihii.as_deref()).await,
            ssin,
            nihii,
            device: Device::new(&self.app.issuer, &self.client_id),
        }
    }

    /// A login as the app does it, with the scripted user agent at the pages.
    pub async fn login_session(&self, ssin: &str, nihii: Option<&str>) -> Session {
        let profile = nihii.map(|n| format!("professional:{n}"));
        let tokens = ScriptedBrowser::new()
            .unwrap()
            .log_in(
                &self.http,
                &self.app.issuer,
                &self.client_id,
                SCOPES,
                Credentials {
                    username: ssin,
                    password: PASSWORD,
                    profile: profile.as_deref(),
                },
            )
            .await
            .unwrap();
        Session::new(self.http.clone(), &self.app.issuer, &tokens.access_token)
    }
}

//! `spawn_app()`: the real application on port 0 with a fresh database (a SQLite file,
//! or a new PostgreSQL database when `DATABASE_URL` is set, dropped with the last app
//! using it), an administrator bootstrapped offline, and typed helpers to act as clients.

use std::path::PathBuf;
use std::sync::Arc;

use depot::app::Application;
use depot::clock::Clock;
use depot::config::{Config, Settings};
use depot::state::AppState;
use josekit::jws::{ES256, JwsHeader};
use secrecy::SecretString;
use serde_json::{Value, json};

mod database;
pub mod deployment;
pub mod dpop;
pub mod proxy;
pub mod xmlsec;

use database::Teardown;
pub use database::{TestDatabase, postgres_url};

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client's key pair, held by the test as a real client would hold it.
#[derive(Clone)]
pub struct ClientKey {
    pub kid: String,
    pub private_pem: Vec<u8>,
    pub public_jwk: Value,
}

impl ClientKey {
    pub fn generate(kid: &str) -> Self {
        let pair = ES256.generate_key_pair().unwrap();
        let mut public: Value =
            serde_json::from_str(&pair.to_jwk_public_key().to_string()).unwrap();
        public["kid"] = json!(kid);
        Self {
            kid: kid.to_owned(),
            private_pem: pair.to_pem_private_key(),
            public_jwk: public,
        }
    }

    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.public_jwk] })
    }

    /// Signs `claims` as an ES256 JWS with this key (josekit, not the server's library).
    pub fn sign(&self, claims: &Value) -> String {
        let signer = ES256.signer_from_pem(&self.private_pem).unwrap();
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        header.set_key_id(&self.kid);
        josekit::jws::serialize_compact(claims.to_string().as_bytes(), &header, &signer).unwrap()
    }
}

/// A registered client as the test sees it.
#[derive(Clone)]
pub struct TestClient {
    pub id: String,
    pub key: ClientKey,
}

impl TestClient {
    /// Fresh, valid assertion claims for `aud`.
    pub fn claims(&self, aud: &str, now: i64) -> Value {
        json!({
            "iss": self.id, "sub": self.id, "aud": aud,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now, "exp": now + 120,
        })
    }
}

pub struct TestApp {
    pub address: String,
    /// The management listener (`http://127.0.0.1:port`), when one is configured.
    pub management: Option<String>,
    pub issuer: String,
    pub http: reqwest::Client,
    pub state: AppState,
    pub clock: Clock,
    pub config: Config,
    pub admin: TestClient,
    pub data_dir: PathBuf,
    _dir: tempfile::TempDir,
    _teardown: Teardown,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The settings every test app starts from, and with `DATABASE_URL` set the fresh
/// PostgreSQL database they name: it lives while the returned [`TestDatabase`] or an
/// app using it does, so keep it (`let (settings, _database) = …`) until the app runs.
pub async fn test_settings(dir: &std::path::Path) -> (Settings, Option<Arc<TestDatabase>>) {
    let mut settings = Settings::default();
    settings.service.listen = "127.0.0.1:0".parse().unwrap();
    settings.service.data_dir = dir.to_owned();
    settings.service.workers = Some(1);
    settings.authz.signing_key_refresh_seconds = 0;
    settings.storage.database_max_connections = 4;
    settings.service.log = std::env::var("TEST_LOG").unwrap_or_else(|_| "error".into());
    let mut database = None;
    if let Some(base) = postgres_url() {
        let (made, url) = TestDatabase::create(&base).await;
        settings.storage.database_url = Some(SecretString::from(url));
        database = Some(made);
    }
    (settings, database)
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let (mut settings, database) = test_settings(dir.path()).await;
    tweak(&mut settings);
    let app = spawn_app_from(settings, dir).await;
    // Dropped now unless the app uses it (`tweak` may have named another database).
    drop(database);
    app
}

pub async fn spawn_app_from(settings: Settings, dir: tempfile::TempDir) -> TestApp {
    spawn_instance(settings, dir, ClientKey::generate("admin-key-1")).await
}

/// Another instance of `first`'s deployment, as a fleet behind one load balancer runs:
/// `first`'s settings, its public URL, its database and its master key
/// (`master.key` copied into a data directory of this instance's own, unless the
/// settings name a file), and the same administrator key, so that tokens, sessions
/// and keys made at either instance serve at both.
pub async fn spawn_second_instance(first: &TestApp) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = first.config.settings.clone();
    settings.service.listen.set_port(0);
    settings.service.data_dir = dir.path().to_owned();
    settings.service.public_url = Some(first.issuer.clone());
    settings.storage.database_url = Some(first.config.database_url.clone());
    if settings.service.master_key_file.is_none() {
        // `copy` keeps the file's mode (0600), which the service insists on.
        std::fs::copy(&first.config.master_key_file, dir.path().join("master.key")).unwrap();
    }
    spawn_instance(settings, dir, first.admin.key.clone()).await
}

/// Builds and runs the service, then bootstraps the administrator `admin` with
/// `admin_key` offline (replacing the keys it had).
async fn spawn_instance(
    settings: Settings,
    dir: tempfile::TempDir,
    admin_key: ClientKey,
) -> TestApp {
    depot::ops::telemetry::init(settings.service.log_format, &settings.service.log);
    let config = Config::from_settings(settings).unwrap();
    let clock = Clock::system();
    let app = Application::build(config, clock.clone()).await.unwrap();
    let port = app.port();
    let management = app
        .management_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    let state = app.state().clone();
    let config = (*state.config).clone();
    tokio::spawn(app.run_until_stopped());

    let jwks_path = dir.path().join("admin.jwks.json");
    std::fs::write(&jwks_path, admin_key.jwks().to_string()).unwrap();
    depot::operator::bootstrap(&config, "admin", &jwks_path)
        .await
        .unwrap();

    let teardown = Teardown {
        db: state.db.clone(),
        database: TestDatabase::held(secrecy::ExposeSecret::expose_secret(&config.database_url)),
    };
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        management,
        issuer: config.issuer.clone(),
        // Idle connections are dropped before the server's keep-alive (5 s) ends them:
        // a request never lands on a connection the server is closing.
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(std::time::Duration::from_secs(4))
            .build()
            .unwrap(),
        state,
        clock,
        data_dir: dir.path().to_owned(),
        config,
        admin: TestClient {
            id: "admin".into(),
            key: admin_key,
        },
        _dir: dir,
        _teardown: teardown,
    }
}

impl TestApp {
    /// The TSA certificate chain the service serves (`GET /tsa/certs`, PEM).
    pub async fn tsa_chain(&self) -> String {
        let response = self.http.get(self.url("/tsa/certs")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/oauth2/token", self.issuer)
    }

    pub fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    /// The start of the second after the next, where a test holds the clock
    /// ([`Clock::hold_at`]) to place two events within one second whatever the
    /// machine's speed: after everything that happened so far (a token's issue, a
    /// key's registration), and the clock runs on from there ([`Clock::run`]).
    pub fn coming_second(&self) -> chrono::DateTime<chrono::Utc> {
        use chrono::DurationRound as _;
        let then = self.clock.now() + chrono::Duration::seconds(2);
        then.duration_trunc(chrono::Duration::seconds(1))
            .unwrap_or(then)
    }

    /// POSTs a form to an OAuth endpoint.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// A client_credentials request with the given assertion and extra parameters.
    pub async fn token_request(
        &self,
        assertion: &str,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
        ];
        form.extend_from_slice(extra);
        self.post_form("/oauth2/token", &form).await
    }

    /// A fresh token for `client` (panics unless 200).
    pub async fn token_for(&self, client: &TestClient, extra: &[(&str, &str)]) -> String {
        let assertion = client
            .key
            .sign(&client.claims(&self.token_endpoint(), self.now()));
        let response = self.token_request(&assertion, extra).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "token request failed: {body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn admin_token(&self) -> String {
        self.token_for(&self.admin, &[]).await
    }

    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Registers an organization and a system client with one fresh key.
    pub async fn register_system_client(
        &self,
        id: &str,
        scopes: &[&str],
        extra: Value,
    ) -> TestClient {
        let key = ClientKey::generate(&format!("{id}-key-1"));
        let mut body = json!({
            "client_id": id, "type": "system", "name": format!("System {id}"),
            "scopes": scopes, "jwks": key.jwks(),
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        self.admin_create("/admin/clients", &body).await;
        TestClient { id: id.into(), key }
    }

    /// POSTs `body` to an admin collection with a fresh admin token; panics unless 201.
    pub async fn admin_create(&self, path: &str, body: &Value) -> Value {
        let token = self.admin_token().await;
        let response = self.post_json(path, &token, body).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, 201, "POST {path} failed: {text}");
        serde_json::from_str(&text).unwrap()
    }

    pub async fn register_organization(&self, cbe: &str, name: &str) {
        let token = self.admin_token().await;
        let response = self
            .post_json(
                "/admin/organizations",
                &token,
                &json!({"cbe": cbe, "name": name}),
            )
            .await;
        assert_eq!(response.status(), 201);
    }

    /// The published JWK Set (`/oauth2/jwks`).
    pub async fn jwks(&self) -> Value {
        let response = self
            .http
            .get(self.url("/oauth2/jwks"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// The `kid`s of the published JWK Set.
    pub async fn published_kids(&self) -> Vec<Value> {
        let jwks = self.jwks().await;
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].clone())
            .collect()
    }

    pub async fn jti_count(&self) -> u64 {
        depot::authz::store::count_jtis(&self.state.db)
            .await
            .unwrap()
    }
}

/// Asserts a 201 (naming `what` if not); returns the JSON body and the `Location`.
pub async fn created_json(response: reqwest::Response, what: &str) -> (Value, Option<String>) {
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    assert_eq!(status, 201, "{what}: {text}");
    (serde_json::from_str(&text).unwrap(), location)
}

/// Asserts an OAuth error answer (RFC 6749 §5.2) with this status and `error`, and
/// returns its `error_description` (empty when absent).
pub async fn expect_oauth_error(response: reqwest::Response, status: u16, error: &str) -> String {
    assert_eq!(response.status().as_u16(), status, "status for {error}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    body["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The claims of a JWT, decoded without verification (for assertions on content).
pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

pub fn jwt_header(token: &str) -> Value {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A CBE number with valid check digits (0203.201.340).
pub const CBE: &str = "0203201340";

/// The `openidconnect` crate's HTTP client: the service's own (reqwest, no redirects,
/// bounded in time and size), as its upstream federation uses it.
pub use depot::authz::federation::http::OidcHttp;

/// Asks `check` again every 50 ms until it holds, for at most 5 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{what}: not seen within 5 s");
}

//! The depot as compose.yaml deploys it (issue 24, "A container image and a compose
//! file"), tested without containers: CI has no Docker.
//!
//! - The topology: two instances on one PostgreSQL database with one master key
//!   (made by `deploy/make-secrets.sh`), behind nginx configured from the template that
//!   compose mounts, terminating TLS; one instance is the `depot` binary started
//!   through `docker/entrypoint.sh` with the environment compose gives it. A person
//!   logs in through the proxy (authorization code + PKCE, RFC 6749 §4.1, RFC 7636)
//!   and both instances serve parts of the login and of what follows (`X-Upstream`).
//!   PostgreSQL only: without `DATABASE_URL` it says `skipped`.
//! - compose.yaml: valid for `docker-compose config`, and the fleet it describes.
//! - The image: what the Dockerfile copies is in the build context, the scripts pass
//!   `sh -n` and shellcheck, the entrypoint runs the depot's commands and refuses a
//!   start it cannot make, and the health check tells a ready instance.
//!
//! nginx, docker-compose, shellcheck and PyYAML missing: `skipped`, a failure with
//! `CI=true`.

use std::collections::BTreeSet;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::forms::{PASSWORD, Pkce, SCOPE, auth_query};
use crate::helpers::deployment::browser::ProxiedBrowser;
use crate::helpers::deployment::compose::{compose_config, mounts};
use crate::helpers::deployment::context::{copied_sources, excluded, ignore_patterns};
use crate::helpers::deployment::instance::{DepotProcess, entrypoint};
use crate::helpers::deployment::nginx::{Nginx, TEMPLATE, directive, nginx_quantity, placeholders};
use crate::helpers::deployment::{free_port, make_secrets, repo, repo_file, tool};
use crate::helpers::*;

#[tokio::test]
async fn a_person_logs_in_through_the_proxy_and_both_instances_serve_her() {
    if postgres_url().is_none() {
        println!("skipped: DATABASE_URL not set (PostgreSQL only)");
        return;
    }
    let Some(nginx) = tool("nginx", "apt install nginx") else {
        return;
    };
    let secrets = tempfile::tempdir().unwrap();
    make_secrets(secrets.path());
    let port = free_port();
    let public_url = format!("https://localhost:{port}");
    let master_key = secrets.path().join("master.key");

    // depot-a: in this process (the helpers register people and apps through it).
    let (issuer, key) = (public_url.clone(), master_key.clone());
    let a = spawn_app_with(move |s| {
        s.service.public_url = Some(issuer);
        s.service.master_key_file = Some(key);
        s.service.trusted_proxies = Some("127.0.0.1/32".into());
        s.service.management_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    // depot-b: the binary through the image's entrypoint, configured as compose does.
    let database_url = secrets.path().join("database_url.test");
    std::fs::write(
        &database_url,
        secrecy::ExposeSecret::expose_secret(&a.config.database_url),
    )
    .unwrap();
    let b = DepotProcess::start(&[
        ("DEPOT_PUBLIC_URL", public_url.clone()),
        (
            "DEPOT_DATABASE_URL_FILE",
            database_url.display().to_string(),
        ),
        ("DEPOT_MASTER_KEY_FILE", master_key.display().to_string()),
        ("DEPOT_TRUSTED_PROXIES", "127.0.0.1/32".into()),
        (
            "DEPOT_MANAGEMENT_LISTEN",
            format!("127.0.0.1:{}", free_port()),
        ),
        ("DEPOT_LOG", "warn".into()),
        ("DEPOT_LOG_FORMAT", "json".into()),
    ])
    .await;
    let a_listen = a.address.trim_start_matches("http://").to_owned();
    let proxy = Nginx::start(
        &nginx,
        port,
        [&a_listen, &b.listen],
        &secrets.path().join("tls_cert"),
        &secrets.path().join("tls_key"),
    )
    .await;
    let instances = BTreeSet::from([a_listen.clone(), b.listen.clone()]);

    let person = a.citizen("850730033", false).await;
    let client = a
        .register_app("portal", false, &["depot:read"], json!({}))
        .await;
    let browser = ProxiedBrowser::new(
        &public_url,
        &std::fs::read(secrets.path().join("tls_cert")).unwrap(),
    );

    // Discovery through the proxy names the public URL, whichever instance answers.
    for _ in 0..2 {
        let request = browser
            .http
            .get(format!("{public_url}/.well-known/openid-configuration"));
        let response = browser.send("discovery", request).await;
        assert_eq!(response.status(), 200, "{}", proxy.errors());
        let discovery: Value = response.json().await.unwrap();
        assert_eq!(discovery["issuer"], public_url.as_str());
    }
    assert_eq!(browser.answered_since(0), instances, "round robin");
    // Health and metrics are on the management listeners, not behind the proxy.
    for _ in 0..2 {
        let request = browser.http.get(format!("{public_url}/metrics"));
        assert_eq!(browser.send("metrics", request).await.status(), 404);
    }

    // The login: authorization request, login form, consent, back to the app.
    let login_from = browser.steps();
    let pkce = Pkce::new();
    let url = reqwest::Url::parse_with_params(
        &format!("{public_url}/oauth2/authorize"),
        &auth_query(&client, SCOPE, &pkce),
    )
    .unwrap();
    let first = browser.page("authorize", browser.http.get(url)).await;
    let login = browser.follow(first).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let fields = [
        ("username", person.as_str()),
        ("password", PASSWORD),
        ("totp", ""),
    ];
    let mut back = browser.submit("login", &login, "username", &fields).await;
    if back.form_with("decision").is_some() {
        back = browser
            .submit("consent", &back, "decision", &[("decision", "allow")])
            .await;
    }
    let params = back.redirect_params();
    assert_eq!(params["state"], "state-123", "{params:?}");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", params["code"].as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("code_verifier", pkce.verifier.as_str()),
        ("client_id", client.id.as_str()),
    ];
    let request = browser
        .http
        .post(format!("{public_url}/oauth2/token"))
        .form(&form);
    let response = browser.send("token", request).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let name = |upstream: &str| {
        if upstream == a_listen {
            "depot-a"
        } else {
            "depot-b"
        }
    };
    let steps: Vec<String> = browser.upstreams.lock().unwrap()[login_from..]
        .iter()
        .map(|(step, upstream)| format!("{step} at {}", name(upstream)))
        .collect();
    println!("the login through the proxy: {}", steps.join(", "));
    assert_eq!(
        browser.answered_since(login_from),
        instances,
        "a login started at one instance finished at the other: {steps:?}"
    );

    // Through TLS at the proxy, the session cookie is Secure (and HttpOnly).
    let cookies = browser.set_cookies.lock().unwrap().clone();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("depot_session="))
        .unwrap_or_else(|| panic!("a session cookie: {cookies:?}"));
    assert!(session.contains("; Secure"), "{session}");
    assert!(session.contains("; HttpOnly"), "{session}");
    let id_token = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["iss"], public_url.as_str());

    // The tokens serve at both instances, through the proxy and directly.
    let access = tokens["access_token"].as_str().unwrap();
    let using_from = browser.steps();
    for path in [
        "/oauth2/userinfo",
        "/oauth2/userinfo",
        "/depot/box",
        "/depot/box",
    ] {
        let request = browser
            .http
            .get(format!("{public_url}{path}"))
            .bearer_auth(access);
        let status = browser.send(path, request).await.status();
        assert_eq!(status, 200, "{path}");
    }
    assert_eq!(browser.answered_since(using_from), instances);
    // A long poll held by the depot comes back through the proxy (no buffering), with
    // the proxy's HSTS header.
    let request = browser
        .http
        .get(format!("{public_url}/depot/messages?box=inbox&wait=2"))
        .bearer_auth(access);
    let response = browser.send("long poll", request).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("strict-transport-security"));
    for address in [&a.address, &b.address] {
        let response = a
            .http
            .get(format!("{address}/oauth2/userinfo"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "userinfo at {address}");
    }
    drop(proxy);
    drop(b);
}

#[test]
fn the_proxy_lets_the_largest_message_and_the_longest_poll_through() {
    let template = repo_file(TEMPLATE);
    let body = nginx_quantity(
        directive(&template, "client_max_body_size"),
        &[('k', 1 << 10), ('m', 1 << 20), ('g', 1 << 30)],
    );
    let largest = depot::config::Settings::default().depot.message_max_bytes as u64;
    assert!(
        body > largest,
        "client_max_body_size {body} ≤ {largest}: nginx would answer 413"
    );
    // `wait` is at most 30 s (GET /depot/messages), plus the wait for open transactions.
    for timeout in ["proxy_read_timeout", "proxy_send_timeout"] {
        let seconds = nginx_quantity(directive(&template, timeout), &[('s', 1), ('m', 60)]);
        assert!(
            seconds >= 60,
            "{timeout} {seconds} s: a 30 s long poll needs room"
        );
    }
    for header in [
        "X-Forwarded-For $proxy_add_x_forwarded_for",
        "X-Forwarded-Proto $scheme",
        "Host $host",
        "Forwarded \"\"",
    ] {
        assert!(
            template.contains(&format!("proxy_set_header {header};")),
            "{header}"
        );
    }
}

#[test]
fn compose_yaml_is_valid_and_describes_the_fleet() {
    let Some(config) = compose_config() else {
        return;
    };
    let services = config["services"].as_object().unwrap();
    let names: BTreeSet<&str> = services.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from(["depot-a", "depot-b", "postgres", "proxy", "rabbitmq"])
    );
    for dependency in ["postgres", "rabbitmq"] {
        assert!(
            services[dependency]["healthcheck"]["test"].is_array(),
            "{dependency}"
        );
    }

    let (a, b) = (&services["depot-a"], &services["depot-b"]);
    assert_eq!(a["environment"], b["environment"], "one configuration");
    assert_eq!(a["secrets"], b["secrets"]);
    let env = &a["environment"];
    // One master key for both, from a secret.
    let key_file = env["DEPOT_MASTER_KEY_FILE"].as_str().unwrap();
    let key_secret = key_file.strip_prefix("/run/secrets/").unwrap();
    assert!(config["secrets"][key_secret]["file"].is_string());
    assert!(
        a["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["source"] == key_secret)
    );
    for (name, depot) in [("depot-a", a), ("depot-b", b)] {
        assert_eq!(depot["image"], a["image"], "{name}: one image");
        assert_eq!(depot["read_only"], true, "{name}");
        assert!(
            depot["tmpfs"].as_array().unwrap().contains(&json!("/tmp")),
            "{name}"
        );
        for dependency in ["postgres", "rabbitmq"] {
            assert_eq!(
                depot["depends_on"][dependency]["condition"], "service_healthy",
                "{name} waits for {dependency}"
            );
        }
        assert!(depot["healthcheck"]["test"].is_array(), "{name}");
        let volumes = mounts(depot);
        assert!(
            volumes.iter().any(
                |(source, target)| target == "/data" && config["volumes"].get(source).is_some()
            ),
            "{name}: a named volume at /data: {volumes:?}"
        );
    }
    assert_ne!(a["volumes"], b["volumes"], "a data volume each");
    assert!(
        env.get("DATABASE_URL").is_none() && env.get("AMQP_URL").is_none(),
        "secrets in files"
    );

    // The proxy: after both instances are healthy, the shipped template, the
    // instances as upstreams on the image's port, trusted by them, published where
    // the public URL says.
    let proxy = &services["proxy"];
    for name in ["depot-a", "depot-b"] {
        assert_eq!(proxy["depends_on"][name]["condition"], "service_healthy");
    }
    let template = mounts(proxy)
        .into_iter()
        .find(|(_, target)| target == "/etc/nginx/templates/depot.conf.template")
        .expect("the template mounted");
    assert_eq!(template.0, repo().join(TEMPLATE).display().to_string());
    let proxy_env = proxy["environment"].as_object().unwrap();
    for name in placeholders(&repo_file(TEMPLATE)) {
        assert!(proxy_env.contains_key(&name), "{name} set for the proxy");
    }
    let image_port = repo_file("Dockerfile")
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("ENV DEPOT_LISTEN=0.0.0.0:")
                .map(|p| p.trim_end_matches(" \\").to_owned())
        })
        .expect("ENV DEPOT_LISTEN in the Dockerfile");
    assert_eq!(
        proxy_env["PROXY_UPSTREAM_A"],
        format!("depot-a:{image_port}")
    );
    assert_eq!(
        proxy_env["PROXY_UPSTREAM_B"],
        format!("depot-b:{image_port}")
    );
    let proxy_ip = proxy["networks"]["backend"]["ipv4_address"]
        .as_str()
        .unwrap();
    let trusted = env["DEPOT_TRUSTED_PROXIES"].as_str().unwrap();
    assert!(
        trusted
            .split(',')
            .any(|c| c.trim() == format!("{proxy_ip}/32")),
        "{trusted}"
    );
    let public = url::Url::parse(env["DEPOT_PUBLIC_URL"].as_str().unwrap()).unwrap();
    assert_eq!(public.scheme(), "https");
    let published = &proxy["ports"].as_array().unwrap()[0];
    assert_eq!(
        published["target"].as_u64(),
        proxy_env["PROXY_LISTEN"].as_str().unwrap().parse().ok()
    );
    assert_eq!(
        published["published"]
            .as_u64()
            .or_else(|| published["published"].as_str()?.parse().ok()),
        public.port().map(u64::from),
        "the public URL's port is the published one"
    );
    for (name, service) in services {
        if name != "proxy" {
            assert!(service.get("ports").is_none(), "{name} is not published");
        }
    }
}

#[test]
fn the_build_context_holds_what_the_dockerfile_copies() {
    let dockerfile = repo_file("Dockerfile");
    let patterns = ignore_patterns(&repo_file(".dockerignore"));
    let sources = copied_sources(&dockerfile);
    assert!(sources.contains(&"src".to_owned()), "{sources:?}");
    for source in &sources {
        assert!(
            repo().join(source).exists(),
            "{source} is copied but missing"
        );
        assert!(
            !excluded(&patterns, source),
            "{source} is copied but .dockerignore leaves it out"
        );
    }
    for path in [
        "target/debug/depot",
        ".git/HEAD",
        "data/depot.sqlite",
        "deploy/secrets/master.key",
        "benches/results/x/depot-1.log",
    ] {
        assert!(excluded(&patterns, path), "{path} stays out of the context");
    }
    // What a read-only, non-root container needs.
    for line in [
        "USER 10001:10001",
        "VOLUME [\"/data\"]",
        "ENTRYPOINT [\"depot-entrypoint\"]",
        "CMD [\"serve\"]",
    ] {
        assert!(
            dockerfile.lines().any(|l| l.trim() == line),
            "Dockerfile: {line}"
        );
    }
    // The service binary alone: without the client tools (feature `client-tools`).
    assert!(
        dockerfile.contains("cargo build --release --locked --no-default-features --bin depot")
    );
    assert!(dockerfile.contains("DEPOT_DATA_DIR=/data"));

    for (shell, script) in [
        ("sh", "docker/entrypoint.sh"),
        ("bash", "docker/healthcheck.sh"),
        ("sh", "deploy/make-secrets.sh"),
    ] {
        let status = Command::new(shell)
            .arg("-n")
            .arg(repo().join(script))
            .status()
            .unwrap();
        assert!(status.success(), "{shell} -n {script}");
    }
    let Some(shellcheck) = tool("shellcheck", "apt install shellcheck") else {
        return;
    };
    let output = Command::new(shellcheck)
        .current_dir(repo())
        .args([
            "docker/entrypoint.sh",
            "docker/healthcheck.sh",
            "deploy/make-secrets.sh",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// The entrypoint's exit status and standard error for `args` with `env`.
fn run_entrypoint(args: &[&str], env: &[(&str, String)]) -> (Option<i32>, String, String) {
    let output = entrypoint(args, env).output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_entrypoint_runs_the_depot_and_the_health_check_tells_it_ready() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let env = [
        ("DEPOT_DATA_DIR", data.display().to_string()),
        ("DEPOT_LOG", "warn".into()),
    ];

    // Commands pass through (a leading `depot` too); `migrate --check` on a fresh
    // SQLite file has migrations pending (1), none once migrated (0).
    let (code, out, _) = run_entrypoint(&["--version"], &env);
    assert_eq!((code, out.starts_with("depot ")), (Some(0), true), "{out}");
    let (code, out, err) = run_entrypoint(&["migrate", "--check"], &env);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(!out.trim().is_empty(), "the pending migrations are named");
    let (code, _, err) = run_entrypoint(&["depot", "migrate"], &env);
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = run_entrypoint(&["migrate", "--check"], &env);
    assert_eq!(code, Some(0), "{out}{err}");

    // A start it cannot make is refused before the depot runs, saying why (78).
    let missing = [(
        "DEPOT_DATA_DIR",
        dir.path().join("nowhere").display().to_string(),
    )];
    let (code, _, err) = run_entrypoint(&[], &missing);
    assert_eq!(code, Some(78));
    assert!(err.contains("does not exist: mount a volume"), "{err}");
    let mut no_key = env.to_vec();
    no_key.push((
        "DEPOT_MASTER_KEY_FILE",
        dir.path().join("absent.key").display().to_string(),
    ));
    let (code, _, err) = run_entrypoint(&["serve"], &no_key);
    assert_eq!(code, Some(78));
    assert!(err.contains("master key file"), "{err}");

    // `depot serve` through the entrypoint (no arguments), and the health check.
    let depot = DepotProcess::start(&[("DEPOT_LOG", "warn".into())]).await;
    let check = |env: &[(&str, &str)], args: &[&str]| {
        Command::new("bash")
            .arg(repo().join("docker/healthcheck.sh"))
            .args(args)
            .env_clear()
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    let closed = format!("127.0.0.1:{}", free_port());
    let wildcard = depot.listen.replace("127.0.0.1", "0.0.0.0");
    for (env, args) in [
        (vec![("DEPOT_LISTEN", wildcard.as_str())], vec![]),
        (
            vec![
                ("DEPOT_LISTEN", depot.listen.as_str()),
                ("DEPOT_MANAGEMENT_LISTEN", closed.as_str()),
            ],
            vec![],
        ),
        (vec![], vec![depot.listen.as_str()]),
    ] {
        let output = check(&env, &args);
        assert!(
            output.status.success(),
            "{env:?} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let output = check(&[], &[&closed]);
    assert!(!output.status.success(), "nothing listens at {closed}");
}

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
//! - The proxy's limits against the depot's (largest message, longest poll).
//!
//! The image itself (build context, entrypoint, health check) is in
//! `container_image.rs`.
//!
//! nginx, docker-compose, shellcheck and PyYAML missing: `skipped`, a failure with
//! `CI=true`.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::forms::{PASSWORD, Pkce, SCOPE, auth_query};
use crate::helpers::deployment::browser::ProxiedBrowser;
use crate::helpers::deployment::compose::{compose_config, mounts};
use crate::helpers::deployment::instance::DepotProcess;
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

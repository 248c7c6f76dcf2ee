//! The `depot` binary's operator commands, run as an operator would.

use std::process::Command;

use serde_json::Value;

use crate::helpers::*;

/// `depot admin bootstrap --client-id ID --jwks PATH`, run to completion.
fn bootstrap(app: &TestApp, id: &str, jwks: &std::path::Path) -> std::process::Output {
    depot(app)
        .args(["admin", "bootstrap", "--client-id", id])
        .arg("--jwks")
        .arg(jwks)
        .output()
        .unwrap()
}

pub fn depot(app: &TestApp) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_depot"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DEPOT_DATA_DIR", &app.data_dir)
        .env(
            "DATABASE_URL",
            secrecy::ExposeSecret::expose_secret(&app.config.database_url),
        )
        .env("DEPOT_PUBLIC_URL", &app.issuer)
        .env("DEPOT_LOG", "warn");
    command
}

#[tokio::test]
async fn bootstrap_registers_an_administrator_who_can_then_act() {
    let app = spawn_app().await;
    let key = ClientKey::generate("ops-key");
    let jwks = app.data_dir.join("ops.jwks.json");
    std::fs::write(&jwks, key.jwks().to_string()).unwrap();
    let output = bootstrap(&app, "ops", &jwks);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let ops = TestClient {
        id: "ops".into(),
        key,
    };
    let token = app.token_for(&ops, &[]).await;
    assert_eq!(app.get("/admin/clients/ops", &token).await.status(), 200);

    // Bootstrapping the same administrator again replaces its keys (a lost key is
    // recovered this way): the old key no longer authenticates.
    let new_key = ClientKey::generate("ops-key-2");
    std::fs::write(&jwks, new_key.jwks().to_string()).unwrap();
    let output = bootstrap(&app, "ops", &jwks);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The running instance caches clients; the change made by another process reaches
    // it through the registry version it reads every quarter second.
    let mut status = 0;
    for _ in 0..40 {
        let assertion = ops.key.sign(&ops.claims(&app.token_endpoint(), app.now()));
        status = app.token_request(&assertion, &[]).await.status().as_u16();
        if status == 401 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        status, 401,
        "the replaced key still authenticates after 4 s"
    );
    let ops = TestClient {
        id: "ops".into(),
        key: new_key,
    };
    let token = app.token_for(&ops, &[]).await;

    // An ordinary client is never turned into an administrator.
    let gw = app
        .register_system_client("gw", &["tsa"], serde_json::json!({}))
        .await;
    std::fs::write(&jwks, gw.key.jwks().to_string()).unwrap();
    let output = bootstrap(&app, "gw", &jwks);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not an administrator"));
    let body: Value = app
        .get("/admin/clients/gw", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["scopes"], serde_json::json!(["tsa"]));

    // A JWKS file that is not a JWKS: a clear error, no client.
    let bad = app.data_dir.join("bad.json");
    std::fs::write(&bad, "{\"keys\": 1}").unwrap();
    let output = bootstrap(&app, "ops2", &bad);
    assert!(!output.status.success());
    assert!(!String::from_utf8_lossy(&output.stderr).is_empty());
    assert_eq!(app.get("/admin/clients/ops2", &token).await.status(), 404);
}

#[tokio::test]
async fn rotate_signing_key_from_the_command_line() {
    let app = spawn_app().await;
    let before = app.admin_token().await;
    let output = depot(&app)
        .args(["admin", "rotate-signing-key"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let after = app.admin_token().await;
    assert_ne!(jwt_header(&before)["kid"], jwt_header(&after)["kid"]);
    let jwks = app.jwks().await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn migrate_is_idempotent() {
    let app = spawn_app().await;
    for _ in 0..2 {
        let output = depot(&app).arg("migrate").output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// No personal identifier in the logs (issue 22, review item 8): a second instance,
/// run as a process on the same database with JSON logs at `info`, serves a citizen
/// who creates a symmetric key and a key search by SSIN; its log names the citizen by
/// a pseudonym, and holds neither the SSIN nor the query string.
#[tokio::test]
async fn the_logs_name_no_person() {
    use crate::forms::*;
    let app = spawn_app().await;
    let ssin = app.citizen("850730033", false).await;
    let client = app
        .register_app(
            "app",
            true,
            &["symkeys:create", "keys:read"],
            serde_json::json!({}),
        )
        .await;
    let (tokens, _) = person_tokens(&app, &client, &ssin, "symkeys:create keys:read").await;
    let token = tokens["access_token"].as_str().unwrap().to_owned();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log_path = app.data_dir.join("second.log");
    let audit_path = app.data_dir.join("privacy").join("audit.jsonl");
    let mut server = depot(&app)
        .arg("serve")
        .env("DEPOT_AUDIT_LOG", &audit_path)
        .env("DEPOT_LISTEN", format!("127.0.0.1:{port}"))
        .env("DEPOT_LOG", "info")
        .env("DEPOT_LOG_FORMAT", "json")
        .stdout(std::fs::File::create(&log_path).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(r) = app.http.get(format!("{base}/health/ready")).send().await
            && r.status() == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "the second instance did not start");
    let created = app
        .http
        .post(format!("{base}/symkeys"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"policy": {"allow": [{"type": "profile", "value": "citizen"}]}, "ttlSeconds": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let search = app
        .http
        .get(format!(
            "{base}/keys/jwks?identity_type=ssin&identity_value={ssin}"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(search.status(), 200);
    server.kill().unwrap();
    server.wait().unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("symmetric key created"), "{log}");
    assert!(!log.contains(&ssin), "the SSIN is in the log:\n{log}");
    assert!(
        !log.contains("identity_value"),
        "a query string is in the log:\n{log}"
    );
    // The audit stream names the person, apart from the log, readable by its owner only.
    assert!(!log.contains("keys looked up"), "{log}");
    let audit = std::fs::read_to_string(&audit_path).unwrap();
    let events: Vec<serde_json::Value> = audit
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let who = format!("ssin:{ssin}");
    for (action, what) in [
        ("symmetric key created", None),
        ("keys looked up", Some(format!("ssin:{ssin}"))),
    ] {
        let event = events
            .iter()
            .find(|e| e["fields"]["action"] == action)
            .unwrap_or_else(|| panic!("no {action:?} in the audit stream:\n{audit}"));
        assert_eq!(event["fields"]["who"], who, "{event}");
        if let Some(what) = what {
            assert_eq!(event["fields"]["what"], what, "{event}");
        }
        assert!(event["timestamp"].is_string(), "{event}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&audit_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the audit stream is private: {mode:o}");
    }
}

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
    let assertion = ops.key.sign(&ops.claims(&app.token_endpoint(), app.now()));
    assert_eq!(app.token_request(&assertion, &[]).await.status(), 401);
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

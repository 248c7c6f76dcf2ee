//! The configuration as an operator meets it: the client's variables are not the
//! service's settings, and a typo is a warning naming the key it was likely meant to be.

use crate::cli::depot;
use crate::helpers::*;

/// `DEPOT_SERVER`, documented by `depot client --help`, is the client's: it used to be
/// read as a service setting and refused ("configuration: unknown field").
#[tokio::test]
async fn the_client_variables_are_no_configuration_error() {
    let app = spawn_app().await;
    let home = app.data_dir.join("client-home");
    let output = depot(&app)
        .args(["client", "inbox"])
        .env("DEPOT_SERVER", &app.issuer)
        .env("DEPOT_CLIENT_HOME", &home)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // No session yet: the client says to log in, not that the configuration is wrong.
    assert!(!output.status.success(), "{stderr}");
    assert!(!stderr.contains("configuration"), "{stderr}");
    assert!(!stderr.contains("unknown field"), "{stderr}");
    assert!(stderr.contains("login"), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("unknown setting"), "{stdout}");
}

/// A misspelled variable and a misspelled key of the file named by `--config`: the
/// service starts on the file's address all the same, and its log names each typo with
/// the key it was likely meant to be.
#[tokio::test]
async fn typos_are_warnings_naming_the_nearest_key() {
    let app = spawn_app().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let file = app.data_dir.join("operator.toml");
    std::fs::write(
        &file,
        format!("listen = \"127.0.0.1:{port}\"\nlog_formt = \"json\"\n"),
    )
    .unwrap();
    let log_path = app.data_dir.join("serve.log");
    let mut server = depot(&app)
        .arg("serve")
        .arg("--config")
        .arg(&file)
        .env("DEPOT_LISTN", "x")
        .env("DEPOT_AUDIT_LOG", app.data_dir.join("serve-audit.log"))
        .stdout(std::fs::File::create(&log_path).unwrap())
        .stderr(std::fs::File::create(app.data_dir.join("serve.err")).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut live = false;
    for _ in 0..100 {
        if let Ok(r) = app.http.get(format!("{base}/health/live")).send().await
            && r.status() == 200
        {
            live = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    let err = std::fs::read_to_string(app.data_dir.join("serve.err")).unwrap();
    assert!(live, "depot serve did not start:\n{log}\n{err}");
    assert!(
        log.contains("unknown setting DEPOT_LISTN: did you mean DEPOT_LISTEN?"),
        "{log}"
    );
    assert!(
        log.contains("unknown key \"log_formt\": did you mean \"log_format\"?"),
        "{log}"
    );
}

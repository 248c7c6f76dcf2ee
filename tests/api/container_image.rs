//! The container image (issue 24, "A container image and a compose file"), tested
//! without Docker: what the Dockerfile copies is in the build context, the scripts
//! pass `sh -n` and shellcheck, the entrypoint runs the depot's commands and refuses a
//! start it cannot make, and the health check tells a ready instance. The running
//! topology and compose.yaml are in `proxy_topology.rs`.
//!
//! shellcheck missing: `skipped`, a failure with `CI=true`.

use std::process::Command;

use crate::helpers::deployment::context::{copied_sources, excluded, ignore_patterns};
use crate::helpers::deployment::instance::{DepotProcess, entrypoint};
use crate::helpers::deployment::{free_port, repo, repo_file, tool};

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

//! The files that ship the depot as containers (issue 24): the image's build context
//! (`Dockerfile`, `.dockerignore`), its entrypoint and health check (`docker/`), the
//! reverse proxy's configuration (`deploy/nginx/depot.conf.template`) and
//! `compose.yaml`. CI runs no Docker, so the tests run these very files without it:
//! nginx as a child process in front of instances, one of them the `depot` binary
//! started through the entrypoint with the environment compose gives it.
//!
//! The tools they need (nginx, docker-compose, shellcheck, python3 with PyYAML) are
//! looked for with [`tool`]: a test without them says `skipped`, and fails with
//! `CI=true` (`.ci/run` installs them).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub mod browser;
pub mod compose;
pub mod context;
pub mod instance;
pub mod nginx;

/// The repository's root, where the deployment files are.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file of the repository, read (panics if it is missing).
pub fn repo_file(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Says that a test is skipped for want of `what` (install with `install`), or fails
/// when `CI=true`.
fn missing(what: &str, install: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{what} is not installed ({install}), and CI=true"
    );
    println!("skipped: {what} is not installed ({install})");
}

/// The command `name` on PATH, or in the sbin directories (nginx lives in /usr/sbin,
/// which a user's PATH may not name). `None` after [`missing`] said why.
pub fn tool(name: &str, install: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate));
    if found.is_none() {
        missing(name, install);
    }
    found
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether python3 can import `module`; if not, [`missing`] says so.
pub fn python_module(module: &str, install: &str) -> bool {
    let found = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        missing(&format!("python3 module {module}"), install);
    }
    found
}

/// `deploy/make-secrets.sh DIR`: the master key, the proxy's certificate and the rest.
pub fn make_secrets(dir: &Path) {
    let output = Command::new("sh")
        .arg(repo().join("deploy/make-secrets.sh"))
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "make-secrets.sh: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A free TCP port on the loopback (free when asked: the caller binds it soon after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The last `n` lines of a log file, for a failure message.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

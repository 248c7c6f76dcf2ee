//! `depot serve` as the image runs it: `docker/entrypoint.sh` with the `depot` binary
//! on PATH, a data directory of its own, and nothing but the environment it is given
//! (as compose gives it: `DEPOT_*`, secrets as `*_FILE` paths). Its output goes to a
//! log file, shown when it does not become ready; it is killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_port, repo, tail};

/// The directory of the `depot` binary the tests were built with.
pub fn depot_bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_depot"))
        .parent()
        .unwrap()
        .to_owned()
}

/// `sh docker/entrypoint.sh ARGS…` with only `env` (and a PATH that finds `depot`).
pub fn entrypoint(args: &[&str], env: &[(&str, String)]) -> Command {
    let path = format!(
        "{}:{}",
        depot_bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("sh");
    command
        .arg(repo().join("docker/entrypoint.sh"))
        .args(args)
        .env_clear()
        .env("PATH", path)
        .envs(env.iter().map(|(k, v)| (k, v)));
    command
}

pub struct DepotProcess {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    /// Where `/health/*` answer: the management listener when `env` names one.
    health: String,
    /// `127.0.0.1:PORT`, as the proxy names it
    pub listen: String,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl DepotProcess {
    /// Starts `depot serve` through the entrypoint on a free port with `env` (plus
    /// DEPOT_LISTEN and DEPOT_DATA_DIR), and waits until `/health/ready` answers 200
    /// (on the management listener when `env` sets `DEPOT_MANAGEMENT_LISTEN`).
    pub async fn start(env: &[(&str, String)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        std::fs::create_dir(&data_dir).unwrap();
        let listen = format!("127.0.0.1:{}", free_port());
        let log = dir.path().join("depot.log");
        let mut env = env.to_vec();
        env.push(("DEPOT_LISTEN", listen.clone()));
        env.push(("DEPOT_DATA_DIR", data_dir.display().to_string()));
        let child = entrypoint(&[], &env)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.path().join("depot.err")).unwrap())
            .spawn()
            .unwrap();
        let health = env
            .iter()
            .find(|(name, _)| *name == "DEPOT_MANAGEMENT_LISTEN")
            .map_or_else(
                || format!("http://{listen}"),
                |(_, at)| format!("http://{at}"),
            );
        let mut process = Self {
            address: format!("http://{listen}"),
            health,
            listen,
            child,
            log,
            _dir: dir,
        };
        process.ready().await;
        process
    }

    async fn ready(&mut self) {
        let http = reqwest::Client::new();
        let url = format!("{}/health/ready", self.health);
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("depot serve exited ({status}):\n{}", self.output());
            }
            if let Ok(response) = http.get(&url).send().await
                && response.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("depot serve not ready within 60 s:\n{}", self.output());
    }

    /// The end of its log and its standard error.
    pub fn output(&self) -> String {
        format!(
            "{}\n{}",
            tail(&self.log, 30),
            tail(&self.log.with_file_name("depot.err"), 30)
        )
    }
}

impl Drop for DepotProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

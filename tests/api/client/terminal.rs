//! A terminal of the `depot client` commands for the tests: its own `--home`, a `PATH`
//! that holds no browser (`open_system_browser` runs `xdg-open`, which is then not
//! found: the login command says so and waits at its loopback redirect), and the
//! service's URL in `DEPOT_SERVER`. A person's login is driven by the scripted browser
//! from the URL the command prints.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use depot::client::login::ScriptedBrowser;
use depot::client::{Device, Session};
use serde_json::Value;

use crate::forms::PASSWORD;
use crate::helpers::*;

/// The persons' command-line app.
pub const APP: &str = "depot-cli";

/// One user of the command line on one machine.
pub struct Terminal {
    dir: tempfile::TempDir,
    issuer: String,
}

/// How a command ended.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn of(output: Output, stderr: Option<String>) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: stderr.unwrap_or_else(|| String::from_utf8_lossy(&output.stderr).into_owned()),
        }
    }

    pub fn succeeded(self, what: &str) -> Self {
        assert_eq!(self.code, Some(0), "{what}: {self:#?}");
        self
    }

    pub fn failed(self, what: &str) -> Self {
        assert!(
            self.code.is_some_and(|code| code != 0),
            "{what} must fail: {self:#?}"
        );
        assert!(
            !self.stderr.trim().is_empty(),
            "{what}: a message on stderr"
        );
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

impl Terminal {
    pub fn new(app: &TestApp) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // The only directory on PATH, and empty: no browser to launch.
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        Self {
            dir,
            issuer: app.issuer.clone(),
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn session(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.home().join("session.json")).unwrap()).unwrap()
    }

    /// `device.json`, as JSON.
    pub fn device(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.home().join("device.json")).unwrap()).unwrap()
    }

    /// The session the commands keep, taken up by the library as an application
    /// would: its access token, with proofs by the device key it is bound to.
    pub fn library_session(&self) -> Session {
        let saved = self.session();
        let device = Device::load(&self.home().join("device.json")).unwrap();
        let jkt = saved["dpop_jkt"].as_str().expect("a DPoP-bound session");
        let key = device
            .proof_key_for(jkt)
            .unwrap()
            .expect("the key it is bound to");
        Session::new(
            reqwest::Client::new(),
            &self.issuer,
            saved["access_token"].as_str().unwrap(),
        )
        .with_dpop(key)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_depot"));
        command
            .env_clear()
            .env("PATH", self.dir.path().join("bin"))
            .env("DEPOT_SERVER", &self.issuer)
            .env("DEPOT_CLIENT_HOME", self.home())
            .env("DEPOT_DATA_DIR", self.dir.path().join("data"))
            .env("DEPOT_LOG", "warn")
            .current_dir(self.dir.path())
            .arg("client")
            .args(args);
        command
    }

    /// Runs a command to its end (on a blocking thread: the service answers it from
    /// this test's runtime).
    pub async fn run(&self, args: &[&str]) -> Run {
        let mut command = self.command(args);
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .unwrap();
        Run::of(output, None)
    }

    /// `depot client login --client-id <the app>` as a person: the command prints the
    /// authorization URL and waits at its loopback redirect; the scripted browser logs
    /// the person in there.
    pub async fn log_in_person(&self, ssin: &str, profile: Option<&str>) -> Run {
        self.log_in_person_asking(ssin, profile, None).await
    }

    /// The same, asking for `scope` (`--scope`) when given.
    pub async fn log_in_person_asking(
        &self,
        ssin: &str,
        profile: Option<&str>,
        scope: Option<&str>,
    ) -> Run {
        let mut args = vec!["login", "--client-id", APP];
        if let Some(scope) = scope {
            args.extend(["--scope", scope]);
        }
        let mut child = self
            .command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (found, url) = tokio::sync::oneshot::channel();
        let reader = std::thread::spawn(move || {
            let mut found = Some(found);
            let mut all = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.trim_start().starts_with("http")
                    && let Some(found) = found.take()
                {
                    let _ = found.send(line.trim().to_owned());
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let url = tokio::time::timeout(Duration::from_secs(30), url).await;
        let Ok(Ok(url)) = url else {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "the login printed no URL: {:#?}",
                Run::of(output, reader.join().ok())
            );
        };
        assert!(
            url.starts_with(&format!("{}/oauth2/authorize?", self.issuer)),
            "{url}"
        );
        ScriptedBrowser::new()
            .unwrap()
            .login(&url, ssin, PASSWORD, None, profile)
            .await
            .unwrap();
        let output = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        Run::of(output, reader.join().ok())
    }
}

//! compose.yaml as Compose reads it: `docker-compose config` (v1, which validates the
//! file against the compose specification without a Docker daemon) resolves anchors,
//! merges and paths; PyYAML turns its YAML into JSON for the tests.

use std::process::Command;

use serde_json::Value;

use super::{python_module, repo, tool};

/// `docker-compose config` on compose.yaml, as JSON (PyYAML reads its YAML).
pub fn compose_config() -> Option<Value> {
    let compose = tool("docker-compose", "apt install docker-compose")?;
    if !python_module("yaml", "pip install pyyaml") {
        return None;
    }
    let output = Command::new(compose)
        .args(["-f", "compose.yaml", "config"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "docker-compose config: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut python = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    python
        .stdin
        .take()
        .unwrap()
        .write_all(&output.stdout)
        .unwrap();
    let json = python.wait_with_output().unwrap();
    assert!(json.status.success());
    Some(serde_json::from_slice(&json.stdout).unwrap())
}

/// The (source, target) of a service's volumes, in short (`src:dst:mode`) or long form.
pub fn mounts(service: &Value) -> Vec<(String, String)> {
    let volumes = service["volumes"].as_array().cloned().unwrap_or_default();
    volumes
        .iter()
        .map(|v| match v.as_str() {
            Some(short) => {
                let mut parts = short.split(':');
                let source = parts.next().unwrap_or_default().to_owned();
                (source, parts.next().unwrap_or_default().to_owned())
            }
            None => (
                v["source"].as_str().unwrap_or_default().to_owned(),
                v["target"].as_str().unwrap_or_default().to_owned(),
            ),
        })
        .collect()
}

//! nginx as the fleet's TLS-terminating reverse proxy, run from the very template
//! compose.yaml mounts (`deploy/nginx/depot.conf.template`), rendered as the nginx
//! image renders it (envsubst of the `PROXY_*` variables), included in a main
//! configuration that keeps the pid file, logs and temporary files in a directory of
//! the test's (so that it runs without root too). Checked with `nginx -t`, then run in
//! the foreground as a child process, killed on drop.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{repo_file, tail};

pub const TEMPLATE: &str = "deploy/nginx/depot.conf.template";

/// The `${NAME}` placeholders of `template`, in order of first use.
pub fn placeholders(template: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for piece in template.split("${").skip(1) {
        let name = piece.split('}').next().unwrap().to_owned();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// `template` with each `${NAME}` of `values` replaced, as envsubst does; panics when
/// a placeholder has no value (the nginx image would leave it, and nginx refuse it).
pub fn render(template: &str, values: &[(&str, String)]) -> String {
    let mut text = template.to_owned();
    for (name, value) in values {
        text = text.replace(&format!("${{{name}}}"), value);
    }
    let left = placeholders(&text);
    assert!(left.is_empty(), "placeholders without a value: {left:?}");
    text
}

pub struct Nginx {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Renders the template for a TLS listener on `127.0.0.1:port` named `localhost`,
    /// in front of `upstreams`, checks it with `nginx -t`, runs nginx and waits until
    /// it accepts connections.
    pub async fn start(
        nginx: &Path,
        port: u16,
        upstreams: [&str; 2],
        tls_cert: &Path,
        tls_key: &Path,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Run as root, nginx's workers are `nobody`: they may enter the directory.
        let open = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755);
        std::fs::set_permissions(dir.path(), open).unwrap();
        let values = [
            ("PROXY_LISTEN", format!("127.0.0.1:{port}")),
            ("PROXY_SERVER_NAME", "localhost".to_owned()),
            ("PROXY_TLS_CERT", tls_cert.display().to_string()),
            ("PROXY_TLS_KEY", tls_key.display().to_string()),
            ("PROXY_UPSTREAM_A", upstreams[0].to_owned()),
            ("PROXY_UPSTREAM_B", upstreams[1].to_owned()),
        ];
        let site = dir.path().join("depot.conf");
        std::fs::write(&site, render(&repo_file(TEMPLATE), &values)).unwrap();
        let main = main_config(dir.path(), &site);
        let config = dir.path().join("nginx.conf");
        std::fs::write(&config, main).unwrap();

        let test = command(nginx, dir.path(), &config)
            .arg("-t")
            .output()
            .unwrap();
        assert!(
            test.status.success(),
            "nginx -t refuses the rendered {TEMPLATE}:\n{}",
            String::from_utf8_lossy(&test.stderr)
        );
        let log = dir.path().join("nginx.out");
        let child = command(nginx, dir.path(), &config)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.path().join("nginx.err")).unwrap())
            .spawn()
            .unwrap();
        let mut proxy = Self { port, child, dir };
        proxy.listening().await;
        proxy
    }

    async fn listening(&mut self) {
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("nginx exited ({status}):\n{}", self.errors());
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("nginx does not listen on {}:\n{}", self.port, self.errors());
    }

    /// nginx's error log.
    pub fn errors(&self) -> String {
        let dir = self.dir.path();
        format!(
            "{}\n{}",
            tail(&dir.join("error.log"), 30),
            tail(&dir.join("nginx.err"), 30)
        )
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `nginx -e stderr -p DIR -c CONFIG`: the prefix and the error log before the
/// configuration is read are the test's, not /var/log/nginx.
fn command(nginx: &Path, dir: &Path, config: &Path) -> Command {
    let mut command = Command::new(nginx);
    command
        .arg("-e")
        .arg("stderr")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(config);
    command
}

/// The main configuration around the site file: what the nginx image's own nginx.conf
/// holds, with every path inside `dir`.
fn main_config(dir: &Path, site: &Path) -> String {
    let d = dir.display();
    let temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
        .map(|t| format!("    {t}_temp_path {d}/{t}_temp;\n"))
        .concat();
    format!(
        "pid {d}/nginx.pid;\n\
         error_log {d}/error.log warn;\n\
         worker_processes 1;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n\
         \x20   access_log {d}/access.log;\n\
         {temp}\
         \x20   include {};\n\
         }}\n",
        site.display()
    )
}

/// The value of the nginx directive `name` in `config` (its first use).
pub fn directive<'c>(config: &'c str, name: &str) -> &'c str {
    config
        .lines()
        .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{name} in {TEMPLATE}"))
        .trim_end_matches(';')
}

/// A size (`21m`, `512k`) or a time (`75s`, `2m`) of nginx's, in bytes or seconds.
pub fn nginx_quantity(value: &str, units: &[(char, u64)]) -> u64 {
    let (number, unit) = value.split_at(value.len() - 1);
    let factor = units.iter().find(|(u, _)| unit.starts_with(*u)).unwrap().1;
    number.parse::<u64>().unwrap() * factor
}

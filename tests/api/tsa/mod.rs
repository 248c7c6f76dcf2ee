//! RFC 3161 timestamps (`src/tsa/`): the co-hosted time-stamp authority driven by the
//! real `openssl ts` command, and the depot's TSA client against it and against TSAs we
//! did not write.
//!
//! This module holds the calls the tests share; `pki` makes certificates with the
//! `openssl` command (the depot tests use it too). The tests are in `authority` (what
//! the authority answers and refuses), `configuration` (its generated or configured
//! certificate and key) and `client`.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::helpers::TestApp;

mod authority;
mod client;
mod configuration;
pub mod pki;

use self::pki::openssl;

/// A system client with scope `tsa` and a token for it.
pub(crate) async fn tsa_token(app: &TestApp) -> String {
    let client = app
        .register_system_client("stamper", &["tsa"], json!({}))
        .await;
    app.token_for(&client, &[("scope", "tsa")]).await
}

pub(crate) async fn post_query(app: &TestApp, token: &str, body: Vec<u8>) -> reqwest::Response {
    app.http
        .post(app.url("/tsa"))
        .bearer_auth(token)
        .header("content-type", "application/timestamp-query")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Posts `query` (a file in `dir`) and stores the reply as `reply`; asserts a 200
/// `application/timestamp-reply`.
async fn stamp_file(app: &TestApp, token: &str, dir: &Path, query: &str, reply: &str) {
    let response = post_query(app, token, std::fs::read(dir.join(query)).unwrap()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/timestamp-reply"
    );
    std::fs::write(dir.join(reply), response.bytes().await.unwrap()).unwrap();
}

/// Saves `GET /tsa/certs` as `chain.pem` and the root (its last certificate) as
/// `root.pem`; returns the chain text.
async fn save_chain(app: &TestApp, dir: &Path) -> String {
    let response = app.http.get(app.url("/tsa/certs")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/pem-certificate-chain"
    );
    let chain = response.text().await.unwrap();
    std::fs::write(dir.join("chain.pem"), &chain).unwrap();
    let start = chain.rfind("-----BEGIN CERTIFICATE-----").unwrap();
    std::fs::write(dir.join("root.pem"), &chain[start..]).unwrap();
    std::fs::write(dir.join("tsa.pem"), &chain[..start]).unwrap();
    chain
}

pub(crate) fn serial_of(dir: &Path, reply: &str) -> u64 {
    let text = openssl(dir, &["ts", "-reply", "-in", reply, "-text"]);
    let line = text
        .lines()
        .find(|l| l.starts_with("Serial number:"))
        .unwrap_or_else(|| panic!("no serial in\n{text}"));
    let hex = line.trim_start_matches("Serial number:").trim();
    u64::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap()
}

pub(crate) fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    std::fs::write(
        path.join("data.bin"),
        b"a sealed message, exactly these bytes",
    )
    .unwrap();
    (dir, path)
}

//! `docs/asyncapi.yaml` read by the official AsyncAPI parser (`@asyncapi/parser`, on
//! Node.js): the document is valid AsyncAPI 3.0.0, it names the exchange and routing key
//! this crate publishes to, its payload is the schema file, and each of its examples is
//! a valid body. `.ci/run` installs the parser into `~/.cache/depot-ci/asyncapi`
//! (`ASYNCAPI_NODE_MODULES` points elsewhere); without it the test prints `skipped`,
//! and fails with `CI=true`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::contract;

/// Prints, as JSON, the parser's diagnostics and what the test compares with the code.
const CHECK: &str = r#"
const { Parser, fromFile } = require('@asyncapi/parser');
(async () => {
  const { document, diagnostics } =
    await fromFile(new Parser(), process.env.ASYNCAPI_DOCUMENT).parse();
  const out = {
    diagnostics: diagnostics.map(d => ({
      severity: d.severity, code: d.code, message: d.message, path: d.path.join('/'),
    })),
  };
  if (document) {
    out.channels = document.channels().all().map(c => ({
      address: c.address(),
      amqp: c.bindings().has('amqp') ? c.bindings().get('amqp').value() : null,
    }));
    out.messages = document.allMessages().all().map(m => ({
      contentType: m.contentType(),
      payload: m.payload().json(),
      examples: m.examples().all().map(e => e.payload()),
    }));
  }
  console.log(JSON.stringify(out));
})().catch(e => { console.error(e); process.exit(2); });
"#;

/// Severity 0 in the parser's diagnostics (Spectral's `DiagnosticSeverity.Error`).
const ERROR: u64 = 0;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `node_modules` that holds `@asyncapi/parser`, or `None` (and a `skipped` line;
/// a failure with `CI=true`) when it or Node.js is missing.
fn parser_modules() -> Option<PathBuf> {
    let modules = std::env::var_os("ASYNCAPI_NODE_MODULES")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|home| PathBuf::from(home).join(".cache/depot-ci/asyncapi/node_modules"))
        })?;
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let parser = modules.join("@asyncapi/parser/package.json").is_file();
    if node && parser {
        return Some(modules);
    }
    let missing = if node {
        format!("@asyncapi/parser not in {}", modules.display())
    } else {
        "node not installed".to_owned()
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{missing}, and CI=true (.ci/run installs it)"
    );
    println!("skipped: {missing}");
    None
}

#[test]
fn the_asyncapi_document_is_valid_and_matches_what_is_published() {
    let Some(modules) = parser_modules() else {
        return;
    };
    let document = repository().join("docs/asyncapi.yaml");
    let output = Command::new("node")
        .arg("-e")
        .arg(CHECK)
        .env("NODE_PATH", &modules)
        .env("ASYNCAPI_DOCUMENT", &document)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the parser failed: {stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();

    let errors: Vec<&Value> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == ERROR)
        .collect();
    assert!(errors.is_empty(), "not valid AsyncAPI: {errors:#?}");

    let channels = report["channels"].as_array().unwrap();
    assert_eq!(channels.len(), 1, "{channels:?}");
    let channel = &channels[0];
    assert_eq!(channel["address"], queues::routing_key("{application}"));
    let exchange = &channel["amqp"]["exchange"];
    assert_eq!(channel["amqp"]["is"], "routingKey");
    assert_eq!(exchange["name"], queues::EXCHANGE);
    assert_eq!(exchange["type"], "topic");
    assert_eq!(exchange["durable"], true);

    let schema: Value = serde_json::from_str(contract::SCHEMA).unwrap();
    let messages = report["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = &messages[0];
    assert_eq!(message["contentType"], "application/json");
    assert_eq!(
        message["payload"]["$id"], schema["$id"],
        "the payload is the schema file"
    );
    let examples = message["examples"].as_array().unwrap();
    assert!(!examples.is_empty(), "the message has examples");
    for example in examples {
        contract::assert_valid(&serde_json::to_vec(example).unwrap());
    }
}

//! The notification contract, checked on every body a test consumes: the JSON Schema
//! `docs/notifications/message-received.v1.schema.json` (draft 2020-12, with `format`
//! asserted), compiled once per test binary with `boon`. The depot's API tests include
//! this file too (`tests/api/depot/amqp.rs`), so both suites check the same file.

use std::sync::OnceLock;

use boon::{Compiler, SchemaIndex, Schemas};
use serde_json::Value;

/// The schema document, as consumers get it from the repository.
pub const SCHEMA: &str =
    include_str!("../../../docs/notifications/message-received.v1.schema.json");

struct Contract {
    schemas: Schemas,
    index: SchemaIndex,
}

fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let schema: Value = serde_json::from_str(SCHEMA).expect("the schema is JSON");
        let id = schema["$id"]
            .as_str()
            .expect("the schema has an $id")
            .to_owned();
        let mut compiler = Compiler::new();
        compiler.enable_format_assertions();
        compiler
            .add_resource(&id, schema)
            .expect("the $id is a URI");
        let mut schemas = Schemas::new();
        let index = compiler
            .compile(&id, &mut schemas)
            .unwrap_or_else(|e| panic!("the schema does not compile: {e:#}"));
        Contract { schemas, index }
    })
}

/// Why `body` is not a valid version 1 notification, if it is not.
pub fn violation(body: &[u8]) -> Option<String> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => return Some(format!("not JSON: {e}")),
    };
    let contract = contract();
    contract
        .schemas
        .validate(&value, contract.index)
        .err()
        .map(|e| format!("{e:#}"))
}

/// Panics unless `body` validates against the schema.
pub fn assert_valid(body: &[u8]) {
    if let Some(violation) = violation(body) {
        panic!(
            "a notification body breaks {}:\n{}\n{violation}",
            "docs/notifications/message-received.v1.schema.json",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn the_schema_tells_a_good_body_from_a_bad_one() {
    let good = serde_json::json!({
        "type": "message.received",
        "version": 1,
        "messageId": "019ae4f2-7c1b-7a3e-9b2d-5f0c8e6a4d21",
        "application": "ehbox",
        "recipient": {"type": "ssin", "value": "85073003328"},
        "receivedAt": "2026-12-03T17:28:58.123Z"
    });
    let bytes = |v: &Value| serde_json::to_vec(v).unwrap();
    assert_eq!(violation(&bytes(&good)), None);
    // The schema's own example is a valid body.
    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    assert_eq!(violation(&bytes(&schema["examples"][0])), None);

    let changed = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut body = good.clone();
        f(body.as_object_mut().unwrap());
        bytes(&body)
    };
    let bad = [
        ("no version", changed(&|b| drop(b.remove("version")))),
        (
            "version 2",
            changed(&|b| drop(b.insert("version".into(), 2.into()))),
        ),
        (
            "version \"1\"",
            changed(&|b| drop(b.insert("version".into(), "1".into()))),
        ),
        ("no messageId", changed(&|b| drop(b.remove("messageId")))),
        (
            "another type",
            changed(&|b| drop(b.insert("type".into(), "message.read".into()))),
        ),
        (
            "messageId not a UUID",
            changed(&|b| drop(b.insert("messageId".into(), "msg-1".into()))),
        ),
        (
            "an offset instead of Z",
            changed(&|b| {
                drop(b.insert("receivedAt".into(), "2026-12-03T17:28:58.123+00:00".into()))
            }),
        ),
        (
            "no milliseconds",
            changed(&|b| drop(b.insert("receivedAt".into(), "2026-12-03T17:28:58Z".into()))),
        ),
        (
            "a month 13",
            changed(&|b| drop(b.insert("receivedAt".into(), "2026-13-03T17:28:58.123Z".into()))),
        ),
        (
            "a 10-digit SSIN",
            changed(&|b| {
                drop(b.insert(
                    "recipient".into(),
                    serde_json::json!({"type": "ssin", "value": "8507300332"}),
                ))
            }),
        ),
        (
            "an unknown identifier type",
            changed(&|b| {
                drop(b.insert(
                    "recipient".into(),
                    serde_json::json!({"type": "email", "value": "a@b.be"}),
                ))
            }),
        ),
        (
            "a dot in the application",
            changed(&|b| drop(b.insert("application".into(), "eh.box".into()))),
        ),
        (
            "content",
            changed(&|b| drop(b.insert("sealed".into(), "eyJ…".into()))),
        ),
    ];
    for (what, body) in bad {
        assert!(violation(&body).is_some(), "{what} must not validate");
    }
    assert!(violation(b"not json").is_some());
}

//! The keystore's transparency log, checked by implementations that are not ours:
//! pymerkle (RFC 9162 trees) computes the roots, the RFC's own recursive definitions of
//! PATH and PROOF (§2.1.3.1, §2.1.4.1, written out in Python below) give the proofs to
//! expect, RFC 8785 canonical JSON is Python's sorted compact `json.dumps`, and
//! jwcrypto verifies the signed tree heads with the published JWK Set.

use sea_orm::ConnectionTrait;

use super::*;

/// Runs the checks of `input["checks"]`; answers one boolean per check.
const LOG_CHECK: &str = r#"
import base64, hashlib, json, sys, warnings
from pymerkle import InmemoryTree
from jwcrypto import jwk, jws

given = json.load(sys.stdin)
entries = [e.encode() for e in given.get("entries", [])]

def b64d(s): return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
def h(b): return hashlib.sha256(b).digest()
def leaf(b): return h(b"\x00" + b)
def node(l, r): return h(b"\x01" + l + r)
def split(n):
    k = 1
    while k * 2 < n: k *= 2
    return k
def mth(d):
    if len(d) == 1: return leaf(d[0])
    k = split(len(d)); return node(mth(d[:k]), mth(d[k:]))
def path(m, d):
    if len(d) == 1: return []
    k = split(len(d))
    return path(m, d[:k]) + [mth(d[k:])] if m < k else path(m - k, d[k:]) + [mth(d[:k])]
def subproof(m, d, b):
    n = len(d)
    if m == n: return [] if b else [mth(d)]
    k = split(n)
    if m <= k: return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]
def verify_inclusion(entry, index, size, proof, root):  # RFC 9162 2.1.3.2
    if index >= size: return False
    fn, sn, r = index, size - 1, leaf(entry)
    for p in proof:
        if sn == 0: return False
        if fn % 2 == 1 or fn == sn:
            r = node(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0: fn >>= 1; sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1; sn >>= 1
    return sn == 0 and r == root
def millis(t):
    whole, _, rest = t.rstrip("Z").partition(".")
    return whole + "." + (rest + "000")[:3] + "Z"
def rebuilt(view):
    shown = ("status", "not_before", "not_after", "revoked_at", "client_id", "identity", "log")
    entry = {"event": view["log"]["event"], "kid": view["kid"],
             "jwk": {k: v for k, v in view.items() if k not in shown},
             "identity": view["identity"], "client_id": view["client_id"],
             "not_before": millis(view["not_before"]), "not_after": millis(view["not_after"])}
    if entry["event"] == "revoked": entry["revoked_at"] = millis(view["revoked_at"])
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

tree = InmemoryTree(algorithm="sha256")
for e in entries: tree.append_entry(e)
warnings.simplefilter("ignore")
out = []
for c in given["checks"]:
    kind = c["kind"]
    if kind == "root":
        out.append(tree.get_state(c["size"]) == b64d(c["root"]) == mth(entries[:c["size"]]))
    elif kind == "inclusion":
        out.append([b64d(p) for p in c["proof"]] == path(c["index"], entries[:c["size"]]))
    elif kind == "consistency":
        out.append([b64d(p) for p in c["proof"]] == subproof(c["from"], entries[:c["size"]], True))
    elif kind == "vouch":
        view = c["view"]
        out.append(verify_inclusion(rebuilt(view), view["log"]["index"], c["size"],
                                    [b64d(p) for p in view["log"]["proof"]], b64d(c["root"])))
    elif kind == "head":
        token = jws.JWS()
        token.deserialize(c["jwt"])
        keys = jwk.JWKSet.from_json(json.dumps(c["jwks"]))
        try:
            token.verify(keys)
            claims = json.loads(token.payload)
            out.append(token.jose_header.get("typ") == "tree-head+jwt"
                       and claims["tree_size"] == c["size"] and claims["root_hash"] == c["root"])
        except Exception:
            out.append(False)
print(json.dumps(out))
"#;

/// Whether pymerkle and jwcrypto are there; without them the log tests skip, unless
/// `CI=true`, where they fail.
fn checkers_available() -> bool {
    let available = std::process::Command::new("python3")
        .args(["-c", "import pymerkle, jwcrypto"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "python3 pymerkle or jwcrypto missing, and CI=true: pip install pymerkle jwcrypto"
        );
        eprintln!("skipped: python3 pymerkle or jwcrypto missing (pip install pymerkle jwcrypto)");
    }
    available
}

/// The answers of the independent checks, one per check.
fn checked(entries: &[String], checks: Vec<Value>) -> Vec<bool> {
    let out = crate::symkeys::jwcrypto(LOG_CHECK, &json!({"entries": entries, "checks": checks}));
    serde_json::from_str(&out).unwrap()
}

async fn read(app: &TestApp, token: &str, path: &str) -> Value {
    let response = app.get(path, token).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// Each entry's (event, kid).
fn events_of(entries: &[String]) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|e| serde_json::from_str::<Value>(e).unwrap())
        .map(|e| {
            (
                e["event"].as_str().unwrap().into(),
                e["kid"].as_str().unwrap().into(),
            )
        })
        .collect()
}

async fn all_entries(app: &TestApp, token: &str) -> Vec<String> {
    let page = read(app, token, "/keys/log/entries").await;
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, e)| {
            assert_eq!(e["index"], json!(i));
            e["entry"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn key_events_are_logged_and_every_proof_checks_out_with_independent_implementations() {
    if !checkers_available() {
        return;
    }
    let app = spawn_app().await;
    app.register_organization(CBE, "Hospital").await;
    let gw = bare_system_client(&app, "gw", &["keys:read"], json!({"organization": CBE})).await;
    let token = app.token_for(&gw, &[]).await;
    let first = read(&app, &token, "/keys/log/head").await;
    let first_size = first["tree_size"].as_u64().unwrap();
    assert!(first_size >= 1, "the client's key is logged: {first}");

    // Two keys added, one revoked: three more events, in that order.
    let enc = ClientKey::generate("gw-enc-1");
    let second = ClientKey::generate("gw-key-2");
    for (kid, key, key_use) in [("gw-enc-1", &enc, "enc"), ("gw-key-2", &second, "sig")] {
        app.admin_create(
            "/admin/keys",
            &json!({"client_id": "gw", "use": key_use, "name": kid, "jwk": bare_jwk(key)}),
        )
        .await;
    }
    let admin = app.admin_token().await;
    assert_eq!(
        delete(&app, "/admin/keys/gw-enc-1", &admin).await.status(),
        204
    );
    // Revoking it again changes nothing, and logs nothing.
    assert_eq!(
        delete(&app, "/admin/keys/gw-enc-1", &admin).await.status(),
        204
    );

    let entries = all_entries(&app, &token).await;
    let size = entries.len() as u64;
    assert_eq!(size, first_size + 3);
    let events = events_of(&entries);
    assert_eq!(
        events[events.len() - 4..],
        [
            ("registered".into(), "gw-key-1".into()),
            ("registered".into(), "gw-enc-1".into()),
            ("registered".into(), "gw-key-2".into()),
            ("revoked".into(), "gw-enc-1".into()),
        ]
    );
    let revoked: Value = serde_json::from_str(&entries[entries.len() - 1]).unwrap();
    assert_eq!(revoked["identity"], json!({"type": "cbe", "value": CBE}));
    assert_eq!(revoked["client_id"], "gw");
    assert_eq!(revoked["jwk"]["x"], enc.public_jwk["x"]);
    assert!(revoked["revoked_at"].as_str().unwrap().ends_with('Z'));

    // The head, its signature, every inclusion proof and the consistency proofs from
    // every earlier size, against pymerkle and the RFC's definitions.
    let head = read(&app, &token, "/keys/log/head").await;
    assert_eq!(head["tree_size"], json!(size));
    let root = head["root_hash"].as_str().unwrap().to_owned();
    let mut checks = vec![
        json!({"kind": "root", "size": size, "root": root}),
        json!({"kind": "root", "size": first_size, "root": first["root_hash"]}),
        json!({"kind": "head", "jwt": head["signed_head"], "jwks": app.jwks().await,
               "size": size, "root": root}),
    ];
    for index in 0..size {
        let proof = read(&app, &token, &format!("/keys/log/inclusion?index={index}")).await;
        assert_eq!(proof["entry"].as_str().unwrap(), entries[index as usize]);
        assert_eq!(proof["head"]["root_hash"], json!(root));
        checks.push(
            json!({"kind": "inclusion", "index": index, "size": size, "proof": proof["proof"]}),
        );
    }
    for from in 1..=size {
        let proof = read(&app, &token, &format!("/keys/log/consistency?from={from}")).await;
        assert_eq!(proof["tree_size"], json!(size));
        checks.push(
            json!({"kind": "consistency", "from": from, "size": size, "proof": proof["proof"]}),
        );
    }
    let results = checked(&entries, checks.clone());
    assert!(results.iter().all(|ok| *ok), "{results:?}\n{checks:?}");

    // A proof that is wrong is caught by the same checks (they can fail).
    let mut wrong = checks[3].clone();
    wrong["index"] = json!(1);
    let mut forged = checks[2].clone();
    forged["root"] = checks[1]["root"].clone();
    assert_eq!(checked(&entries, vec![wrong, forged]), [false, false]);

    // Deleting the client revokes its live keys, each logged.
    assert_eq!(
        delete(&app, "/admin/clients/gw", &admin).await.status(),
        204
    );
    let other =
        bare_system_client(&app, "other", &["keys:read"], json!({"organization": CBE})).await;
    let token = app.token_for(&other, &[]).await;
    let after = all_entries(&app, &token).await;
    assert_eq!(
        after[..entries.len()],
        entries[..],
        "appended to, never changed"
    );
    let events = events_of(&after[entries.len()..]);
    assert_eq!(
        events,
        [
            ("revoked".into(), "gw-key-1".into()),
            ("revoked".into(), "gw-key-2".into()),
            ("registered".into(), "other-key-1".into()),
        ]
    );
}

#[tokio::test]
async fn the_jwks_vouches_for_each_key_and_a_key_changed_in_the_database_no_longer_verifies() {
    if !checkers_available() {
        return;
    }
    let app = spawn_app().await;
    app.register_organization(CBE, "Hospital").await;
    let gw = bare_system_client(&app, "gw", &["keys:read"], json!({"organization": CBE})).await;
    let second = ClientKey::generate("gw-key-2");
    app.admin_create(
        "/admin/keys",
        &json!({"client_id": "gw", "use": "sig", "name": "second", "jwk": bare_jwk(&second)}),
    )
    .await;
    // A search as of a moment the second key was active, before its revocation.
    let active_then = app.clock.now() + chrono::Duration::milliseconds(1);
    app.clock.advance(2);
    let admin = app.admin_token().await;
    assert_eq!(
        delete(&app, "/admin/keys/gw-key-2", &admin).await.status(),
        204
    );
    let token = app.token_for(&gw, &[]).await;

    let vouched = |answer: &Value| -> Vec<Value> {
        let head = &answer["log_head"];
        answer["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|view| {
                json!({"kind": "vouch", "view": view, "size": head["tree_size"],
                       "root": head["root_hash"]})
            })
            .collect()
    };
    let now_answer = read(&app, &token, "/keys/jwks?client_id=gw").await;
    let views = now_answer["keys"].as_array().unwrap();
    assert_eq!(kids(views), vec!["gw-key-1".to_owned()]);
    assert_eq!(views[0]["log"]["event"], "registered");
    let earlier = read(
        &app,
        &token,
        &format!("/keys/jwks?client_id=gw&at={}", millis_text(active_then)),
    )
    .await;
    let revoked: Vec<&Value> = earlier["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["kid"] == "gw-key-2")
        .collect();
    assert_eq!(revoked.len(), 1, "{earlier}");
    assert_eq!(revoked[0]["log"]["event"], "revoked");
    let mut checks = vouched(&now_answer);
    checks.extend(vouched(&earlier));
    checks.push(
        json!({"kind": "head", "jwt": now_answer["log_head"]["signed_head"],
                       "jwks": app.jwks().await, "size": now_answer["log_head"]["tree_size"],
                       "root": now_answer["log_head"]["root_hash"]}),
    );
    let results = checked(&[], checks);
    assert!(results.iter().all(|ok| *ok), "{results:?}");

    // Someone with access to the database swaps the client's key for theirs, or
    // moves its validity: the directory shows it, and the proof no longer holds.
    let theirs = ClientKey::generate("gw-key-1");
    let jwk = bare_jwk(&theirs).to_string().replace('\'', "''");
    app.state
        .db
        .execute_unprepared(&format!(
            "UPDATE public_key SET jwk = '{jwk}' WHERE kid = 'gw-key-1'"
        ))
        .await
        .unwrap();
    let swapped = read(&app, &token, "/keys/jwks?client_id=gw").await;
    assert_eq!(swapped["keys"][0]["x"], theirs.public_jwk["x"]);
    assert_eq!(checked(&[], vouched(&swapped)), [false]);
}

#[tokio::test]
async fn bad_log_queries_are_named_and_the_log_needs_keys_read() {
    let app = spawn_app().await;
    app.register_organization(CBE, "Hospital").await;
    let gw = bare_system_client(&app, "gw", &["keys:read"], json!({"organization": CBE})).await;
    let token = app.token_for(&gw, &[]).await;
    let size = read(&app, &token, "/keys/log/head").await["tree_size"]
        .as_u64()
        .unwrap();
    problem(
        app.get(&format!("/keys/log/inclusion?index={size}"), &token)
            .await,
        404,
        "an index past the log",
    )
    .await;
    invalid_field(
        app.get("/keys/log/consistency?from=0", &token).await,
        "from",
        "from 0",
    )
    .await;
    invalid_field(
        app.get(&format!("/keys/log/consistency?from={}", size + 1), &token)
            .await,
        "from",
        "from past the log",
    )
    .await;
    invalid_field(
        app.get("/keys/log/entries?count=0", &token).await,
        "count",
        "count 0",
    )
    .await;
    invalid_field(
        app.get("/keys/log/entries?count=1001", &token).await,
        "count",
        "count 1001",
    )
    .await;
    // A query that does not parse is a 400, as everywhere (problem::query_error).
    for (query, what) in [
        ("index=-1", "a negative index"),
        ("", "no index"),
        ("index=1&x=2", "an unknown parameter"),
    ] {
        let response = app
            .get(&format!("/keys/log/inclusion?{query}"), &token)
            .await;
        assert_eq!(response.status(), 400, "{what}");
    }
    let page = read(&app, &token, &format!("/keys/log/entries?start={size}")).await;
    assert_eq!(page["entries"], json!([]), "past the end: an empty page");
    for path in [
        "/keys/log/head",
        "/keys/log/entries",
        "/keys/log/inclusion?index=0",
    ] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 401, "{path} without a token");
    }
    let other =
        bare_system_client(&app, "other", &["depot:send"], json!({"organization": CBE})).await;
    let without = app.token_for(&other, &[]).await;
    assert_eq!(app.get("/keys/log/head", &without).await.status(), 403);
}

fn millis_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A key registered at one instance is vouched for at the other at once: the other's
/// tree is read again when a key it is asked for is not in it yet, without waiting for
/// its registry watch to tell it of the change.
#[tokio::test]
async fn a_key_registered_at_one_instance_is_vouched_for_at_the_other_at_once() {
    if !crate::two_instances::on_postgres() {
        return;
    }
    let a = spawn_app().await;
    let b = spawn_second_instance(&a).await;
    a.register_organization(CBE, "Hospital").await;
    let gw = bare_system_client(&a, "gw", &["keys:read"], json!({"organization": CBE})).await;
    let token = a.token_for(&gw, &[]).await;
    let first = read(&b, &token, "/keys/jwks?client_id=gw").await;
    assert!(first["keys"][0]["log"]["proof"].is_array(), "{first}");

    let second = ClientKey::generate("gw-key-2");
    a.admin_create(
        "/admin/keys",
        &json!({"client_id": "gw", "use": "sig", "name": "second", "jwk": bare_jwk(&second)}),
    )
    .await;
    let answer = read(&b, &token, "/keys/jwks?client_id=gw").await;
    let views = answer["keys"].as_array().unwrap();
    assert_eq!(kids(views), ["gw-key-1", "gw-key-2"]);
    assert!(
        views.iter().all(|v| v["log"]["proof"].is_array()),
        "{answer}"
    );
    let head = read(&a, &token, "/keys/log/head").await;
    assert_eq!(answer["log_head"]["tree_size"], head["tree_size"]);
    assert_eq!(answer["log_head"]["root_hash"], head["root_hash"]);
}

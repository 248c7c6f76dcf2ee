//! Each instance caches clients and the key references its tokens list (issue 25,
//! item 1); a registration changed at one instance reaches the other's caches through
//! the database's registry version, which every instance reads every quarter second,
//! never after a time-to-live. PostgreSQL only (SQLite is one instance's file; a second
//! process on it is `cli::bootstrap_registers_an_administrator_who_can_then_act`).
//! The waits below allow seconds so that a loaded machine does not fail them; the
//! figure (a quarter second) is the benchmark's business.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::keys::bare_jwk;

fn kids_of(token: &str) -> Vec<String> {
    jwt_claims(token)["keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter_map(|k| k["kid"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_registration_changed_at_one_instance_reaches_the_others_cache() {
    if postgres_url().is_none() {
        println!("skipped: DATABASE_URL not set (PostgreSQL only)");
        return;
    }
    let a = spawn_app().await;
    let b = spawn_second_instance(&a).await;
    let gw = a.register_system_client("gw", &["tsa"], json!({})).await;
    // B reads the client and its key references, and keeps them.
    let before = kids_of(&b.token_for(&gw, &[]).await);

    // A key registered at A: B's tokens list it.
    let key = ClientKey::generate("gw-enc-1");
    let created: Value = a
        .admin_create(
            "/admin/keys",
            &json!({"client_id": "gw", "use": "enc", "name": "Gateway encryption",
                    "jwk": bare_jwk(&key)}),
        )
        .await;
    let kid = created["kid"].as_str().unwrap().to_owned();
    assert!(!before.contains(&kid));
    eventually("the new key in B's tokens", || async {
        kids_of(&b.token_for(&gw, &[]).await).contains(&kid)
    })
    .await;

    // The client deleted at A: B refuses its assertions and its tokens.
    let token = b.token_for(&gw, &[]).await;
    let admin = a.admin_token().await;
    let deleted = a
        .http
        .delete(a.url("/admin/clients/gw"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    eventually("B refusing the deleted client's assertion", || async {
        let assertion = gw.key.sign(&gw.claims(&b.token_endpoint(), b.now()));
        b.token_request(&assertion, &[]).await.status() == 401
    })
    .await;
    eventually("B refusing the deleted client's token", || async {
        let assertion = b.admin.key.sign(&b.admin.claims(&b.issuer, b.now()));
        let answer = b
            .post_form(
                "/oauth2/introspect",
                &[
                    ("token", token.as_str()),
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", &assertion),
                ],
            )
            .await;
        answer.status() != 200 || {
            let body: Value = answer.json().await.unwrap();
            body["active"] == json!(false)
        }
    })
    .await;
}

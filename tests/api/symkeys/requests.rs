//! Requests refused before any key is read or stored: malformed bodies naming the field,
//! the configured maximum TTL, and tokens lacking the right scope or audience.

use super::*;
use crate::keys::invalid_field;

#[tokio::test]
async fn malformed_requests_are_refused_naming_the_field_and_nothing_is_stored() {
    let app = symkeys_app().await;
    let (_, token) = system_creator(&app, "hospital-gw", CBE).await;
    let good_ssin = ssin("850730033");
    let bad_ssin = format!(
        "{}{:02}",
        &good_ssin[..9],
        (good_ssin[9..].parse::<u8>().unwrap() + 1) % 100
    );
    let allow = |selectors: Value| json!({"policy": {"allow": selectors}, "ttlSeconds": 60});
    let cases: Vec<(&str, Value, &str)> = vec![
        ("empty allow", allow(json!([])), "policy.allow"),
        (
            "missing allow",
            json!({"policy": {}, "ttlSeconds": 60}),
            "policy.allow",
        ),
        (
            "missing allow, with deny",
            json!({"policy": {"deny": [sel("ssin", &good_ssin)]}, "ttlSeconds": 60}),
            "policy.allow",
        ),
        (
            "unknown selector type",
            allow(json!([sel("email", "a@b.be")])),
            "policy.allow[0].type",
        ),
        (
            "unknown selector type after a good one",
            allow(json!([
                sel("ssin", &good_ssin),
                sel("passport", "EA123456")
            ])),
            "policy.allow[1].type",
        ),
        (
            "unknown selector type in deny",
            json!({"policy": {"allow": [sel("profile", "citizen")],
                              "deny": [sel("quality", "nurse"), sel("group", "x")]},
                   "ttlSeconds": 60}),
            "policy.deny[1].type",
        ),
        (
            "ssin with a bad checksum",
            allow(json!([sel("ssin", &bad_ssin)])),
            "policy.allow[0].value",
        ),
        (
            "ssin too short",
            allow(json!([sel("ssin", "8507300")])),
            "policy.allow[0].value",
        ),
        (
            "nihii with a bad checksum",
            allow(json!([
                sel("profile", "citizen"),
                sel("nihii", "12345600004")
            ])),
            "policy.allow[1].value",
        ),
        (
            "cbe with a bad checksum",
            allow(json!([sel("cbe", "0203201341")])),
            "policy.allow[0].value",
        ),
        (
            "unknown quality",
            allow(json!([sel("quality", "wizard")])),
            "policy.allow[0].value",
        ),
        (
            "unknown profile",
            allow(json!([sel("profile", "king")])),
            "policy.allow[0].value",
        ),
        (
            "bad ssin in deny",
            json!({"policy": {"allow": [sel("profile", "citizen")], "deny": [sel("ssin", &bad_ssin)]},
                   "ttlSeconds": 60}),
            "policy.deny[0].value",
        ),
        (
            "ttl missing",
            json!({"policy": {"allow": [sel("profile", "citizen")]}}),
            "ttlSeconds",
        ),
        (
            "ttl zero",
            json!({"policy": {"allow": [sel("profile", "citizen")]}, "ttlSeconds": 0}),
            "ttlSeconds",
        ),
        (
            "ttl negative",
            json!({"policy": {"allow": [sel("profile", "citizen")]}, "ttlSeconds": -60}),
            "ttlSeconds",
        ),
        (
            "ttl above the default maximum",
            json!({"policy": {"allow": [sel("profile", "citizen")]},
                   "ttlSeconds": DEFAULT_MAX_TTL + 1}),
            "ttlSeconds",
        ),
        (
            "unknown member of the policy",
            json!({"policy": {"allow": [sel("profile", "citizen")], "color": "red"},
                   "ttlSeconds": 60}),
            "policy.color",
        ),
        (
            "unknown top-level member",
            json!({"policy": {"allow": [sel("profile", "citizen")]}, "ttlSeconds": 60,
                   "color": "red"}),
            "color",
        ),
        (
            "policy is a string",
            json!({"policy": "everyone", "ttlSeconds": 60}),
            "policy",
        ),
        (
            "policy is an array",
            json!({"policy": [sel("profile", "citizen")], "ttlSeconds": 60}),
            "policy",
        ),
    ];
    for (what, body, field) in &cases {
        let response = app.post_json("/symkeys", &token, body).await;
        invalid_field(response, field, &format!("{what}: {body}")).await;
    }

    let not_json = app
        .http
        .post(app.url("/symkeys"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"policy\": {\"allow\": [")
        .send()
        .await
        .unwrap();
    problem(not_json, 400, "a body that is not JSON").await;
    let wrong_type = app
        .http
        .post(app.url("/symkeys"))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body(key_request(json!([sel("profile", "citizen")]), None, None, 60).to_string())
        .send()
        .await
        .unwrap();
    problem(wrong_type, 415, "a JSON body sent as text/plain").await;

    assert_eq!(
        stored_keys(&app).await,
        0,
        "no refused request stored a key"
    );
    let all = events(&app, &[("limit", "1000")]).await;
    assert!(
        !names(&all).contains(&"created"),
        "no refused request is audited as created: {all:?}"
    );

    // The boundary itself is accepted.
    create(
        &app,
        &token,
        &key_request(
            json!([sel("profile", "citizen")]),
            None,
            None,
            DEFAULT_MAX_TTL,
        ),
    )
    .await;
    assert_eq!(stored_keys(&app).await, 1);
}

#[tokio::test]
async fn the_configured_maximum_ttl_is_enforced() {
    let app = symkeys_app_with(|s| s.symkeys.symkey_max_ttl_seconds = 3600).await;
    let (_, token) = system_creator(&app, "hospital-gw", CBE).await;
    let response = app
        .post_json(
            "/symkeys",
            &token,
            &key_request(json!([sel("profile", "citizen")]), None, None, 3601),
        )
        .await;
    invalid_field(response, "ttlSeconds", "a ttl above the lowered maximum").await;
    assert_eq!(stored_keys(&app).await, 0, "nothing stored");
    let all = events(&app, &[]).await;
    assert!(
        !names(&all).contains(&"created"),
        "nothing audited as created: {all:?}"
    );
    create(
        &app,
        &token,
        &key_request(json!([sel("profile", "citizen")]), None, None, 3600),
    )
    .await;
    assert_eq!(stored_keys(&app).await, 1, "the maximum itself is accepted");
}

// ---- tokens -------------------------------------------------------------------------

#[tokio::test]
async fn calls_need_a_token_with_the_right_scope_and_audience() {
    let app = symkeys_app().await;
    let (_, creator_token) = system_creator(&app, "hospital-gw", CBE).await;
    let created = create(
        &app,
        &creator_token,
        &key_request(json!([sel("profile", "system")]), None, None, 3600),
    )
    .await;
    let id = key_id(&created);
    let body = key_request(json!([sel("profile", "citizen")]), None, None, 60);

    let no_token = [
        (
            "POST",
            app.http.post(app.url("/symkeys")).json(&body).send().await,
        ),
        (
            "GET",
            app.http
                .get(app.url(&format!("/symkeys/{id}")))
                .send()
                .await,
        ),
        (
            "DELETE",
            app.http
                .delete(app.url(&format!("/symkeys/{id}")))
                .send()
                .await,
        ),
    ];
    for (method, response) in no_token {
        let response = response.unwrap();
        assert_eq!(response.status(), 401, "{method} without a token");
        assert!(
            response.headers().contains_key("www-authenticate"),
            "{method} without a token: a WWW-Authenticate challenge"
        );
    }
    let bad = app.post_json("/symkeys", "not.a.token", &body).await;
    assert_eq!(bad.status(), 401, "a token that is not ours");

    let read_only_client = app
        .register_system_client("reader", &["symkeys:read"], json!({}))
        .await;
    let read_only = app
        .token_for(&read_only_client, &[("scope", "symkeys:read")])
        .await;
    let response = app.post_json("/symkeys", &read_only, &body).await;
    assert_eq!(
        response.status(),
        403,
        "POST with a symkeys:read token: {}",
        response.text().await.unwrap()
    );
    let response = delete(&app, &read_only, id).await;
    assert_eq!(response.status(), 403, "DELETE with a symkeys:read token");
    reads(
        &app,
        &creator_token,
        &created,
        "the key after the refused DELETE",
    )
    .await;

    let keys_client = app
        .register_system_client("keys-reader", &["keys:read"], json!({}))
        .await;
    let keys_token = app.token_for(&keys_client, &[("scope", "keys:read")]).await;
    let response = app.post_json("/symkeys", &keys_token, &body).await;
    assert_eq!(response.status(), 403, "POST with a keys audience token");
    let response = fetch(&app, &keys_token, id, None).await;
    assert_eq!(response.status(), 403, "GET with a keys audience token");
    let admin = app.admin_token().await;
    let response = app.post_json("/symkeys", &admin, &body).await;
    assert_eq!(response.status(), 403, "POST with an admin token");
    assert_eq!(
        stored_keys(&app).await,
        1,
        "only the first key was ever stored"
    );
}

//! `POST`, `GET` and `DELETE /admin/delegations`: recorded with an id and `createdAt`,
//! listed by consumer and supplier (ended ones with `endedAt`), ended idempotently;
//! every bad request is a 422 naming its field and stores nothing; only an
//! administrator may call them.

use serde_json::{Value, json};

use super::*;

/// An RFC 3339 UTC time with milliseconds, as the API writes times.
fn assert_millis(value: &Value, what: &str) {
    let text = value.as_str().unwrap_or_else(|| panic!("{what}: {value}"));
    assert!(
        text.len() == 24 && text.ends_with('Z') && text.as_bytes()[19] == b'.',
        "{what}: {text}"
    );
    text.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
}

#[tokio::test]
async fn delegations_are_recorded_listed_and_ended() {
    let app = spawn_app().await;
    let (consumer, supplier, other) = organizations(&app).await;
    let token = app.admin_token().await;
    let not_after = (chrono::Utc::now() + chrono::Duration::days(30))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut body = delegation(&consumer, &supplier, &["depot:send", "depot:read"]);
    body["notAfter"] = json!(not_after);
    body["source"] = json!("https://mandates.example/registry");
    let (created, location) = created_json(
        app.post_json("/admin/delegations", &token, &body).await,
        "creating a delegation",
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);
    assert_eq!(location, Some(format!("/admin/delegations/{id}")));
    assert_eq!(created["consumer"], org(&consumer));
    assert_eq!(created["supplier"], org(&supplier));
    assert_eq!(created["scopes"], json!(["depot:send", "depot:read"]));
    assert_eq!(created["notAfter"], json!(not_after));
    assert_eq!(created["source"], "https://mandates.example/registry");
    assert_millis(&created["createdAt"], "createdAt");
    assert!(created.get("endedAt").is_none(), "{created}");

    // Read back, and listed by either party or both.
    let read: Value = app
        .get(&format!("/admin/delegations/{id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read, created);
    let second = delegate(&app, &delegation(&other, &supplier, &["tsa"])).await;
    let ids = |list: Vec<Value>| -> Vec<String> {
        list.iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let second_id = second["id"].as_str().unwrap().to_owned();
    assert_eq!(
        ids(listed(&app, "").await),
        [id.as_str(), second_id.as_str()]
    );
    assert_eq!(
        ids(listed(&app, &format!("consumer={consumer}")).await),
        [id.as_str()]
    );
    assert_eq!(
        ids(listed(&app, &format!("supplier={supplier}")).await),
        [id.as_str(), second_id.as_str()]
    );
    assert_eq!(
        ids(listed(&app, &format!("consumer={other}&supplier={supplier}")).await),
        [second_id.as_str()]
    );
    assert!(
        listed(&app, &format!("consumer={supplier}"))
            .await
            .is_empty()
    );
    assert_eq!(listed(&app, "").await[0], created);

    // Ended: still listed, with endedAt; ending again changes nothing.
    let ended = end(&app, &id).await;
    assert_eq!(ended.status(), 204);
    let after = listed(&app, &format!("consumer={consumer}")).await;
    assert_eq!(after.len(), 1);
    assert_millis(&after[0]["endedAt"], "endedAt");
    assert_eq!(end(&app, &id).await.status(), 204, "ending twice");
    assert_eq!(
        listed(&app, &format!("consumer={consumer}")).await[0]["endedAt"],
        after[0]["endedAt"],
        "the first end stands"
    );
    assert!(
        listed(&app, &format!("consumer={other}")).await[0]
            .get("endedAt")
            .is_none()
    );

    // Unknown ids.
    let unknown = end(&app, &uuid::Uuid::now_v7().to_string()).await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(end(&app, "not-an-id").await.status(), 404);
    assert_eq!(
        app.get("/admin/delegations/not-an-id", &token)
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn bad_delegations_name_the_field_and_store_nothing() {
    let app = spawn_app().await;
    let (consumer, supplier, _) = organizations(&app).await;
    let unregistered = cbe("04900009");
    let token = app.admin_token().await;
    let past = (chrono::Utc::now() - chrono::Duration::seconds(5))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"consumer": org("0203201341")}), "consumer"),
        (json!({"consumer": org("020320134")}), "consumer"),
        (
            json!({"consumer": {"type": "ssin", "value": "85073003328"}}),
            "consumer",
        ),
        (json!({"consumer": consumer}), "consumer"),
        (json!({"consumer": null}), "consumer"),
        (json!({"consumer": org(&unregistered)}), "consumer"),
        (json!({"supplier": org("0203201341")}), "supplier"),
        (json!({"supplier": {"type": "cbe"}}), "supplier"),
        (json!({"supplier": org(&unregistered)}), "supplier"),
        (json!({"supplier": org(&consumer)}), "supplier"),
        (json!({"scopes": ["depot:write"]}), "scopes"),
        (json!({"scopes": ["depot:send", "admin"]}), "scopes"),
        (json!({"scopes": ["openid"]}), "scopes"),
        (json!({"scopes": []}), "scopes"),
        (json!({"scopes": null}), "scopes"),
        (json!({"scopes": "depot:send"}), "scopes"),
        (json!({"notAfter": past}), "notAfter"),
        (json!({"notAfter": "next week"}), "notAfter"),
        (json!({"notAfter": 1_900_000_000}), "notAfter"),
        (json!({"source": ""}), "source"),
        (json!({"source": "x".repeat(201)}), "source"),
        (json!({"source": 7}), "source"),
    ];
    for (patch, field) in cases {
        let mut body = delegation(&consumer, &supplier, &["depot:send"]);
        for (name, value) in patch.as_object().unwrap() {
            body[name] = value.clone();
        }
        let response = app.post_json("/admin/delegations", &token, &body).await;
        invalid(response, field, &body.to_string()).await;
    }
    assert!(listed(&app, "").await.is_empty(), "nothing was stored");

    // The listing's filters are CBE numbers.
    for (query, field) in [
        ("consumer=0203201341", "consumer"),
        ("supplier=12", "supplier"),
    ] {
        let response = app
            .get(&format!("/admin/delegations?{query}"), &token)
            .await;
        invalid(response, field, query).await;
    }
}

#[tokio::test]
async fn only_an_administrator_manages_delegations() {
    let app = spawn_app().await;
    let (consumer, supplier, _) = organizations(&app).await;
    let created = delegate(&app, &delegation(&consumer, &supplier, &["depot:read"])).await;
    let id = created["id"].as_str().unwrap();
    let client = client_of(&app, "not-admin", &supplier).await;
    let token = app.token_for(&client, &[]).await;
    let body = delegation(&consumer, &supplier, &["depot:send"]);
    assert_eq!(
        app.post_json("/admin/delegations", &token, &body)
            .await
            .status(),
        403
    );
    assert_eq!(app.get("/admin/delegations", &token).await.status(), 403);
    let response = app
        .http
        .delete(app.url(&format!("/admin/delegations/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let anonymous = app
        .http
        .get(app.url("/admin/delegations"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let all = listed(&app, "").await;
    assert_eq!(all.len(), 1, "nothing was added");
    assert!(all[0].get("endedAt").is_none(), "nothing was ended");
}

#[tokio::test]
async fn the_openapi_document_describes_the_delegation_routes() {
    let app = spawn_app().await;
    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = &doc["paths"];
    for (path, method) in [
        ("/admin/delegations", "post"),
        ("/admin/delegations", "get"),
        ("/admin/delegations/{id}", "get"),
        ("/admin/delegations/{id}", "delete"),
    ] {
        assert!(
            paths[path].get(method).is_some(),
            "{method} {path} missing from /openapi.json"
        );
    }
    let schemas = &doc["components"]["schemas"];
    assert!(schemas.get("DelegationRequest").is_some());
    assert!(
        schemas["DelegationView"]["properties"]
            .get("createdAt")
            .is_some()
    );
}

//! The authentic source: persons through the admin API and the JSON import.

use serde_json::{Value, json};

use crate::forms::*;
use crate::helpers::*;

#[tokio::test]
async fn an_administrator_registers_and_reads_a_person_without_secrets_showing() {
    let app = spawn_app().await;
    app.register_organization(CBE, "Hospital").await;
    let token = app.admin_token().await;
    let person = ssin("850730033");
    let mandator = ssin("600101123");
    let body = json!({
        "ssin": person, "name": "An Peeters", "password": PASSWORD, "totp_secret": TOTP_SECRET,
        "profiles": [
            {"profile": "citizen"},
            {"profile": "professional", "quality": "nurse", "nihii": nihii(654321, "401")},
            {"profile": "organization", "cbe": CBE},
            {"profile": "mandatee", "mandator": {"type": "ssin", "value": mandator}},
        ],
    });
    let response = app.post_json("/admin/persons", &token, &body).await;
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.headers()["location"],
        format!("/admin/persons/{person}")
    );
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["password"], true);
    assert_eq!(created["totp"], true);
    assert_eq!(created["profiles"], body["profiles"]);
    let text = created.to_string();
    assert!(!text.contains(PASSWORD) && !text.contains("argon2") && !text.contains(TOTP_SECRET));

    let read: Value = app
        .get(&format!("/admin/persons/{person}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read, created);
    let again = app.post_json("/admin/persons", &token, &body).await;
    assert_eq!(again.status(), 409);
    assert_eq!(
        app.get("/admin/persons/85073003329", &token).await.status(),
        422
    );
    assert_eq!(
        app.get(&format!("/admin/persons/{mandator}"), &token)
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn invalid_persons_are_422_naming_the_field_and_nothing_is_stored() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let good = ssin("850730033");
    let cases = [
        (json!({"ssin": "85073003329"}), "ssin"),
        (json!({"ssin": "8507300332"}), "ssin"),
        (json!({"name": ""}), "name"),
        (json!({"password": "short"}), "password"),
        (json!({"totp_secret": "not base32"}), "totp_secret"),
        (json!({"profiles": []}), "profiles"),
        (
            json!({"profiles": [{"profile": "professional", "quality": "doctor", "nihii": "12345600004"}]}),
            "profiles[0].nihii",
        ),
        (
            json!({"profiles": [{"profile": "organization", "cbe": "0203201341"}]}),
            "profiles[0].cbe",
        ),
        (
            json!({"profiles": [{"profile": "organization", "cbe": CBE}]}),
            "profiles[0].cbe",
        ),
        (
            json!({"profiles": [{"profile": "mandatee", "mandator": {"type": "cbe", "value": "1"}}]}),
            "profiles[0].mandator.value",
        ),
    ];
    for (change, field) in cases {
        let mut body = json!({"ssin": good, "name": "An", "profiles": [{"profile": "citizen"}]});
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let response = app.post_json("/admin/persons", &token, &body).await;
        assert_eq!(response.status(), 422, "{change}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["field"], field, "{problem}");
    }
    assert_eq!(
        app.get(&format!("/admin/persons/{good}"), &token)
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn only_administrators_register_persons() {
    let app = spawn_app().await;
    let system = app
        .register_system_client("gateway", &["depot:send"], json!({}))
        .await;
    let token = app.token_for(&system, &[]).await;
    let body =
        json!({"ssin": ssin("850730033"), "name": "An", "profiles": [{"profile": "citizen"}]});
    assert_eq!(
        app.post_json("/admin/persons", &token, &body)
            .await
            .status(),
        403
    );
    assert_eq!(
        app.http
            .post(app.url("/admin/persons"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn the_import_checks_everything_first_then_writes_it_all() {
    let app = spawn_app().await;
    let person = ssin("850730033");
    let file = app.data_dir.join("people.json");
    let bad = json!({
        "organizations": [{"cbe": CBE, "name": "Hospital"}],
        "persons": [
            {"ssin": person, "name": "An", "password": PASSWORD, "profiles": [{"profile": "organization", "cbe": CBE}]},
            {"ssin": "85073003329", "name": "Bad", "profiles": [{"profile": "citizen"}]},
        ],
    });
    std::fs::write(&file, bad.to_string()).unwrap();
    let output = crate::cli::depot(&app)
        .args(["admin", "import-people"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("persons[1].ssin"), "{stderr}");
    let token = app.admin_token().await;
    assert_eq!(
        app.get(&format!("/admin/persons/{person}"), &token)
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get(&format!("/admin/organizations/{CBE}"), &token)
            .await
            .status(),
        404
    );

    let mut good = bad.clone();
    good["persons"].as_array_mut().unwrap().pop();
    std::fs::write(&file, good.to_string()).unwrap();
    for _ in 0..2 {
        let output = crate::cli::depot(&app)
            .args(["admin", "import-people"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(String::from_utf8_lossy(&output.stdout).contains("1 organizations and 1 persons"));
    }
    let read: Value = app
        .get(&format!("/admin/persons/{person}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["profiles"][0]["cbe"], CBE);

    // The imported person logs in.
    let client = app.reading_app().await;
    let pkce = Pkce::new();
    let browser = app.browser();
    let page = browser
        .authorize(&auth_query(&client, "depot:read", &pkce))
        .await;
    let consent = browser.login(&page, &person, PASSWORD, "").await;
    assert!(consent.form_with("decision").is_some(), "{}", consent.body);
}

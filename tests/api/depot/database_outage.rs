//! The database away (issue 22, fault campaign: a 10 s PostgreSQL cut gave 500s and
//! requests hanging 10 s on the pool). While it cannot be reached every call answers
//! 503 with `Retry-After` (problem+json; OAuth `temporarily_unavailable` at the token
//! endpoint; a page on the login pages), `/health/ready` says so, and nothing is half
//! done: once it is back, a retried message is stored once and what was stored before
//! is all there. PostgreSQL sits behind a local TCP proxy that cuts every connection.

use secrecy::{ExposeSecret, SecretString};

use super::*;
use crate::forms::{Pkce, auth_query};
use crate::helpers::proxy::{Proxy, address_of};
use crate::keys::problem;

#[tokio::test]
async fn while_the_database_is_away_every_call_is_a_503_to_retry_and_nothing_is_lost() {
    let Some(base) = postgres_url() else {
        println!("skipped: DATABASE_URL not set (PostgreSQL only)");
        return;
    };
    let mut proxy = Proxy::reserve(address_of(&base, 5432));
    proxy.start().await;
    let app = depot_app_with(|s| {
        let direct = s.storage.database_url.as_ref().unwrap().expose_secret();
        s.storage.database_url = Some(SecretString::from(proxy.in_front_of(direct)));
    })
    .await;
    let sender = system_party(&app, "hospital-gw", "03123456").await;
    let recipient = system_party(&app, "gp-gw", "05123456").await;
    let person_app = app
        .register_app("portal", false, &["depot:read"], json!({}))
        .await;
    let before = send_small(&app, &sender, "ehbox", &[&recipient.id], "before").await;
    let sealed = quoted(&seal_compact(b"during", sender.key()));
    let during = message("ehbox", &[&recipient.id], &sealed);

    proxy.stop();
    let retry_after = |r: &reqwest::Response| {
        r.headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    // The token endpoint.
    let client = sender.client.as_ref().unwrap();
    let assertion = client
        .key
        .sign(&client.claims(&app.token_endpoint(), app.now()));
    let response = app.token_request(&assertion, &[]).await;
    assert_eq!(retry_after(&response).as_deref(), Some("1"));
    expect_oauth_error(response, 503, "temporarily_unavailable").await;
    // A resource server, and posting.
    let response = app.get("/depot/box", &recipient.token).await;
    assert_eq!(retry_after(&response).as_deref(), Some("1"));
    problem(response, 503, "the box without a database").await;
    let response = post_message(&app, &sender.token, &during, Some("during-1")).await;
    assert_eq!(retry_after(&response).as_deref(), Some("1"));
    problem(response, 503, "posting without a database").await;
    // A login page.
    let pkce = Pkce::new();
    let page = app
        .browser()
        .authorize(&auth_query(&person_app, "depot:read", &pkce))
        .await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert_eq!(page.retry_after.as_deref(), Some("1"));
    // Readiness says why.
    let response = app.http.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let health: Value = response.json().await.unwrap();
    assert_eq!(health["database"], "unreachable", "{health}");

    // Back: the retry is stored once, and everything is there.
    proxy.start().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let first = loop {
        let response = post_message(&app, &sender.token, &during, Some("during-1")).await;
        if response.status() != 503 {
            break accepted(response, "the retry").await;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the database came back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let again = post_message(&app, &sender.token, &during, Some("during-1")).await;
    assert_eq!(accepted(again, "a second retry").await["id"], first["id"]);
    let listing = list(&app, &recipient.token, "").await;
    let mut ids = listed_ids(&listing);
    ids.sort();
    let mut expected = vec![before, first["id"].as_str().unwrap().to_owned()];
    expected.sort();
    assert_eq!(ids, expected, "{listing}");
    assert_eq!(stored(&app).await, (2, 2));
    app.token_for(client, &[]).await;
}

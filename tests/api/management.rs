//! The management listener (`DEPOT_MANAGEMENT_LISTEN`) and what `/metrics` tells an
//! operator: tokens issued and refused by reason, messages accepted and refused by
//! reason, the time-stamp authority's latency, the outbox, the relay and the database
//! pool, under the Prometheus naming conventions (a `depot_` prefix, units in names,
//! `_total` on counters). The relay's part needs `AMQP_URL` (else `skipped`).

use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};

use crate::depot::amqp::amqp_url;
use crate::depot::*;
use crate::helpers::*;

/// The value of the sample `series` (name and labels exactly as exposed).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().unwrap())
}

async fn scrape(base: &str) -> String {
    let response = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

async fn status(url: String) -> u16 {
    reqwest::get(url).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn with_a_management_listener_health_and_metrics_leave_the_public_port() {
    let app = spawn_app_with(|s| {
        s.service.management_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let management = app.management.clone().expect("a management listener");
    for path in ["/health/live", "/health/ready", "/metrics"] {
        assert_eq!(status(app.url(path)).await, 404, "public {path}");
        assert_eq!(status(format!("{management}{path}")).await, 200, "{path}");
    }
    let ready: Value = reqwest::get(format!("{management}/health/ready"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["database"], "ok", "{ready}");
    // The public port keeps everything else; the management port serves nothing else.
    assert_eq!(status(app.url("/openapi.json")).await, 200);
    assert_eq!(
        status(app.url("/.well-known/openid-configuration")).await,
        200
    );
    for path in ["/openapi.json", "/oauth2/jwks", "/depot/messages"] {
        assert_eq!(status(format!("{management}{path}")).await, 404, "{path}");
    }
    // Without the setting, the public port answers them (as before).
    let plain = spawn_app().await;
    assert!(plain.management.is_none());
    assert_eq!(status(plain.url("/metrics")).await, 200);
    assert_eq!(status(plain.url("/health/ready")).await, 200);
}

#[tokio::test]
async fn the_management_listener_must_not_be_the_public_one() {
    let mut settings = depot::config::Settings::default();
    settings.service.listen = "127.0.0.1:8080".parse().unwrap();
    settings.service.management_listen = Some("127.0.0.1:8080".parse().unwrap());
    let error = depot::config::Config::from_settings(settings)
        .expect_err("refused")
        .to_string();
    assert!(error.contains("DEPOT_MANAGEMENT_LISTEN"), "{error}");
}

#[tokio::test]
async fn metrics_count_tokens_and_messages_by_reason_and_read_the_outbox_and_pool() {
    let app = depot_app_with(|s| s.storage.database_max_connections = 7).await;
    let sender = system_party(&app, "gateway", "08507301").await;
    let application = unique_application("metrics");
    send_small(&app, &sender, &application, &[&sender.id], "hello").await;
    // Refused after authorization: not JSON, then a recipient that is no identifier.
    let not_json = app
        .http
        .post(app.url("/depot/messages"))
        .bearer_auth(&sender.token)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 415);
    let bad_recipient = message(&application, &[&json!({"type": "ssin"})], "\"x\"");
    let refused = post_message(&app, &sender.token, &bad_recipient, None).await;
    assert_eq!(refused.status(), 422);
    // Tokens: counted from here on, one issued, two refused.
    let issued = r#"depot_tokens_issued_total{grant_type="client_credentials"}"#;
    let before = sample(&scrape(&app.address).await, issued).unwrap();
    app.token_for(sender.client.as_ref().unwrap(), &[]).await;
    let _ = app
        .post_form("/oauth2/token", &[("grant_type", "client_credentials")])
        .await;
    let _ = app
        .post_form("/oauth2/token", &[("grant_type", "password")])
        .await;

    let text = scrape(&app.address).await;
    let value = |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series}\n{text}"));
    assert_eq!(value(issued), before + 1.0);
    assert_eq!(
        value(
            r#"depot_tokens_refused_total{grant_type="client_credentials",reason="invalid_client"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            r#"depot_tokens_refused_total{grant_type="unsupported",reason="unsupported_grant_type"}"#
        ),
        1.0,
        "the grant type a client wrote is never a label"
    );
    assert_eq!(value("depot_messages_accepted_total"), 1.0);
    assert_eq!(
        value(r#"depot_messages_refused_total{reason="unsupported-media-type"}"#),
        1.0
    );
    assert_eq!(
        value(r#"depot_messages_refused_total{reason="invalid-field"}"#),
        1.0
    );
    assert_eq!(value("depot_tsa_request_duration_seconds_count"), 1.0);
    assert!(value("depot_tsa_request_duration_seconds_sum") > 0.0);
    // No broker: the notification waits in the outbox, and there is no relay.
    assert!(value("depot_outbox_pending") >= 1.0, "{text}");
    assert!(value("depot_outbox_oldest_age_seconds") >= 0.0);
    assert!(!text.contains("depot_outbox_relay_connected"), "{text}");
    assert_eq!(value("depot_db_pool_connections_max"), 7.0);
    assert!(value("depot_db_pool_connections_idle") >= 1.0);
    assert!(value("depot_db_pool_connections_in_use") >= 0.0);
    // Prometheus conventions: every counter's samples end in `_total`, every family
    // is described, and the exposition ends as OpenMetrics requires.
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut words = line.split_whitespace().skip(2);
        let (name, kind) = (words.next().unwrap(), words.next().unwrap());
        assert!(name.starts_with("depot_"), "{line}");
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} has no HELP"
        );
        if kind == "counter" {
            assert!(
                text.lines()
                    .filter(|l| l.starts_with(name) && !l.starts_with('#'))
                    .all(|l| l.starts_with(&format!("{name}_total"))),
                "{name}"
            );
        }
    }
    assert!(text.ends_with("# EOF\n"), "one EOF, at the end");
    assert_eq!(text.matches("# EOF").count(), 1);
}

#[tokio::test]
async fn the_relay_reports_its_state_and_what_it_published() {
    let Some(url) = amqp_url() else {
        return;
    };
    let app = depot_app_with(|s| s.storage.amqp_url = Some(SecretString::from(url))).await;
    let sender = system_party(&app, "gateway", "08507302").await;
    let application = unique_application("metrics");
    send_small(&app, &sender, &application, &[&sender.id], "hello").await;
    let mut text = String::new();
    for _ in 0..100 {
        text = scrape(&app.address).await;
        if sample(&text, "depot_outbox_published_total") >= Some(1.0)
            && sample(&text, "depot_outbox_pending") == Some(0.0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        sample(&text, "depot_outbox_relay_connected"),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(&text, "depot_outbox_published_total") >= Some(1.0),
        "{text}"
    );
    assert_eq!(sample(&text, "depot_outbox_pending"), Some(0.0), "{text}");
    assert_eq!(sample(&text, "depot_outbox_oldest_age_seconds"), Some(0.0));
    assert_eq!(
        sample(&text, "depot_outbox_relay_failures_total"),
        Some(0.0)
    );
}

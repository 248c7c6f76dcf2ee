//! Two instances of the service on one PostgreSQL database with one master key (issue
//! 22, "Two instances in CI"), as a fleet behind a load balancer runs: whatever one
//! instance records, the other honours, and what must happen once happens once across
//! both. A client assertion (RFC 7523 §3 item 7) is accepted at one instance only; a
//! login (RFC 6749 §4.1 with RFC 7636 PKCE) started at one finishes at the other; the
//! time-stamp authority's serial numbers (RFC 3161 §2.4.2) stay unique; both outbox
//! relays together notify every message; and a box listed through both with one
//! cursor neither misses nor repeats a message.
//!
//! PostgreSQL only (SQLite is one instance's file): without `DATABASE_URL` each test
//! prints `skipped: DATABASE_URL not set (PostgreSQL only)`, and the relays' test
//! without `AMQP_URL` prints `skipped: AMQP_URL not set`. Nothing here asserts timing.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use base64::Engine;
use futures_util::StreamExt;
use futures_util::future::join_all;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::depot::amqp::{Notifications, amqp_url};
use crate::depot::jose::seal_compact;
use crate::depot::*;
use crate::forms::*;
use crate::helpers::*;
use crate::tsa::pki::openssl;
use crate::tsa::{data_dir, post_query, serial_of, tsa_token};

/// Whether the tests can run: `DATABASE_URL` names a PostgreSQL server.
pub(crate) fn on_postgres() -> bool {
    let set = postgres_url().is_some();
    if !set {
        println!("skipped: DATABASE_URL not set (PostgreSQL only)");
    }
    set
}

/// The instance of turn `i`: `a` for even turns, `b` for odd ones.
fn alternate<'a>(i: usize, a: &'a TestApp, b: &'a TestApp) -> &'a TestApp {
    if i.is_multiple_of(2) { a } else { b }
}

/// Posts `n` small messages from `sender` to `recipient`, 8 at a time, alternately at
/// `a` and `b`; their ids (each accepted, else a panic).
async fn post_alternately(
    a: &TestApp,
    b: &TestApp,
    sender: &Party,
    application: &str,
    recipient: &Value,
    n: usize,
) -> HashSet<String> {
    let bodies: Vec<String> = (0..n)
        .map(|i| {
            let sealed = seal_compact(format!("result {i}").as_bytes(), sender.key());
            message(application, &[recipient], &quoted(&sealed))
        })
        .collect();
    futures_util::stream::iter(bodies.iter().enumerate())
        .map(|(i, body)| async move {
            let answer = send(alternate(i, a, b), &sender.token, body).await;
            answer["id"].as_str().unwrap().to_owned()
        })
        .buffer_unordered(8)
        .collect()
        .await
}

#[tokio::test]
async fn a_client_assertion_is_accepted_at_one_instance_only() {
    if !on_postgres() {
        return;
    }
    let a = spawn_app().await;
    let b = spawn_second_instance(&a).await;
    let client = a.register_system_client("gw", &["tsa"], json!({})).await;
    // Same issuer, so one audience: the token endpoint both instances answer for.
    assert_eq!(a.token_endpoint(), b.token_endpoint());

    // Used at A, replayed at B (and the other way round): refused.
    for (first, second) in [(&a, &b), (&b, &a)] {
        let assertion = client
            .key
            .sign(&client.claims(&first.token_endpoint(), first.now()));
        let response = first.token_request(&assertion, &[]).await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        let description = expect_oauth_error(
            second.token_request(&assertion, &[]).await,
            401,
            "invalid_client",
        )
        .await;
        assert!(description.contains("already used"), "{description}");
    }

    // Twenty assertions, each sent to both instances at the same moment: one wins each.
    const PAIRS: usize = 20;
    let assertions: Vec<String> = (0..PAIRS)
        .map(|_| {
            client
                .key
                .sign(&client.claims(&a.token_endpoint(), a.now()))
        })
        .collect();
    let (a, b) = (&a, &b);
    let outcomes = join_all(
        assertions
            .iter()
            .enumerate()
            .map(|(i, assertion)| async move {
                // Each instance is sent its copy first in half of the pairs.
                let (first, second) = tokio::join!(
                    alternate(i, a, b).token_request(assertion, &[]),
                    alternate(i + 1, a, b).token_request(assertion, &[])
                );
                let (at_a, at_b) = if i.is_multiple_of(2) {
                    (first, second)
                } else {
                    (second, first)
                };
                let mut pair = Vec::new();
                for response in [at_a, at_b] {
                    let status = response.status().as_u16();
                    let body: Value = response.json().await.unwrap();
                    pair.push((status, body));
                }
                pair
            }),
    )
    .await;
    let mut wins = [0; 2];
    for pair in &outcomes {
        let winners: Vec<usize> = (0..2).filter(|i| pair[*i].0 == 200).collect();
        assert_eq!(winners.len(), 1, "exactly one of a pair wins: {pair:?}");
        let (status, body) = &pair[1 - winners[0]];
        assert_eq!(*status, 401, "{body}");
        assert_eq!(body["error"], "invalid_client", "{body}");
        wins[winners[0]] += 1;
    }
    println!(
        "{PAIRS} simultaneous pairs: A won {}, B won {}, every loser invalid_client",
        wins[0], wins[1]
    );
}

/// The consent page of `page` answered "allow" at `browser`'s instance, if it is one.
async fn consent_if_asked(browser: &Browser, page: Page) -> Page {
    if page.form_with("decision").is_some() {
        browser.decide(&page, "allow").await
    } else {
        page
    }
}

/// The code of a redirect back to `client`, after checking its `state`.
fn code_of(back: &Page) -> String {
    let params = back.redirect_params();
    assert_eq!(params["state"], "state-123", "{params:?}");
    params
        .get("code")
        .unwrap_or_else(|| panic!("a code: {params:?}"))
        .clone()
}

#[tokio::test]
async fn a_login_started_at_one_instance_finishes_at_the_other() {
    if !on_postgres() {
        return;
    }
    let a = spawn_app().await;
    let b = spawn_second_instance(&a).await;
    let person = a.citizen("850730033", false).await;
    let client = a
        .register_app("portal", true, &["depot:read"], json!({}))
        .await;
    let pkce = Pkce::new();

    // One browser (one cookie jar: cookies name the host, not the port), sent to A for
    // the authorization request and to B for the login and consent forms.
    let at_a = a.browser();
    let at_b = Browser {
        base: b.address.clone(),
        http: at_a.http.clone(),
    };
    let login = at_a.authorize(&auth_query(&client, SCOPE, &pkce)).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let consent = at_b.login(&login, &person, PASSWORD, "").await;
    let back = consent_if_asked(&at_b, consent).await;
    let code = code_of(&back);

    // Redeemed at B. Both publish the same signing keys; the tokens are good at both.
    let tokens = token_json(b.redeem(&client, &code, &pkce.verifier).await).await;
    assert_eq!(a.jwks().await, b.jwks().await);
    let id_token = jwt_header(tokens["id_token"].as_str().unwrap());
    assert!(
        a.published_kids().await.contains(&id_token["kid"]),
        "{id_token}"
    );
    let access = tokens["access_token"].as_str().unwrap();
    let mut subjects = Vec::new();
    for app in [&a, &b] {
        let response = app.get("/oauth2/userinfo", access).await;
        assert_eq!(response.status(), 200, "userinfo at {}", app.address);
        subjects.push(response.json::<Value>().await.unwrap()["sub"].clone());
        assert_eq!(app.get("/depot/box", access).await.status(), 200);
    }
    assert_eq!(subjects[0], subjects[1]);

    // The refresh token issued at B refreshes at A; the new access token is good at both.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let refreshed = token_json(a.refresh(&client, refresh).await).await;
    let renewed = refreshed["access_token"].as_str().unwrap();
    for app in [&b, &a] {
        assert_eq!(app.get("/oauth2/userinfo", renewed).await.status(), 200);
    }

    // What was used once, at one instance, is refused at the other: the first refresh
    // token at B, the code at A. A reuse revokes what came of it, at both instances.
    let description =
        expect_oauth_error(b.refresh(&client, refresh).await, 400, "invalid_grant").await;
    assert!(description.contains("already used"), "{description}");
    expect_oauth_error(
        a.redeem(&client, &code, &pkce.verifier).await,
        400,
        "invalid_grant",
    )
    .await;
    for app in [&a, &b] {
        for token in [access, renewed] {
            assert_eq!(app.get("/oauth2/userinfo", token).await.status(), 401);
        }
    }

    // The session made at B signs the browser in at A: a second authorization asked of
    // A (its redirects followed at B) needs no login, and its code is redeemed at A.
    let pkce = Pkce::new();
    let url = reqwest::Url::parse_with_params(
        &a.url("/oauth2/authorize"),
        &auth_query(&client, SCOPE, &pkce),
    )
    .unwrap();
    let page = at_b.follow(at_a.get(url.as_str()).await).await;
    assert!(
        page.form_with("username").is_none(),
        "no second login: {}",
        page.body
    );
    let back = consent_if_asked(&at_b, page).await;
    let tokens = token_json(a.redeem(&client, &code_of(&back), &pkce.verifier).await).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(b.get("/oauth2/userinfo", access).await.status(), 200);
}

/// The serial number of a base64 `TimeStampResp` (a message's `timestamp`).
fn serial_of_base64(dir: &std::path::Path, name: &str, timestamp: &Value) -> u64 {
    let der = base64::engine::general_purpose::STANDARD
        .decode(timestamp.as_str().expect("a base64 timestamp"))
        .unwrap();
    std::fs::write(dir.join(name), der).unwrap();
    serial_of(dir, name)
}

#[tokio::test]
async fn timestamps_asked_of_both_instances_at_once_have_distinct_serials() {
    if !on_postgres() {
        return;
    }
    let a = depot_app().await;
    let b = spawn_second_instance(&a).await;
    let token = tsa_token(&a).await;
    let sender = system_party(&a, "lab-gw", "04123456").await;
    let receiver = system_party(&a, "gp-gw", "05123456").await;
    let (_tmp, dir) = data_dir();
    openssl(
        &dir,
        &[
            "ts", "-query", "-data", "data.bin", "-cert", "-out", "q.tsq",
        ],
    );
    let query = std::fs::read(dir.join("q.tsq")).unwrap();

    // 40 queries to `POST /tsa` and 20 messages (each stamped on acceptance), half at
    // each instance, all at once.
    const QUERIES: usize = 40;
    const MESSAGES: usize = 20;
    let (a, b, sender, query, token) = (&a, &b, &sender, &query, &token);
    let stamps = join_all((0..QUERIES).map(|i| async move {
        let response = post_query(alternate(i, a, b), token, query.clone()).await;
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap()
    }));
    let bodies: Vec<String> = (0..MESSAGES)
        .map(|i| {
            let sealed = seal_compact(format!("result {i}").as_bytes(), sender.key());
            message("ehbox", &[&receiver.id], &quoted(&sealed))
        })
        .collect();
    let messages = join_all(bodies.iter().enumerate().map(|(i, body)| async move {
        send(alternate(i, a, b), &sender.token, body).await["timestamp"].clone()
    }));
    let (stamps, timestamps) = tokio::join!(stamps, messages);

    let mut serials = Vec::new();
    for (i, reply) in stamps.iter().enumerate() {
        let name = format!("q{i}.tsr");
        std::fs::write(dir.join(&name), reply).unwrap();
        serials.push(serial_of(&dir, &name));
    }
    for (i, timestamp) in timestamps.iter().enumerate() {
        serials.push(serial_of_base64(&dir, &format!("m{i}.tsr"), timestamp));
    }
    let distinct: HashSet<u64> = serials.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        QUERIES + MESSAGES,
        "duplicate serial numbers: {serials:?}"
    );
    println!(
        "{} timestamps from both instances at once, serials {}..={} all distinct",
        serials.len(),
        distinct.iter().min().unwrap(),
        distinct.iter().max().unwrap()
    );
}

/// Waits until `app`'s relay is connected and the outbox empty (`/health/ready`).
async fn relay_drained(app: &TestApp) -> Value {
    for _ in 0..600 {
        let health = ready(app).await;
        if health["outboxPending"] == 0 && health["broker"]["relay"] == "connected" {
            return health;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{}: the relay does not drain the outbox: {}",
        app.address,
        ready(app).await
    );
}

#[tokio::test]
async fn messages_posted_at_both_instances_are_all_notified() {
    if !on_postgres() {
        return;
    }
    let Some(url) = amqp_url() else { return };
    let application = unique_application("two");
    let mut notifications = Notifications::bind(&url, &application).await;
    let broker = url.clone();
    let a = depot_app_with(move |s| s.storage.amqp_url = Some(SecretString::from(broker))).await;
    // The same settings, so the same broker: both relays run.
    let b = spawn_second_instance(&a).await;
    assert!(b.config.amqp_url.is_some());
    let sender = system_party(&a, "lab-gw", "04123456").await;
    let receiver = system_party(&a, "gp-gw", "05123456").await;

    const N: usize = 60;
    let ids = post_alternately(&a, &b, &sender, &application, &receiver.id, N).await;
    assert_eq!(ids.len(), N, "{N} distinct messages");

    let got = notifications
        .until_distinct(N, Duration::from_secs(120))
        .await;
    for app in [&a, &b] {
        relay_drained(app).await;
    }
    let late = notifications.quiet(Duration::from_millis(500)).await;
    let mut deliveries: HashMap<String, usize> = HashMap::new();
    for n in got.iter().chain(&late) {
        assert_eq!(n.body["recipient"], receiver.id, "{}", n.body);
        assert_eq!(n.routing_key, format!("message.received.{application}"));
        let id = n.body["messageId"].as_str().unwrap().to_owned();
        *deliveries.entry(id).or_default() += 1;
    }
    let notified: HashSet<String> = deliveries.keys().cloned().collect();
    assert_eq!(notified, ids, "every message is notified, and only those");
    let duplicates: usize = deliveries.values().map(|n| n - 1).sum();
    println!(
        "{N} messages posted alternately at both instances: all notified, {} deliveries, \
         {duplicates} duplicates (on {} messages)",
        got.len() + late.len(),
        deliveries.values().filter(|n| **n > 1).count()
    );
    notifications.finish().await;
}

#[tokio::test]
async fn a_cursor_carried_between_instances_neither_misses_nor_repeats() {
    if !on_postgres() {
        return;
    }
    let a = depot_app().await;
    let b = spawn_second_instance(&a).await;
    let sender = system_party(&a, "lab-gw", "04123456").await;
    let reader = system_party(&a, "gp-gw", "05123456").await;

    // 80 messages posted 8 at a time, alternately at A and B, while a poller lists the
    // box with pages of 4, asking A and B in turn and carrying the cursor across.
    const N: usize = 80;
    let (a, b) = (&a, &b);
    let (done, finished) = tokio::sync::watch::channel(false);
    let posting = async {
        let ids = post_alternately(a, b, &sender, "ehbox", &reader.id, N).await;
        done.send(true).unwrap();
        ids
    };
    let polling = async {
        let mut seen: Vec<String> = Vec::new();
        let mut cursor: Option<String> = None;
        let mut polls = 0;
        let mut empty_after_done = 0;
        // Polls and messages seen while the posting was still going on.
        let mut during = (0, 0);
        // Until the posting is over and all were seen (or, if one was missed, twenty
        // polls after it found nothing more: the assertions below then say which).
        loop {
            let over = *finished.borrow();
            if over && (seen.len() >= N || empty_after_done >= 20) {
                break;
            }
            let query = match &cursor {
                None => "limit=4".to_owned(),
                Some(cursor) => format!("limit=4&cursor={cursor}"),
            };
            let page = list(alternate(polls, a, b), &reader.token, &query).await;
            polls += 1;
            let ids = listed_ids(&page);
            for id in &ids {
                assert!(!seen.contains(id), "{id} listed twice (poll {polls})");
            }
            if ids.is_empty() && over {
                empty_after_done += 1;
            }
            if ids.is_empty() {
                tokio::time::sleep(Duration::from_millis(if over { 100 } else { 20 })).await;
            }
            if !over {
                during = (during.0 + 1, during.1 + ids.len());
            }
            seen.extend(ids);
            cursor = Some(next_cursor(&page));
            assert!(polls < 10_000, "the poller does not finish");
        }
        (seen, polls, during)
    };
    let (posted, (seen, polls, during)) = tokio::join!(posting, polling);
    assert_eq!(posted.len(), N);
    let listed: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(listed.len(), seen.len(), "no message listed twice");
    assert_eq!(listed, posted, "every posted message listed, none missed");
    // The box, listed at once from the start, has the order the poller saw.
    let all = listed_ids(&list(b, &reader.token, "limit=500").await);
    assert_eq!(all, seen, "the poller saw the box's order");
    println!(
        "{N} messages posted at both instances; {polls} polls alternating between them \
         listed each exactly once ({} polls and {} messages while the posting went on)",
        during.0, during.1
    );
}

/// A receiver waiting at one instance is woken by a message posted at the other: the
/// waiting listing does not query the database until a commit is announced (`NOTIFY`
/// from the posting instance, `LISTEN` at the waiting one), so without the
/// announcement it would answer empty at its deadline.
#[tokio::test]
async fn a_receiver_waiting_at_one_instance_is_woken_by_a_post_at_the_other() {
    if !on_postgres() {
        return;
    }
    let a = depot_app().await;
    let b = spawn_second_instance(&a).await;
    let sender = system_party(&a, "lab-gw", "04123456").await;
    let reader = system_party(&a, "gp-gw", "05123456").await;
    let cursor = next_cursor(&list(&b, &reader.token, "").await);
    let query = format!("cursor={cursor}&wait=20");
    let (page, posted) = tokio::join!(list(&b, &reader.token, &query), async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        send_small(&a, &sender, "ehbox", &[&reader.id], "across").await
    });
    assert_eq!(listed_ids(&page), [posted.as_str()], "{page}");
    // And the other way round, in the sender's box too.
    let cursor = next_cursor(&list(&a, &sender.token, "box=sent").await);
    let query = format!("box=sent&cursor={cursor}&wait=20");
    let (page, posted) = tokio::join!(list(&a, &sender.token, &query), async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        send_small(&b, &sender, "ehbox", &[&reader.id], "back").await
    });
    assert_eq!(listed_ids(&page), [posted.as_str()], "{page}");
}

//! `Idempotency-Key` on `POST /depot/messages`: a retry with the same key and body gets
//! the first answer again and stores nothing new (also when the retries race), another
//! body under the same key is a 409, and keys are scoped to the sending (client, user).

use futures_util::future::join_all;
use serde_json::Value;

use super::*;
use crate::keys::problem;

/// Posts and returns (status, Location, body).
async fn post(app: &TestApp, token: &str, body: &str, key: &str) -> (u16, Option<String>, Value) {
    let response = post_message(app, token, body, Some(key)).await;
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    (status, location, serde_json::from_str(&text).unwrap())
}

#[tokio::test]
async fn a_retry_gets_the_first_answer_and_stores_nothing_new() {
    let app = depot_app().await;
    let sender = system_party(&app, "hospital-gw", "03123456").await;
    let other = system_party(&app, "clinic-gw", "04123456").await;
    let recipient = system_party(&app, "gp-gw", "05123456").await;
    let key = recipient.key();
    let first_body = message(
        "ehbox",
        &[&recipient.id],
        &quoted(&seal_compact(b"first", key)),
    );
    let other_body = message(
        "ehbox",
        &[&recipient.id],
        &quoted(&seal_compact(b"other", key)),
    );

    let (status, location, first) = post(&app, &sender.token, &first_body, "k-1").await;
    assert_eq!(status, 201, "{first}");
    let id = first["id"].as_str().unwrap().to_owned();
    assert_eq!(stored(&app).await, (1, 1));

    let (status, again_location, again) = post(&app, &sender.token, &first_body, "k-1").await;
    assert_eq!(status, 201, "the retry: {again}");
    assert_eq!(again, first, "the same answer");
    assert_eq!(again_location, location);
    assert_eq!(stored(&app).await, (1, 1), "nothing new stored");

    let response = post_message(&app, &sender.token, &other_body, Some("k-1")).await;
    problem(response, 409, "the key with another body").await;
    assert_eq!(stored(&app).await, (1, 1));

    // Another sender's k-1 is its own.
    let (status, _, theirs) = post(&app, &other.token, &first_body, "k-1").await;
    assert_eq!(status, 201, "{theirs}");
    assert_ne!(theirs["id"], id.as_str());
    assert_eq!(theirs["sender"]["client_id"], "clinic-gw");
    assert_eq!(stored(&app).await, (2, 2));

    // Retries that race: one message, one answer.
    let racing = join_all((0..4).map(|_| post(&app, &sender.token, &other_body, "k-2"))).await;
    let answers: Vec<&Value> = racing
        .iter()
        .map(|(status, _, body)| {
            assert_eq!(*status, 201, "{body}");
            body
        })
        .collect();
    assert!(
        answers.iter().all(|a| *a == answers[0]),
        "every racer gets the first answer: {answers:?}"
    );
    assert_eq!(stored(&app).await, (3, 3));

    // Without a key, the same body is a new message each time.
    send(&app, &sender.token, &first_body).await;
    send(&app, &sender.token, &first_body).await;
    assert_eq!(stored(&app).await, (5, 5));
    let inbox = list(&app, &recipient.token, "").await;
    assert_eq!(listed_ids(&inbox).len(), 5);
    assert_eq!(listed_ids(&inbox)[0], id);
}

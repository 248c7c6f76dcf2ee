//! Large messages: a body is read into one buffer of its declared size, a body at the
//! size limit passes and one byte more is refused before it is read, a body unlike its
//! `Content-Length` is a clear 400, and the bodies in flight share a budget that only
//! delays them: a body bigger than all of it still passes, alone.
//!
//! Some requests here are written on the socket by hand: no HTTP client sends a body
//! unlike its `Content-Length`, nor stops after the head.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;
use crate::keys::problem;

const LIMIT: usize = 64 * 1024;

/// A message of exactly `size` bytes (the JSON padded with spaces), sealed to `to`.
fn message_of(size: usize, sender: &Party, to: &Party) -> String {
    let sealed = seal_compact(&vec![b'L'; size / 2], sender.key());
    let mut body = message("ehbox", &[&to.id], &quoted(&sealed));
    assert!(
        body.len() <= size,
        "{} bytes do not fit in {size}",
        body.len()
    );
    body.push_str(&" ".repeat(size - body.len()));
    body
}

/// An answer read off the socket: the status and the body.
struct Answer {
    status: u16,
    body: String,
}

/// Writes `head` (the request line and headers, without the blank line), `body`, and,
/// when `then_close` holds, closes the writing half; reads the answer the server gives
/// before it closes the connection.
async fn by_hand(app: &TestApp, head: &str, body: &[u8], then_close: bool) -> Answer {
    let address = app.address.trim_start_matches("http://");
    let mut socket = TcpStream::connect(address).await.unwrap();
    let head = format!("{head}\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(body).await.unwrap();
    if then_close {
        socket.shutdown().await.unwrap();
    }
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    // actix answers `100 Continue` to `Expect: 100-continue` before the handler runs.
    let answer = answer
        .strip_prefix("HTTP/1.1 100 Continue\r\n\r\n")
        .unwrap_or(&answer);
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("an HTTP answer: {answer:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {head}"));
    // Only the first answer: the bytes sent past a Content-Length are read as another
    // request, which gets an answer of its own.
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")?
                .parse()
                .ok()
        })
        .unwrap_or(body.len());
    Answer {
        status,
        body: body[..length].to_owned(),
    }
}

fn post_head(token: &str, framing: &str) -> String {
    format!(
        "POST /depot/messages HTTP/1.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\n{framing}"
    )
}

/// `body` in chunks of 1000 bytes (RFC 9112 §7.1), and the last chunk.
fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in body.chunks(1000) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn assert_problem(answer: &Answer, status: u16, detail: &str, what: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
    let problem: Value = serde_json::from_str(&answer.body)
        .unwrap_or_else(|e| panic!("{what}: a problem, not {:?}: {e}", answer.body));
    let said = problem["detail"].as_str().unwrap_or_default();
    assert!(said.contains(detail), "{what}: {problem}");
}

#[tokio::test]
async fn a_body_at_the_limit_passes_and_one_byte_more_is_refused_unread() {
    let app = depot_app_with(|s| s.depot.message_max_bytes = LIMIT).await;
    let sender = system_party(&app, "hospital-gw", "03123456").await;
    let recipient = system_party(&app, "gp-gw", "05123456").await;

    let at_limit = message_of(LIMIT, &sender, &recipient);
    let answer = send(&app, &sender.token, &at_limit).await;
    let id = answer["id"].as_str().unwrap();
    let fetched = fetched(&app, &recipient.token, id, "the recipient").await;
    let posted: Value = serde_json::from_str(&at_limit).unwrap();
    assert_eq!(fetched["sealed"], posted["sealed"], "stored as posted");

    let over = format!("{at_limit} ");
    let response = post_message(&app, &sender.token, &over, None).await;
    let refused = problem(response, 413, "one byte over the limit").await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains(&LIMIT.to_string()),
        "{refused}"
    );

    // Its Content-Length says enough: 413 before a byte of it is read (here, none is
    // ever sent).
    let head = post_head(
        &sender.token,
        &format!("Content-Length: {}\r\nExpect: 100-continue", LIMIT + 1),
    );
    let answer = by_hand(&app, &head, b"", false).await;
    assert_problem(
        &answer,
        413,
        "larger than the limit",
        "a declared length over",
    );

    // Without a Content-Length (chunked), the same limit, counted as the body comes.
    let head = post_head(&sender.token, "Transfer-Encoding: chunked");
    let answer = by_hand(&app, &head, &chunked(over.as_bytes()), false).await;
    assert_problem(&answer, 413, "larger than the limit", "a chunked body over");
    assert_eq!(stored(&app).await, (1, 1), "nothing stored past the limit");
    let answer = by_hand(&app, &head, &chunked(at_limit.as_bytes()), false).await;
    assert_eq!(
        answer.status, 201,
        "a chunked body at the limit: {}",
        answer.body
    );
    assert_eq!(stored(&app).await, (2, 2));
}

#[tokio::test]
async fn a_body_unlike_its_content_length_is_a_clear_400_and_stores_nothing() {
    let app = depot_app().await;
    let sender = system_party(&app, "hospital-gw", "03123456").await;
    let recipient = system_party(&app, "gp-gw", "05123456").await;
    let body = message_of(20_000, &sender, &recipient)
        .trim_end()
        .to_owned();

    // Declared longer than sent: the body ends with the connection, short.
    let head = post_head(
        &sender.token,
        &format!("Content-Length: {}", body.len() + 100),
    );
    let answer = by_hand(&app, &head, body.as_bytes(), true).await;
    assert_problem(
        &answer,
        400,
        &format!(
            "before the {} bytes its Content-Length declares",
            body.len() + 100
        ),
        "a body shorter than declared",
    );

    // Sent longer than declared: the body is what was declared, so its JSON ends early.
    let head = post_head(
        &sender.token,
        &format!("Content-Length: {}", body.len() - 100),
    );
    let answer = by_hand(&app, &head, body.as_bytes(), false).await;
    assert_problem(
        &answer,
        400,
        "is its Content-Length right?",
        "a body longer than declared",
    );
    assert_eq!(stored(&app).await, (0, 0), "nothing stored");
    assert_eq!(
        app.state.depot_bodies.free_bytes(),
        app.config.settings.depot.bodies_in_flight_bytes,
        "the refused bodies gave their room back"
    );
}

#[tokio::test]
async fn a_tiny_budget_only_delays_the_bodies_in_flight() {
    // Room for 1 KiB of bodies: every message of 8 KiB takes all of it, in turn.
    let app = depot_app_with(|s| s.depot.bodies_in_flight_bytes = 1024).await;
    let sender = system_party(&app, "hospital-gw", "03123456").await;
    let recipient = system_party(&app, "gp-gw", "05123456").await;
    let bodies: Vec<String> = (0..16)
        .map(|_| message_of(8 * 1024, &sender, &recipient))
        .collect();

    let answers = futures_util::future::join_all(
        bodies
            .iter()
            .map(|b| post_message(&app, &sender.token, b, None)),
    )
    .await;
    for (i, response) in answers.into_iter().enumerate() {
        accepted(response, &format!("message {i} of 16 sent at once")).await;
    }
    assert_eq!(stored(&app).await, (16, 16), "each stored once");
    assert_eq!(
        app.state.depot_bodies.free_bytes(),
        1024,
        "all room given back"
    );

    // A body of unknown length grows within the same budget.
    let head = post_head(&sender.token, "Transfer-Encoding: chunked");
    let answer = by_hand(&app, &head, &chunked(bodies[0].as_bytes()), false).await;
    assert_eq!(answer.status, 201, "a chunked body: {}", answer.body);
    assert_eq!(app.state.depot_bodies.free_bytes(), 1024);
}

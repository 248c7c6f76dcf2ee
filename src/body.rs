//! Request bodies read under a size limit, and JSON bodies parsed into problems that
//! say what is wrong (400 malformed, 415 wrong type, 422 wrong shape, 413 too large).
//!
//! A body is read into one buffer, allocated once at the size its `Content-Length`
//! declares (RFC 9110 §8.6), so that a large body is neither copied nor held twice
//! while the buffer grows; only a body of unknown length (chunked, or HTTP/2 without
//! the header) grows, doubling. A declared length past the limit is refused before a
//! byte is read. Before the buffer takes memory it asks its [`Reservation`] for room.

use actix_web::HttpRequest;
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::web::{Bytes, Payload};
use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;

use crate::problem::Problem;

mod budget;

pub use budget::{Budget, Reservation};

/// Reads the whole body, refusing it as soon as it passes `limit` bytes.
pub async fn read(payload: Payload, limit: usize) -> Result<Bytes, Problem> {
    let body = read_sized(payload, limit, None, &mut Reservation::unbounded()).await?;
    Ok(Bytes::from(body))
}

/// The body's length as its `Content-Length` declares it, when it does.
pub fn content_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Reads the whole body into one buffer: of the `declared` length at once when there
/// is one (refused with 413 at once past `limit`), else grown as it comes and refused
/// as soon as it passes `limit`. `room` is asked before every allocation.
pub async fn read_sized(
    mut payload: impl Stream<Item = Result<Bytes, PayloadError>> + Unpin,
    limit: usize,
    declared: Option<usize>,
    room: &mut Reservation,
) -> Result<Vec<u8>, Problem> {
    if declared.is_some_and(|n| n > limit) {
        return Err(Problem::payload_too_large(limit));
    }
    let mut body = Vec::new();
    if let Some(n) = declared {
        grow(&mut body, n, room).await?;
    }
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| unreadable(&e, declared))?;
        let len = body.len() + chunk.len();
        if len > limit {
            return Err(Problem::payload_too_large(limit));
        }
        if let Some(n) = declared.filter(|n| len > *n) {
            return Err(Problem::bad_request(format!(
                "the body is longer than its Content-Length of {n} bytes"
            )));
        }
        if len > body.capacity() {
            // Unknown length: doubling keeps the copies to about the body's size.
            let capacity = len.max(2 * body.capacity()).max(MIN_CAPACITY).min(limit);
            grow(&mut body, capacity, room).await?;
        }
        body.extend_from_slice(&chunk);
    }
    match declared {
        Some(n) if body.len() < n => Err(short(body.len(), n)),
        _ => Ok(body),
    }
}

/// The least a buffer of unknown length starts with.
const MIN_CAPACITY: usize = 8 * 1024;

/// Makes `body`'s capacity exactly `capacity`, once `room` has it.
async fn grow(body: &mut Vec<u8>, capacity: usize, room: &mut Reservation) -> Result<(), Problem> {
    room.grow_to(capacity).await?;
    body.try_reserve_exact(capacity.saturating_sub(body.len()))
        .map_err(|e| {
            tracing::error!(code = "E-BODY-ALLOC", error = %e, capacity, "no memory for a body");
            Problem::unavailable("the service cannot hold this body now; retry shortly")
                .with_header("Retry-After", "5".into())
        })
}

fn short(read: usize, declared: usize) -> Problem {
    Problem::bad_request(format!(
        "the body ended after {read} of the {declared} bytes its Content-Length declares"
    ))
}

fn unreadable(e: &PayloadError, declared: Option<usize>) -> Problem {
    match (e, declared) {
        (PayloadError::Incomplete(_), Some(n)) => Problem::bad_request(format!(
            "the body ended before the {n} bytes its Content-Length declares"
        )),
        _ => Problem::bad_request(format!("cannot read the body: {e}")),
    }
}

/// The request's media type without parameters (`""` when absent).
pub fn media_type(req: &HttpRequest) -> &str {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or_default()
}

/// Reads a JSON body within `limit` and parses it into the expected shape.
pub async fn read_json<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: Payload,
    limit: usize,
) -> Result<T, Problem> {
    let bytes = read(payload, limit).await?;
    json(req, &bytes)
}

/// Parses a JSON body of the expected shape.
pub fn json<T: DeserializeOwned>(req: &HttpRequest, body: &[u8]) -> Result<T, Problem> {
    if !media_type(req).eq_ignore_ascii_case("application/json") {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "the body must be application/json",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            Problem::unprocessable(e.to_string())
        } else {
            Problem::bad_request(format!("malformed JSON: {e}"))
        }
    })
}

/// Checks that no JSON object in `bytes`, at any depth, names a member twice (RFC 8259
/// §4 leaves it to the reader; I-JSON, RFC 7493 §2.3, forbids it). Where a signature or
/// a stored raw text is involved, a last-wins reader and a first-wins reader would see
/// different messages, so such a text is refused. Only checks: values are not kept.
pub fn unique_members(bytes: &[u8]) -> Result<(), serde_json::Error> {
    use serde::de::DeserializeSeed as _;
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    UniqueMembers
        .deserialize(&mut reader)
        .and_then(|()| reader.end())
}

struct UniqueMembers;

impl<'de> serde::de::DeserializeSeed<'de> for UniqueMembers {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for UniqueMembers {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(UniqueMembers)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(name) = map.next_key::<String>()? {
            if !seen.insert(name.clone()) {
                return Err(serde::de::Error::custom(format!(
                    "the member {name:?} is given twice"
                )));
            }
            map.next_value_seed(UniqueMembers)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    const LIMIT: usize = 64 * 1024;

    fn chunks(sizes: &[usize]) -> Vec<Result<Bytes, PayloadError>> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, n)| Ok(Bytes::from(vec![b'a' + i as u8; *n])))
            .collect()
    }

    async fn read_chunks(sizes: &[usize], declared: Option<usize>) -> Result<Vec<u8>, Problem> {
        let room = &mut Reservation::unbounded();
        read_sized(stream::iter(chunks(sizes)), LIMIT, declared, room).await
    }

    #[tokio::test]
    async fn a_declared_body_is_read_into_one_buffer_of_its_size() {
        let budget = Budget::new(1 << 20, std::time::Duration::from_millis(10));
        let mut room = budget.reservation();
        let body = read_sized(
            stream::iter(chunks(&[1000, 3000, 5000])),
            LIMIT,
            Some(9000),
            &mut room,
        )
        .await
        .unwrap();
        assert_eq!(body.len(), 9000);
        assert_eq!(
            body.capacity(),
            9000,
            "allocated once, at the declared size"
        );
        assert_eq!(&body[..1000], &[b'a'; 1000][..]);
        assert_eq!(&body[4000..], &[b'c'; 5000][..]);
        assert_eq!(
            room.bytes(),
            9 * 1024,
            "the room of 9000 bytes, in whole KiB"
        );
        assert_eq!(read_chunks(&[], Some(0)).await.unwrap(), b"");
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_before_reading() {
        let unread = stream::poll_fn(
            |_| -> std::task::Poll<Option<Result<Bytes, PayloadError>>> {
                panic!("the body was read")
            },
        );
        let room = &mut Reservation::unbounded();
        let refused = read_sized(unread, LIMIT, Some(LIMIT + 1), room)
            .await
            .unwrap_err();
        assert_eq!(refused.status, 413);
        assert_eq!(
            read_chunks(&[LIMIT], Some(LIMIT)).await.unwrap().len(),
            LIMIT
        );
    }

    #[tokio::test]
    async fn a_body_unlike_its_content_length_is_a_clear_400() {
        let longer = read_chunks(&[100, 100], Some(150)).await.unwrap_err();
        assert_eq!(longer.status, 400);
        assert!(
            longer.detail.contains("longer than its Content-Length"),
            "{}",
            longer.detail
        );
        let shorter = read_chunks(&[100], Some(150)).await.unwrap_err();
        assert_eq!(shorter.status, 400);
        assert!(
            shorter.detail.contains("after 100 of the 150 bytes"),
            "{}",
            shorter.detail
        );
        let cut = stream::iter(vec![
            Ok(Bytes::from_static(b"{")),
            Err(PayloadError::Incomplete(None)),
        ]);
        let room = &mut Reservation::unbounded();
        let cut = read_sized(cut, LIMIT, Some(150), room).await.unwrap_err();
        assert_eq!(cut.status, 400);
        assert!(
            cut.detail.contains("ended before the 150 bytes"),
            "{}",
            cut.detail
        );
    }

    #[tokio::test]
    async fn a_body_of_unknown_length_grows_by_doubling_within_the_limit() {
        let budget = Budget::new(1 << 20, std::time::Duration::from_millis(10));
        let mut room = budget.reservation();
        let sizes = [5000, 5000, 5000, 5000, 5000, 5000];
        let body = read_sized(stream::iter(chunks(&sizes)), LIMIT, None, &mut room)
            .await
            .unwrap();
        assert_eq!(body.len(), 30_000);
        assert_eq!(body.capacity(), 32 * 1024, "8 KiB, 16 KiB, 32 KiB");
        assert_eq!(room.bytes(), 32 * 1024, "the room follows the capacity");
        let at_limit = read_chunks(&[40_000, LIMIT - 40_000], None).await.unwrap();
        assert_eq!(at_limit.len(), LIMIT);
        assert_eq!(at_limit.capacity(), LIMIT, "never past the limit");
        let over = read_chunks(&[40_000, LIMIT - 40_000, 1], None)
            .await
            .unwrap_err();
        assert_eq!(over.status, 413);
    }

    #[test]
    fn a_member_named_twice_at_any_depth_is_found() {
        assert!(
            unique_members(br#"{"a": 1, "b": [{"c": 2}, {"c": 3}], "d": {"e": null}}"#).is_ok()
        );
        for twice in [
            r#"{"a": 1, "a": 2}"#,
            r#"{"a": {"kid": "x", "kid": "y"}}"#,
            r#"{"a": [1, {"b": true, "b": false}]}"#,
            r#"{"k\u0069d": 1, "kid": 2}"#,
        ] {
            let refused = unique_members(twice.as_bytes()).unwrap_err().to_string();
            assert!(refused.contains("given twice"), "{twice}: {refused}");
        }
        assert!(unique_members(b"{\"a\": 1} x").is_err());
    }
}

//! Request bodies read under a size limit, and JSON bodies parsed into problems that
//! say what is wrong (400 malformed, 415 wrong type, 422 wrong shape, 413 too large).

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::web::{Bytes, BytesMut, Payload};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// Reads the whole body, refusing it as soon as it passes `limit` bytes.
pub async fn read(mut payload: Payload, limit: usize) -> Result<Bytes, Problem> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| Problem::bad_request(format!("cannot read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(Problem::payload_too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
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
pub fn unique_members(bytes: &[u8]) -> Result<(), String> {
    use serde::de::DeserializeSeed as _;
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    UniqueMembers
        .deserialize(&mut reader)
        .and_then(|()| reader.end())
        .map_err(|e| e.to_string())
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
    use super::unique_members;

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
            let refused = unique_members(twice.as_bytes()).unwrap_err();
            assert!(refused.contains("given twice"), "{twice}: {refused}");
        }
        assert!(unique_members(b"{\"a\": 1} x").is_err());
    }
}

//! The shape check of a sealed message (`depot::depot::jwe`) and the I-JSON duplicate
//! member check (`depot::body::unique_members`), on any bytes: as a compact JWE when
//! they are UTF-8, as a JSON-serialized JWE when they are a JSON object.
//!
//! Oracles: no panic; `unique_members` accepts exactly the JSON texts serde_json
//! accepts, less those naming a member twice; an accepted envelope holds only the
//! profile's algorithms, 1 to `MAX_RECIPIENTS` recipients and kids of 1 to 512 bytes.
#![no_main]

use depot::body::unique_members;
use depot::depot::jwe::{self, ALGORITHMS, ENCRYPTIONS, Envelope, MAX_RECIPIENTS};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn well_formed(envelope: &Envelope) {
    assert!(ENCRYPTIONS.contains(&envelope.enc.as_str()));
    assert!((1..=MAX_RECIPIENTS).contains(&envelope.recipients.len()));
    for recipient in &envelope.recipients {
        assert!(ALGORITHMS.contains(&recipient.alg.as_str()));
        assert!((1..=512).contains(&recipient.kid.len()));
    }
}

fuzz_target!(|data: &[u8]| {
    let unique = unique_members(data);
    let value = serde_json::from_slice::<Value>(data);
    match (&unique, &value) {
        (Ok(()), Err(e)) => panic!("unique_members accepted what serde_json refuses: {e}"),
        (Err(e), Ok(_)) => assert!(e.contains("given twice"), "{e}"),
        _ => {}
    }
    if let Ok(Value::Object(object)) = &value
        && let Ok(envelope) = jwe::parse_json(object)
    {
        well_formed(&envelope);
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(envelope) = jwe::parse_compact(text)
    {
        assert_eq!(envelope.recipients.len(), 1);
        well_formed(&envelope);
    }
});

//! The WebAuthn registration ceremony on untrusted bytes: `Ceremony::finish` (W3C
//! WebAuthn Level 2 §7.1) parses the clientDataJSON, the attestation object's CBOR,
//! the authenticator data, the COSE_Key (`keys::cose`) and the `packed` statement
//! (`keys::packed`) with its x5c certificates.
//!
//! The relying party is `https://depot.example` with a fixed challenge, so that seeds
//! made for it (see `seeds.py`) reach the later steps. Input layout:
//! `flags(1) | len(2, BE) | clientDataJSON | len(2, BE) | rawId | attestationObject`,
//! where an empty clientDataJSON stands for the one the seeds were signed over, and
//! bit 0 of `flags` allows the `none` attestation.
//!
//! Oracles: no panic; an accepted credential's id is the rawId sent, and its
//! attestation is `packed` self-attestation, or `none` when allowed (no trust root is
//! configured, so `packed` with x5c is never accepted).
#![no_main]

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use depot::config::{Config, Settings};
use depot::keys::ceremony::Ceremony;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

const ORIGIN: &str = "https://depot.example";
/// The challenge of the kept state: bytes 0, 1, …, 31.
const CHALLENGE: [u8; 32] = {
    let mut c = [0; 32];
    let mut i = 0;
    while i < 32 {
        c[i] = i as u8;
        i += 1;
    }
    c
};

static CEREMONY: LazyLock<Ceremony> = LazyLock::new(|| {
    let mut settings = Settings::default();
    settings.service.public_url = Some(ORIGIN.to_owned());
    let config = Config::from_settings(settings).unwrap_or_else(|e| panic!("{e}"));
    Ceremony::from_config(&config).unwrap_or_else(|e| panic!("{e}"))
});

/// What `Ceremony::start` would have kept: every algorithm offered, nothing excluded.
static STATE: LazyLock<Value> = LazyLock::new(
    || json!({"challenge": B64.encode(CHALLENGE), "algorithms": [-7, -8, -257, -37], "exclude": []}),
);

static CLIENT_DATA: LazyLock<String> = LazyLock::new(|| {
    format!(
        r#"{{"type":"webauthn.create","challenge":"{}","origin":"{ORIGIN}","crossOrigin":false}}"#,
        B64.encode(CHALLENGE)
    )
});

fn take<'a>(data: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (len, rest) = data.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    let (taken, rest) = rest.split_at_checked(len)?;
    *data = rest;
    Some(taken)
}

fuzz_target!(|data: &[u8]| {
    let Some((flags, mut rest)) = data.split_first() else {
        return;
    };
    let allow_none = flags & 1 == 1;
    let (Some(client_data), Some(raw_id)) = (take(&mut rest), take(&mut rest)) else {
        return;
    };
    let client_data = if client_data.is_empty() {
        CLIENT_DATA.as_bytes()
    } else {
        client_data
    };
    let credential = json!({
        "id": B64.encode(raw_id),
        "rawId": B64.encode(raw_id),
        "type": "public-key",
        "response": {
            "clientDataJSON": B64.encode(client_data),
            "attestationObject": B64.encode(rest),
        },
    });
    if let Ok(attested) = CEREMONY.finish(&credential, &STATE, allow_none) {
        assert_eq!(attested.credential_id, raw_id);
        match attested.attestation {
            "packed/self" => {}
            "none" => assert!(allow_none),
            other => panic!("attestation {other} accepted"),
        }
    }
});

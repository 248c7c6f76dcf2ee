//! The co-hosted TSA's reading of a DER TimeStampReq (RFC 3161 §2.4.1):
//! `Authority::check`, as `POST /tsa` calls it, then what the route does with the
//! outcome: a refusal is encoded as a TimeStampResp (`authority::refuse`), an accepted
//! request is signed (`Authority::sign`). Oracle: no panic, and neither the refusal nor
//! the signature of a checked request ever fails.
#![no_main]

use std::sync::LazyLock;

use chrono::Utc;
use depot::tsa::{Authority, authority};
use libfuzzer_sys::fuzz_target;
use openssl::pkey::PKey;
use openssl::x509::X509;

/// The authority of a first start: a generated chain, the default policy and accuracy.
static AUTHORITY: LazyLock<Authority> = LazyLock::new(|| {
    let secret = depot::tsa::generated::chain("https://depot.example", Utc::now())
        .unwrap_or_else(|e| panic!("generated TSA chain: {e}"));
    let chain = X509::stack_from_pem(secret.public.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let key = PKey::private_key_from_pkcs8(&secret.private_der).unwrap_or_else(|e| panic!("{e}"));
    Authority::new(chain, key, "1.2.3.4.1", 1).unwrap_or_else(|e| panic!("{e}"))
});

fuzz_target!(|data: &[u8]| {
    match AUTHORITY.check(data) {
        Ok(request) => {
            if let Err(e) = AUTHORITY.sign(&request, 1, Utc::now()) {
                panic!("a checked request cannot be signed: {e}");
            }
        }
        Err(refusal) => {
            if let Err(e) = authority::refuse(&refusal) {
                panic!("a refusal cannot be encoded: {e}");
            }
        }
    }
});

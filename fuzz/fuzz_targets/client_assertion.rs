//! The client assertion of RFC 7523 (`private_key_jwt`) as the token endpoint reads it
//! before looking up any client or key: `depot::authz::client_auth::read_assertion`.
//! Oracle: no panic, and nothing larger than 8 KiB is read.
#![no_main]

use depot::authz::client_auth::read_assertion;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(assertion) = std::str::from_utf8(data) else {
        return;
    };
    if read_assertion(assertion).is_ok() {
        assert!(assertion.len() <= 8 * 1024);
    }
});

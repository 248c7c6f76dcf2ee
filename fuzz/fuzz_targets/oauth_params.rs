//! `Params::parse` and `OAuthForm::parse` (RFC 6749 §3.1/§3.2 form bodies and query
//! strings): any bytes, never a panic; at most `MAX_PARAMS` pairs; the duplicate found
//! is never `resource` and is really repeated.
#![no_main]

use depot::authz::form::{FORM, OAuthForm};
use depot::authz::params::{MAX_PARAMS, Params};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = Params::parse(data);
    let pairs = url::form_urlencoded::parse(data).count();
    match &parsed {
        Ok(params) => {
            assert!(pairs <= MAX_PARAMS);
            if let Some(name) = params.duplicate() {
                assert_ne!(name, "resource");
                let given = url::form_urlencoded::parse(data)
                    .filter(|(n, _)| n == name)
                    .count();
                assert!(given >= 2, "{name:?} is not repeated");
            }
        }
        Err(_) => assert!(pairs > MAX_PARAMS),
    }
    let form = OAuthForm::parse(Some(FORM), data);
    assert_eq!(
        form.is_ok(),
        parsed.as_ref().is_ok_and(|p| p.duplicate().is_none())
    );
});

use std::net::IpAddr;

use actix_web::test::TestRequest;

use super::{Origin, TrustedProxies, origin};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// The origin of a request from `peer` (over TLS or not) with `headers`.
fn seen(trusted: &str, peer: &str, tls: bool, headers: &[(&str, &str)]) -> Origin {
    let trusted = TrustedProxies::parse(trusted).unwrap();
    let mut request = TestRequest::default();
    for (name, value) in headers {
        request = request.append_header((*name, *value));
    }
    let request = request.to_http_request();
    origin(&trusted, request.head(), Some(ip(peer)), tls)
}

fn at(address: &str, https: bool) -> Origin {
    Origin {
        address: Some(ip(address)),
        https,
    }
}

#[test]
fn the_list_takes_cidrs_and_addresses_and_names_a_bad_entry() {
    let list = TrustedProxies::parse(" 10.0.0.0/8, 192.0.2.7 ,::1,, fd00::/8").unwrap();
    assert!(list.trusts(ip("10.1.2.3")));
    assert!(list.trusts(ip("192.0.2.7")));
    assert!(!list.trusts(ip("192.0.2.8")));
    assert!(list.trusts(ip("::1")));
    assert!(list.trusts(ip("fd12::1")));
    assert!(
        list.trusts(ip("::ffff:10.9.9.9")),
        "IPv4-mapped peers are IPv4"
    );
    assert!(TrustedProxies::parse("").unwrap().is_empty());
    let error = TrustedProxies::parse("10.0.0.0/8, proxy.example").unwrap_err();
    assert!(error.contains("proxy.example"), "{error}");
    assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
}

#[test]
fn headers_from_an_untrusted_peer_are_ignored() {
    let spoof = [
        ("x-forwarded-for", "203.0.113.9"),
        ("x-forwarded-proto", "https"),
        ("forwarded", "for=203.0.113.9;proto=https"),
    ];
    assert_eq!(
        seen("", "198.51.100.1", false, &spoof),
        at("198.51.100.1", false)
    );
    assert_eq!(
        seen("10.0.0.0/8", "198.51.100.1", false, &spoof),
        at("198.51.100.1", false)
    );
}

#[test]
fn a_trusted_proxy_names_the_client() {
    let headers = [
        ("x-forwarded-for", "203.0.113.9"),
        ("x-forwarded-proto", "https"),
    ];
    assert_eq!(
        seen("10.0.0.0/8", "10.0.0.2", false, &headers),
        at("203.0.113.9", true)
    );
    // Without a chain, the peer is the client; without a scheme, our own listener's.
    assert_eq!(
        seen("10.0.0.0/8", "10.0.0.2", true, &[]),
        at("10.0.0.2", true)
    );
    assert_eq!(
        seen(
            "10.0.0.0/8",
            "10.0.0.2",
            false,
            &[("x-forwarded-proto", "https")]
        ),
        at("10.0.0.2", true)
    );
    assert_eq!(
        seen(
            "10.0.0.0/8",
            "10.0.0.2",
            true,
            &[("x-forwarded-proto", "http")]
        ),
        at("10.0.0.2", false)
    );
}

#[test]
fn what_the_client_wrote_itself_before_the_proxies_is_not_believed() {
    // The client sent `X-Forwarded-For: 1.2.3.4`; our proxy appended its address.
    let headers = [("x-forwarded-for", "1.2.3.4, 203.0.113.9")];
    assert_eq!(
        seen("10.0.0.0/8", "10.0.0.2", false, &headers),
        at("203.0.113.9", false)
    );
    // Two proxies of ours: the chain is followed through both, and no further.
    let headers = [("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.0.0.7")];
    assert_eq!(
        seen("10.0.0.0/8", "10.0.0.2", false, &headers),
        at("203.0.113.9", false)
    );
    // Several headers are one list, in order.
    let headers = [
        ("x-forwarded-for", "1.2.3.4"),
        ("x-forwarded-for", "203.0.113.9, 10.0.0.7"),
    ];
    assert_eq!(
        seen("10.0.0.0/8", "10.0.0.2", false, &headers),
        at("203.0.113.9", false)
    );
    // Only proxies of ours: the farthest is the client.
    let headers = [("x-forwarded-for", "10.0.0.9, 10.0.0.7")];
    assert_eq!(
        seen("10.0.0.0/8", "10.0.0.2", false, &headers),
        at("10.0.0.9", false)
    );
}

#[test]
fn forwarded_is_read_per_rfc_7239_and_wins_over_x_forwarded() {
    let headers = [
        (
            "forwarded",
            r#"for=1.2.3.4, for="[2001:db8::7]:4711";proto=https"#,
        ),
        ("x-forwarded-for", "198.51.100.77"),
    ];
    assert_eq!(
        seen("10.0.0.0/8", "10.0.0.2", false, &headers),
        at("2001:db8::7", true)
    );
    let headers = [("forwarded", "for=192.0.2.60:8080;proto=http;by=10.0.0.2")];
    assert_eq!(
        seen("10.0.0.0/8", "10.0.0.2", true, &headers),
        at("192.0.2.60", false)
    );
}

#[test]
fn an_entry_that_is_no_address_leaves_the_client_unknown() {
    for headers in [
        [("x-forwarded-for", "1.2.3.4, garbage")],
        [("forwarded", "for=unknown")],
        [("forwarded", "for=_hidden")],
        [("forwarded", "for=\"not closed")],
    ] {
        let origin = seen("10.0.0.0/8", "10.0.0.2", false, &headers);
        assert_eq!(origin.address, None, "{headers:?}");
        assert_eq!(origin.address_text(), "unknown");
    }
    // Forms proxies write: with a port, IPv6 with brackets and a port.
    let headers = [("x-forwarded-for", "[2001:db8::1]:443, 192.0.2.1:80")];
    assert_eq!(
        seen("10.0.0.0/8", "10.0.0.2", false, &headers),
        at("192.0.2.1", false)
    );
}

//! Who is on the other end of a request, behind the proxies the operator trusts
//! (`DEPOT_TRUSTED_PROXIES`). A forwarding header (`Forwarded`, RFC 7239, else
//! `X-Forwarded-For` / `X-Forwarded-Proto`) is believed only when the TCP peer is a
//! trusted proxy, and then only as far back as the chain runs through trusted
//! proxies: the client is the nearest address that is not one (the "rightmost
//! untrusted" reading), so a client cannot name its own address by sending the header
//! itself. The answer serves throttling, the request log and the `Secure` cookie
//! decision.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::dev::RequestHead;
use actix_web::http::header::HeaderMap;
use ipnet::IpNet;

/// The proxies whose forwarding headers are believed; none by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// `10.0.0.0/8, 192.0.2.7, ::1`: CIDRs or single addresses, comma-separated.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{entry:?} is neither a CIDR nor an IP address"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|net| net.contains(&address))
    }
}

/// The client as the service should see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// The client's address; `None` when the peer is unknown (no TCP peer, or a
    /// trusted proxy forwarded an address that is not one, such as `unknown`).
    pub address: Option<IpAddr>,
    /// Whether the client's request reached us over TLS (ours, or a trusted proxy's).
    pub https: bool,
}

impl Origin {
    /// The address as text, for throttling keys and logs (`unknown` when none).
    pub fn address_text(&self) -> String {
        self.address
            .map_or_else(|| "unknown".to_owned(), |a| a.to_string())
    }
}

/// The origin of `req`, as received by this listener.
pub fn origin_of(trusted: &TrustedProxies, req: &HttpRequest) -> Origin {
    origin(
        trusted,
        req.head(),
        req.peer_addr().map(|a| a.ip()),
        req.app_config().secure(),
    )
}

/// The origin of the request with `head`, received from `peer` over TLS or not.
pub fn origin(
    trusted: &TrustedProxies,
    head: &RequestHead,
    peer: Option<IpAddr>,
    tls: bool,
) -> Origin {
    let direct = Origin {
        address: peer.map(canonical),
        https: tls,
    };
    match peer {
        Some(peer) if trusted.trusts(peer) => forwarded(trusted, &head.headers, peer, tls),
        _ => direct,
    }
}

/// What the forwarding headers say: the addresses of the hops, first (the client as
/// the farthest proxy saw it) to last (the hop our peer received the request from),
/// `None` where an entry is not an address; and the scheme the request reached the
/// nearest proxy with, when stated.
#[derive(Debug, Default)]
struct Chain {
    hops: Vec<Option<IpAddr>>,
    proto: Option<String>,
}

fn forwarded(trusted: &TrustedProxies, headers: &HeaderMap, peer: IpAddr, tls: bool) -> Origin {
    let chain = forwarded_chain(headers).unwrap_or_else(|| x_forwarded_chain(headers));
    let https = chain
        .proto
        .as_deref()
        .map_or(tls, |proto| proto.eq_ignore_ascii_case("https"));
    let mut client = Some(peer);
    for hop in chain.hops.iter().rev() {
        match client {
            Some(address) if trusted.trusts(address) => client = *hop,
            _ => break,
        }
    }
    Origin {
        address: client.map(canonical),
        https,
    }
}

/// The chain of the `Forwarded` headers (RFC 7239 §4); `None` when there is no such
/// header. An element that does not parse is a hop with no address: the client is
/// then unknown rather than whatever the elements before it claim.
fn forwarded_chain(headers: &HeaderMap) -> Option<Chain> {
    let mut values = headers.get_all("forwarded").peekable();
    values.peek()?;
    let mut chain = Chain::default();
    for value in values {
        let Ok(value) = value.to_str() else {
            chain.hops.push(None);
            chain.proto = None;
            continue;
        };
        for element in rfc7239::parse(value) {
            let element = element.ok();
            chain.proto = element.as_ref().and_then(|e| e.protocol).map(str::to_owned);
            chain
                .hops
                .push(
                    element
                        .and_then(|e| e.forwarded_for)
                        .and_then(|node| match node.name {
                            rfc7239::NodeName::Ip(ip) => Some(ip),
                            _ => None,
                        }),
                );
        }
    }
    Some(chain)
}

/// The chain of `X-Forwarded-For` (comma-separated, possibly in several headers),
/// with the last `X-Forwarded-Proto` value as the nearest proxy's scheme.
fn x_forwarded_chain(headers: &HeaderMap) -> Chain {
    let hops = headers
        .get_all("x-forwarded-for")
        .flat_map(|value| value.to_str().unwrap_or("unknown").split(','))
        .map(|entry| parse_address(entry.trim()))
        .collect();
    let proto = headers
        .get_all("x-forwarded-proto")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .next_back()
        .map(str::to_owned);
    Chain { hops, proto }
}

/// An address as proxies write it: bare, with a port, or IPv6 in brackets.
fn parse_address(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            text.strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| inner.parse().ok())
        })
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, a dual-stack listener's view of an
/// IPv4 peer) as the IPv4 address they are.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests;

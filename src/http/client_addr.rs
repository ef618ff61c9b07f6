//! The client's address: the TCP peer, or, when the peer is a trusted reverse proxy, the address
//! that proxy reports in `X-Forwarded-For`. Throttling per address needs the real client: behind a
//! TLS proxy every request would otherwise come from the proxy.

use std::net::IpAddr;

use http::HeaderMap;
use ipnet::IpNet;

/// The rightmost `X-Forwarded-For` address that is not itself a trusted proxy (addresses further
/// left were written by the client and can be forged); the peer if it is not trusted.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpNet]) -> IpAddr {
    // A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d: compare them as IPv4.
    let peer = peer.to_canonical();
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    let hops = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
    for hop in hops.collect::<Vec<_>>().into_iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip.to_canonical();
                if !trusted(&ip) {
                    break;
                }
            }
            // Not an address (a port, garbage): stop at the last address known good.
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in xff {
            map.append("x-forwarded-for", value.parse().unwrap());
        }
        map
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let proxies: Vec<IpNet> = vec!["10.0.0.2/32".parse().unwrap(), "192.168.0.0/16".parse().unwrap()];
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(client_ip(stranger, &headers(&["198.51.100.1"]), &proxies), stranger);
        assert_eq!(client_ip(proxy, &headers(&[]), &proxies), proxy);
        assert_eq!(client_ip(proxy, &headers(&["198.51.100.1"]), &proxies), ip("198.51.100.1"));
        // A forged left part is skipped: the rightmost untrusted hop is the client.
        assert_eq!(client_ip(proxy, &headers(&["1.2.3.4, 198.51.100.1, 192.168.1.1"]), &proxies), ip("198.51.100.1"));
        assert_eq!(client_ip(proxy, &headers(&["1.2.3.4", "198.51.100.1"]), &proxies), ip("198.51.100.1"));
        assert_eq!(client_ip(proxy, &headers(&["garbage"]), &proxies), proxy);
        assert_eq!(client_ip(proxy, &headers(&["198.51.100.1"]), &[]), proxy, "no trusted proxies: header ignored");
        assert_eq!(client_ip(ip("::ffff:10.0.0.2"), &headers(&["198.51.100.1"]), &proxies), ip("198.51.100.1"));
    }
}

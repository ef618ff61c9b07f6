//! Where pushes may be sent. A push resource comes from a device, and the server POSTs to it: left
//! unchecked it would let any rep make the server send requests into its own network (SSRF). A
//! push resource must be an `https://` URL of a host on a public address, checked when it is
//! registered, again when a push is sent, and on the addresses its name resolves to at connection
//! time (a name may resolve to an internal address). `http://` on a loopback address is accepted
//! only with `push.allow_insecure_loopback` (tests, a push service on the same host).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Longest push resource accepted (real ones are 100-500 characters).
const MAX_URL_BYTES: usize = 2048;

/// The push resource as a URL, if the server may send to it.
pub fn check(text: &str, allow_insecure_loopback: bool) -> Result<Url, String> {
    if text.len() > MAX_URL_BYTES {
        return Err(format!("push-resource is longer than {MAX_URL_BYTES} bytes"));
    }
    let url = Url::parse(text).map_err(|e| format!("push-resource is not an absolute URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("push-resource must not carry credentials".into());
    }
    let scheme = url.scheme();
    if scheme != "https" && !(scheme == "http" && allow_insecure_loopback) {
        return Err(format!("push-resource must be an https URL, not {scheme}"));
    }
    let Some(host) = url.host_str() else {
        return Err("push-resource has no host".into());
    };
    let loopback = match host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        Ok(ip) => allowed_ip(ip, allow_insecure_loopback)?,
        Err(_) => {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            let local = name == "localhost" || name.ends_with(".localhost");
            if local && !allow_insecure_loopback {
                return Err(format!("push-resource host {name} is this machine: push services are on the internet"));
            }
            if !local && !name.contains('.') {
                return Err(format!("push-resource host {name} is not a public host name"));
            }
            local
        }
    };
    if scheme == "http" && !loopback {
        return Err("push-resource must be an https URL (plain http only to this machine, for tests)".into());
    }
    Ok(url)
}

/// Ok(whether it is a loopback address) for an address the server may send to.
fn allowed_ip(ip: IpAddr, allow_insecure_loopback: bool) -> Result<bool, String> {
    let loopback =
        ip.is_loopback() || matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()));
    if loopback && allow_insecure_loopback {
        return Ok(true);
    }
    if is_public(ip) { Ok(false) } else { Err(format!("push-resource address {ip} is not a public address")) }
}

/// Whether `ip` is a public unicast address (not loopback, private, link-local, shared, reserved,
/// documentation, multicast...).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier-grade NAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b)) // NAT64 (maps IPv4, possibly private)
}

/// The resolver of the push client: the system's, keeping only the addresses a push may go to.
pub struct GuardedResolver {
    pub allow_insecure_loopback: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_insecure_loopback;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                found.into_iter().filter(|addr| allowed_ip(addr.ip(), allow_loopback).is_ok()).collect();
            if allowed.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_on_public_hosts() {
        assert!(check("https://up.example.net/abc", false).is_ok());
        assert!(check("https://ntfy.sh/upAbc?up=1", false).is_ok());
        assert!(check("https://93.184.216.34/x", false).is_ok());
        for refused in [
            "http://up.example.net/abc",
            "ftp://up.example.net/abc",
            "https://localhost/x",
            "https://push.localhost/x",
            "https://127.0.0.1/x",
            "https://10.1.2.3/x",
            "https://172.16.0.1/x",
            "https://192.168.1.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/x",
            "https://0.0.0.0/x",
            "https://[::1]/x",
            "https://[fd00::1]/x",
            "https://[fe80::1]/x",
            "https://[::ffff:10.0.0.1]/x",
            "https://intranet/x",
            "https://user:pw@up.example.net/x",
            "/relative",
            "not a url",
        ] {
            assert!(check(refused, false).is_err(), "{refused} was accepted");
        }
    }

    #[test]
    fn loopback_http_only_when_allowed() {
        assert!(check("http://127.0.0.1:8080/push/1", true).is_ok());
        assert!(check("http://[::1]:8080/push/1", true).is_ok());
        assert!(check("http://localhost:8080/push/1", true).is_ok());
        assert!(check("http://127.0.0.1:8080/push/1", false).is_err());
        // Still never a private network, nor plain http to a public host.
        assert!(check("http://10.0.0.1/x", true).is_err());
        assert!(check("http://up.example.net/x", true).is_err());
    }
}

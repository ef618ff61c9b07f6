//! How many connections the server holds open: in all, and from one client address.
//!
//! Each open connection costs a task, buffers and a file descriptor. Without a cap, clients that
//! open connections and send nothing (or send slowly) hold them until the process runs out of
//! descriptors and stops accepting anyone. Beyond a cap a new connection is answered 503 and
//! closed at once; the per-address cap keeps one client from taking the whole budget.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use ipnet::IpNet;

pub struct ConnectionLimit {
    max_total: usize,
    max_per_address: usize,
    /// Reverse proxies carry every client's connections: only the total cap applies to them.
    trusted_proxies: Vec<IpNet>,
    open: Mutex<OpenConnections>,
}

#[derive(Default)]
struct OpenConnections {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    ServerFull { limit: usize },
    AddressFull { limit: usize },
}

impl Refusal {
    /// A complete HTTP/1.1 answer, written raw on the socket before it is closed.
    pub fn response(&self) -> String {
        let message = match self {
            Refusal::ServerFull { limit } => {
                format!("the server has its limit of {limit} connections open; retry later\n")
            }
            Refusal::AddressFull { limit } => {
                format!("your address has its limit of {limit} connections open; close some or retry later\n")
            }
        };
        format!(
            "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 5\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n{message}",
            message.len()
        )
    }
}

/// An admitted connection's place, given back when dropped (when the connection ends).
pub struct Admission {
    limit: Arc<ConnectionLimit>,
    address: IpAddr,
}

impl ConnectionLimit {
    pub fn new(max_total: usize, max_per_address: usize, trusted_proxies: Vec<IpNet>) -> Arc<ConnectionLimit> {
        let open = Mutex::new(OpenConnections::default());
        Arc::new(ConnectionLimit { max_total, max_per_address, trusted_proxies, open })
    }

    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Result<Admission, Refusal> {
        let mut open = self.open.lock().expect("connection counts are never left half-updated");
        if open.total >= self.max_total {
            return Err(Refusal::ServerFull { limit: self.max_total });
        }
        let address = address.to_canonical();
        let shared = is_this_host(address) || self.trusted_proxies.iter().any(|net| net.contains(&address));
        let from_address = open.by_address.entry(address).or_default();
        if *from_address >= self.max_per_address && !shared {
            return Err(Refusal::AddressFull { limit: self.max_per_address });
        }
        *from_address += 1;
        open.total += 1;
        Ok(Admission { limit: self.clone(), address })
    }
}

/// The host's own address (127.0.0.1, ::1): a reverse proxy or a tool on the same machine, which
/// carries every client's connections; only the total cap applies to it.
fn is_this_host(address: IpAddr) -> bool {
    address == IpAddr::from([127, 0, 0, 1]) || address == IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut open = self.limit.open.lock().expect("connection counts are never left half-updated");
        open.total -= 1;
        if let Some(count) = open.by_address.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.by_address.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_itself_is_held_to_the_total_cap_only() {
        let limit = ConnectionLimit::new(3, 1, Vec::new());
        let local: Vec<_> = (0..3).map(|_| limit.admit("127.0.0.1".parse().unwrap()).unwrap()).collect();
        assert_eq!(limit.admit("::1".parse().unwrap()).err(), Some(Refusal::ServerFull { limit: 3 }));
        drop(local);
        let _first = limit.admit("127.0.0.2".parse().unwrap()).unwrap();
        assert_eq!(limit.admit("127.0.0.2".parse().unwrap()).err(), Some(Refusal::AddressFull { limit: 1 }));
    }

    #[test]
    fn a_trusted_proxy_is_held_to_the_total_cap_only() {
        let proxy: IpAddr = "172.30.0.2".parse().unwrap();
        let limit = ConnectionLimit::new(4, 1, vec!["172.30.0.0/24".parse().unwrap()]);
        let held: Vec<_> = (0..4).map(|_| limit.admit(proxy).expect("the proxy is not capped per address")).collect();
        assert_eq!(limit.admit(proxy).err(), Some(Refusal::ServerFull { limit: 4 }));
        drop(held);
        let other: IpAddr = "10.1.1.1".parse().unwrap();
        let _first = limit.admit(other).unwrap();
        assert_eq!(limit.admit(other).err(), Some(Refusal::AddressFull { limit: 1 }));
    }

    #[test]
    fn caps_per_address_and_in_all_and_gives_places_back() {
        let limit = ConnectionLimit::new(3, 2, Vec::new());
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = limit.admit(a).unwrap();
        let _second = limit.admit(a).unwrap();
        assert_eq!(limit.admit(a).err(), Some(Refusal::AddressFull { limit: 2 }));
        let _third = limit.admit(b).unwrap();
        assert_eq!(limit.admit(b).err(), Some(Refusal::ServerFull { limit: 3 }));
        drop(first);
        let _again = limit.admit(a).unwrap();
        assert_eq!(limit.admit(b).err(), Some(Refusal::ServerFull { limit: 3 }));
        assert!(Refusal::AddressFull { limit: 2 }.response().starts_with("HTTP/1.1 503"));
    }
}

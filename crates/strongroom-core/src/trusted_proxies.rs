//! The reverse proxies whose `X-Forwarded-For` and `X-Request-Id` are believed
//! (`proxy.trusted_ips`): addresses and CIDR ranges, IPv4 and IPv6, held behind a handle that
//! SIGHUP can replace while every clone (the client-address logic, the connection caps) sees
//! the new list on its next request.

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use ipnet::IpNet;

/// One entry of `proxy.trusted_ips`: an address (`10.0.0.2`) or a range (`10.0.0.0/8`,
/// `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange(IpNet);

impl FromStr for IpRange {
    type Err = String;

    fn from_str(s: &str) -> Result<IpRange, String> {
        let s = s.trim();
        if s.contains('/') {
            return IpNet::from_str(s)
                .map(|n| IpRange(n.trunc()))
                .map_err(|_| format!("'{s}' is not an address or CIDR range"));
        }
        IpAddr::from_str(s)
            .map(|a| IpRange(IpNet::from(a)))
            .map_err(|_| format!("'{s}' is not an address or CIDR range"))
    }
}

impl std::fmt::Display for IpRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.prefix_len() == self.0.max_prefix_len() {
            write!(f, "{}", self.0.addr())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl IpRange {
    /// Whether `ip` is in the range. An IPv4 address and its IPv4-mapped IPv6 form
    /// (`::ffff:10.0.0.2`, as a dual-stack listener reports IPv4 peers) are the same address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let forms = [
            ip,
            ip.to_canonical(),
            match ip {
                IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
                v6 @ IpAddr::V6(_) => v6,
            },
        ];
        forms.iter().any(|a| self.0.contains(a))
    }
}

/// The trusted proxies: cheap to clone, every clone sees [`TrustedProxies::replace`].
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<Shared>);

#[derive(Debug, Default)]
struct Shared {
    list: RwLock<Arc<[IpRange]>>,
    /// Whether the list is non-empty: read on every request without touching the lock (whose
    /// reader count every core would otherwise write), as most servers trust no proxy.
    any: std::sync::atomic::AtomicBool,
}

impl TrustedProxies {
    /// A handle on `ranges`.
    pub fn new(ranges: Vec<IpRange>) -> TrustedProxies {
        let any = !ranges.is_empty();
        TrustedProxies(Arc::new(Shared {
            list: RwLock::new(ranges.into()),
            any: any.into(),
        }))
    }

    /// The current list (a snapshot: one request reads one list).
    pub fn current(&self) -> Arc<[IpRange]> {
        match self.0.list.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// `f` of the current list; with no proxy trusted, without taking the lock.
    pub fn with<R>(&self, f: impl FnOnce(&[IpRange]) -> R) -> R {
        if self.is_empty() {
            return f(&[]);
        }
        f(&self.current())
    }

    /// Swap the list for every holder of this handle.
    pub fn replace(&self, ranges: Vec<IpRange>) {
        let any = !ranges.is_empty();
        let new: Arc<[IpRange]> = ranges.into();
        let mut g = self
            .0
            .list
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *g = new;
        // under the lock: two replaces cannot leave the flag of one beside the list of the other
        self.0.any.store(any, std::sync::atomic::Ordering::Release);
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.with(|list| any_contains(list, ip))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        !self.0.any.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// Whether `ip` is in any of `ranges`.
pub fn any_contains(ranges: &[IpRange], ip: IpAddr) -> bool {
    ranges.iter().any(|r| r.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> IpRange {
        s.parse().expect("range")
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn addresses_and_ranges() {
        assert!(r("10.0.0.2").contains(ip("10.0.0.2")));
        assert!(!r("10.0.0.2").contains(ip("10.0.0.3")));
        assert!(r("10.0.0.0/8").contains(ip("10.255.255.255")));
        assert!(!r("10.0.0.0/8").contains(ip("11.0.0.0")));
        // host bits set in the range are ignored, as the operator meant the network
        assert!(r("192.168.1.77/24").contains(ip("192.168.1.1")));
        assert_eq!(r("192.168.1.77/24").to_string(), "192.168.1.0/24");
        assert!(r("fd00::/8").contains(ip("fd12:3456::1")));
        assert!(!r("fd00::/8").contains(ip("fe80::1")));
    }

    #[test]
    fn edge_prefixes() {
        // /0 is everything of its family, and only of its family
        assert!(r("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(!r("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(r("::/0").contains(ip("2001:db8::1")));
        // /32 and /128 are exactly one address
        assert!(r("203.0.113.9/32").contains(ip("203.0.113.9")));
        assert!(!r("203.0.113.9/32").contains(ip("203.0.113.8")));
        assert!(r("2001:db8::1/128").contains(ip("2001:db8::1")));
        assert!(!r("2001:db8::1/128").contains(ip("2001:db8::2")));
        assert_eq!(r("203.0.113.9/32").to_string(), "203.0.113.9");
    }

    #[test]
    fn ipv4_mapped_ipv6_is_the_ipv4_address() {
        // a dual-stack listener reports an IPv4 proxy as ::ffff:a.b.c.d
        assert!(r("10.0.0.0/8").contains(ip("::ffff:10.1.2.3")));
        assert!(r("10.0.0.2").contains(ip("::ffff:10.0.0.2")));
        assert!(!r("10.0.0.0/8").contains(ip("::ffff:11.1.2.3")));
        // and a range written in the mapped form matches the plain IPv4 address
        assert!(r("::ffff:10.0.0.0/104").contains(ip("10.9.9.9")));
    }

    #[test]
    fn bad_entries_are_refused() {
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0",
            "proxy.local",
            "10.0.0.0/",
            "/8",
            "",
        ] {
            assert!(bad.parse::<IpRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_replaced_list_is_seen_by_every_clone() {
        let a = TrustedProxies::new(vec![r("10.0.0.2")]);
        let b = a.clone();
        assert!(b.contains(ip("10.0.0.2")));
        a.replace(vec![r("192.0.2.0/24")]);
        assert!(!b.contains(ip("10.0.0.2")));
        assert!(b.contains(ip("192.0.2.200")));
        assert!(TrustedProxies::default().is_empty());
    }
}

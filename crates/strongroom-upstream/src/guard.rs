//! The destination guard for URLs strongroom did not choose (upstream file URLs and their
//! redirects, description images): which addresses may be connected to (public unicast only:
//! never loopback, private, link-local, CGNAT, multicast, documentation, benchmarking, reserved
//! or unspecified ranges, nor IPv6 forms that reach them), and a resolver that hands the
//! connector only such addresses, so the address checked is the address connected to (a name
//! that resolves differently a second time, DNS rebinding, gains nothing). Shared by this crate's
//! file fetches and `strongroom_server::image_proxy`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Whether `ip` may be connected to: public unicast addresses only (loopback too when
/// `allow_loopback`, a test knob).
pub fn address_allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_allowed(v4, allow_loopback),
        IpAddr::V6(v6) => {
            // IPv4-mapped and -compatible forms are judged as the IPv4 address they carry
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_allowed(v4, allow_loopback);
            }
            if v6.is_loopback() {
                return allow_loopback;
            }
            let s = v6.segments();
            !(v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64 (reaches IPv4 space)
                || (s[0] == 0x2002) // 6to4 (embeds IPv4)
                || (s[0] == 0x2001 && s[1] == 0) // Teredo
                || (s[0..6] == [0; 6])) // IPv4-compatible and the rest of ::/80
        }
    }
}

fn v4_allowed(v4: Ipv4Addr, allow_loopback: bool) -> bool {
    if v4.is_loopback() {
        return allow_loopback;
    }
    let [a, b, c, _] = v4.octets();
    !(v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

/// Whether a URL may be fetched as far as its text tells: http(s), and, when its host is an IP
/// literal, an allowed address (names are checked when [`GuardedResolver`] resolves them).
pub fn url_allowed(url: &url::Url, allow_loopback: bool) -> bool {
    if !matches!(url.scheme(), "http" | "https") {
        return false;
    }
    // the URL parser has already normalised IPv4 literals (`0x7f000001` is `127.0.0.1`)
    match url.host() {
        Some(url::Host::Ipv4(v4)) => address_allowed(IpAddr::V4(v4), allow_loopback),
        Some(url::Host::Ipv6(v6)) => address_allowed(IpAddr::V6(v6), allow_loopback),
        Some(url::Host::Domain(_)) => true,
        None => false,
    }
}

/// The error the resolver gives for a name with no allowed address (found again in a client
/// error's chain with [`is_refused`]).
#[derive(Debug)]
pub struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "the name resolves to no public address (a destination strongroom may not reach)",
        )
    }
}

impl std::error::Error for Refused {}

/// Whether `e`'s chain holds [`Refused`].
pub fn is_refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<Refused>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// Resolves names and keeps only addresses [`address_allowed`] admits: the connector can reach
/// nothing else. Use it with `.no_proxy()`: through a proxy the proxy resolves the target.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    /// Admit loopback too (a test knob).
    pub allow_loopback: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_loopback = self.allow_loopback;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| address_allowed(a.ip(), allow_loopback))
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(Refused) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_refuses_every_internal_range() {
        for refused in [
            "127.0.0.1",
            "127.9.9.9",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "192.0.0.8",
            "240.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
        ] {
            let ip: IpAddr = refused.parse().expect(refused);
            assert!(!address_allowed(ip, false), "{refused}");
        }
        for allowed in ["93.184.215.14", "1.1.1.1", "2606:4700::1111"] {
            let ip: IpAddr = allowed.parse().expect(allowed);
            assert!(address_allowed(ip, false), "{allowed}");
        }
        // the test knob admits loopback only
        assert!(address_allowed("127.0.0.1".parse().expect("ip"), true));
        assert!(address_allowed("::1".parse().expect("ip"), true));
        assert!(!address_allowed("10.0.0.1".parse().expect("ip"), true));
        assert!(!address_allowed(
            "::ffff:192.168.0.1".parse().expect("ip"),
            true
        ));
    }

    #[test]
    fn urls_need_http_and_an_allowed_literal() {
        let check = |u: &str| url_allowed(&url::Url::parse(u).expect(u), false);
        assert!(check("https://e.org/x.png"));
        for refused in [
            "file:///etc/passwd",
            "ftp://e.org/x",
            "http://127.0.0.1/x",
            "http://[::1]/x",
            "http://169.254.169.254/latest/meta-data/",
            "http://0x7f000001/x",
            "http://2130706433/x",
            "http://[::ffff:169.254.169.254]/x",
        ] {
            assert!(!check(refused), "{refused}");
        }
    }

    #[tokio::test]
    async fn the_resolver_gives_no_internal_address() {
        use reqwest::dns::Resolve;
        let name: reqwest::dns::Name = "localhost".parse().expect("name");
        let refused = GuardedResolver {
            allow_loopback: false,
        }
        .resolve(name)
        .await;
        let Err(e) = refused else {
            panic!("localhost resolved to an allowed address");
        };
        assert!(is_refused(e.as_ref()));
        let name: reqwest::dns::Name = "localhost".parse().expect("name");
        assert!(
            GuardedResolver {
                allow_loopback: true
            }
            .resolve(name)
            .await
            .is_ok()
        );
    }
}

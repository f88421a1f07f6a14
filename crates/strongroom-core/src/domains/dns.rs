//! A small DNS-over-UDP stub client (RFC 1035): builds one recursive query, sends it to the
//! configured resolver and reads back the header, the response code and the answer records of the
//! asked type. Enough to tell "this domain has mail or address records", "it does not exist" and
//! "we could not find out" apart; no caching, no TCP fallback, no DNSSEC.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Record types the domain check asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QType {
    A = 1,
    Mx = 15,
    Aaaa = 28,
}

/// A parsed answer to one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsAnswer {
    /// NOERROR with this many records of the asked type (0 = the name exists, no such records),
    /// and whether one of them is a null MX (RFC 7505: "this domain accepts no mail").
    Records { count: usize, null_mx: bool },
    /// NXDOMAIN: the name does not exist.
    NxDomain,
}

/// Why no answer could be had (never a verdict about the domain).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("invalid domain name")]
    BadName,
    #[error("no answer within the timeout")]
    Timeout,
    #[error("network: {0}")]
    Network(String),
    #[error("malformed response: {0}")]
    Malformed(&'static str),
    #[error("truncated response")]
    Truncated,
    #[error("server failure (rcode {0})")]
    Rcode(u8),
    #[error("the server does not resolve recursively (RA not set)")]
    NoRecursion,
}

const CLASS_IN: u16 = 1;
const TYPE_OPT: u16 = 41;
/// The EDNS0 UDP payload size we advertise (the DNS flag day 2020 value).
const EDNS_SIZE: u16 = 1232;

/// The wire form of `name` (`example.org` → `7example3org0`).
fn encode_name(name: &str) -> Result<Vec<u8>, DnsError> {
    let name = name.trim_end_matches('.');
    if name.is_empty() || name.len() > 253 {
        return Err(DnsError::BadName);
    }
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(DnsError::BadName);
        }
        out.push(u8::try_from(label.len()).map_err(|_| DnsError::BadName)?);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    Ok(out)
}

/// One recursive query for `name`/`qtype` with message id `id` and an EDNS0 OPT record.
pub fn build_query(id: u16, name: &str, qtype: QType) -> Result<Vec<u8>, DnsError> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&0x0100u16.to_be_bytes()); // standard query, recursion desired
    q.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    q.extend_from_slice(&0u16.to_be_bytes()); // ANCOUNT
    q.extend_from_slice(&0u16.to_be_bytes()); // NSCOUNT
    q.extend_from_slice(&1u16.to_be_bytes()); // ARCOUNT (OPT)
    q.extend_from_slice(&encode_name(name)?);
    q.extend_from_slice(&(qtype as u16).to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    // OPT pseudo-record: root name, type 41, class = payload size, ttl 0, no options.
    q.push(0);
    q.extend_from_slice(&TYPE_OPT.to_be_bytes());
    q.extend_from_slice(&EDNS_SIZE.to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    Ok(q)
}

/// A cursor over a DNS message.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Result<u8, DnsError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or(DnsError::Malformed("short message"))?;
        self.pos += 1;
        Ok(b)
    }

    fn u16(&mut self) -> Result<u16, DnsError> {
        Ok(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], DnsError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or(DnsError::Malformed("short message"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// Read a (possibly compressed) name, lower-cased and dotted, and move past it.
    fn name(&mut self) -> Result<String, DnsError> {
        let mut out = String::new();
        let mut pos = self.pos;
        let mut jumped = false;
        // Each pointer must go strictly backwards: no loops.
        let mut limit = pos;
        loop {
            let len = *self
                .buf
                .get(pos)
                .ok_or(DnsError::Malformed("name runs off the message"))?;
            match len & 0xC0 {
                0x00 => {
                    pos += 1;
                    if len == 0 {
                        break;
                    }
                    let label = self
                        .buf
                        .get(pos..pos + usize::from(len))
                        .ok_or(DnsError::Malformed("label runs off the message"))?;
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.extend(label.iter().map(|b| char::from(b.to_ascii_lowercase())));
                    if out.len() > 255 {
                        return Err(DnsError::Malformed("name too long"));
                    }
                    pos += usize::from(len);
                }
                0xC0 => {
                    let lo = *self
                        .buf
                        .get(pos + 1)
                        .ok_or(DnsError::Malformed("pointer runs off the message"))?;
                    let target = (usize::from(len & 0x3F) << 8) | usize::from(lo);
                    if target >= limit {
                        return Err(DnsError::Malformed("compression pointer loop"));
                    }
                    if !jumped {
                        self.pos = pos + 2;
                        jumped = true;
                    }
                    limit = target;
                    pos = target;
                }
                _ => return Err(DnsError::Malformed("unknown label type")),
            }
        }
        if !jumped {
            self.pos = pos;
        }
        Ok(out)
    }
}

/// Read the response to the query `id` for `name`/`qtype`.
///
/// Errors for anything but a well-formed recursive answer to exactly that question: another id,
/// not a response, another question, recursion not available, truncation without a usable
/// answer, or an rcode other than NOERROR and NXDOMAIN (SERVFAIL, REFUSED, ... say nothing about
/// the domain).
pub fn parse_response(
    buf: &[u8],
    id: u16,
    name: &str,
    qtype: QType,
) -> Result<DnsAnswer, DnsError> {
    let mut r = Reader { buf, pos: 0 };
    let got_id = r.u16()?;
    if got_id != id {
        return Err(DnsError::Malformed("id mismatch"));
    }
    let flags = r.u16()?;
    if flags & 0x8000 == 0 {
        return Err(DnsError::Malformed("not a response"));
    }
    if (flags >> 11) & 0x0F != 0 {
        return Err(DnsError::Malformed("unexpected opcode"));
    }
    let truncated = flags & 0x0200 != 0;
    let rcode = u8::try_from(flags & 0x000F).unwrap_or(0xFF);
    let qdcount = r.u16()?;
    let ancount = r.u16()?;
    let _nscount = r.u16()?;
    let _arcount = r.u16()?;
    if qdcount != 1 {
        return Err(DnsError::Malformed("expected one question"));
    }
    let qname = r.name()?;
    let qt = r.u16()?;
    let qc = r.u16()?;
    let wanted = name.trim_end_matches('.').to_ascii_lowercase();
    if qname != wanted || qt != qtype as u16 || qc != CLASS_IN {
        return Err(DnsError::Malformed("answer to another question"));
    }
    // A server that does not recurse for us (an authoritative server, a resolver refusing us
    // with an empty NOERROR referral) answers "no records" for every name: not an answer.
    if flags & 0x0080 == 0 {
        return Err(DnsError::NoRecursion);
    }
    match rcode {
        0 => {}
        3 => return Ok(DnsAnswer::NxDomain),
        other => return Err(DnsError::Rcode(other)),
    }
    let mut count = 0usize;
    let mut null_mx = false;
    for _ in 0..ancount {
        let parsed = (|| {
            let _owner = r.name()?;
            let rtype = r.u16()?;
            let _class = r.u16()?;
            let _ttl = r.bytes(4)?;
            let rdlen = r.u16()?;
            let rdata = r.bytes(usize::from(rdlen))?;
            Ok::<_, DnsError>((rtype, rdata))
        })();
        let (rtype, rdata) = match parsed {
            Ok(x) => x,
            // A truncated message may still have carried complete answers before the cut.
            Err(_) if truncated && count > 0 => break,
            Err(e) => return Err(if truncated { DnsError::Truncated } else { e }),
        };
        if rtype == qtype as u16 {
            count += 1;
            if qtype == QType::Mx && rdata == [0, 0, 0] {
                null_mx = true;
            }
        }
    }
    if truncated && count == 0 {
        return Err(DnsError::Truncated);
    }
    Ok(DnsAnswer::Records { count, null_mx })
}

/// The resolver to use: `configured` (`IP:PORT`), else the first `nameserver` of
/// `/etc/resolv.conf` on port 53.
pub fn resolver_address(configured: Option<&str>) -> Result<SocketAddr, DnsError> {
    if let Some(c) = configured.map(str::trim).filter(|c| !c.is_empty()) {
        return c
            .parse::<SocketAddr>()
            .or_else(|_| c.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
            .map_err(|_| DnsError::Network(format!("bad resolver address '{c}'")));
    }
    let text = std::fs::read_to_string("/etc/resolv.conf")
        .map_err(|e| DnsError::Network(format!("reading /etc/resolv.conf: {e}")))?;
    first_nameserver(&text).ok_or_else(|| DnsError::Network("no nameserver configured".into()))
}

/// The first usable `nameserver` line of a resolv.conf text.
pub fn first_nameserver(text: &str) -> Option<SocketAddr> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next()? == "nameserver")
            .then(|| it.next())
            .flatten()
            .and_then(|ip| ip.split('%').next()?.parse::<IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

/// Ask `server` one question over UDP: a random id, answers with another id or from another
/// address are ignored, two tries of `timeout` each.
pub async fn query(
    server: SocketAddr,
    name: &str,
    qtype: QType,
    timeout: Duration,
) -> Result<DnsAnswer, DnsError> {
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().map_err(|_| DnsError::BadName)?
    } else {
        "[::]:0".parse().map_err(|_| DnsError::BadName)?
    };
    let mut last = DnsError::Timeout;
    for _attempt in 0..2 {
        let id: u16 = rand::random();
        let packet = build_query(id, name, qtype)?;
        let sock = tokio::net::UdpSocket::bind(bind)
            .await
            .map_err(|e| DnsError::Network(e.to_string()))?;
        sock.connect(server)
            .await
            .map_err(|e| DnsError::Network(e.to_string()))?;
        sock.send(&packet)
            .await
            .map_err(|e| DnsError::Network(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut buf = vec![0u8; 4096];
        loop {
            let recv = tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await;
            let n = match recv {
                Err(_) => {
                    last = DnsError::Timeout;
                    break;
                }
                Ok(Err(e)) => {
                    last = DnsError::Network(e.to_string());
                    break;
                }
                Ok(Ok(n)) => n,
            };
            match parse_response(&buf[..n], id, name, qtype) {
                // A stray or forged datagram: keep waiting for the real answer.
                Err(DnsError::Malformed("id mismatch" | "answer to another question")) => continue,
                other => return other,
            }
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recursive resolver's answer to `example.org MX` (id 0x1a2b): one record,
    /// `10 mail.example.org`, with the owner and the exchange name compressed.
    const MX_ANSWER: &[u8] = &[
        0x1a, 0x2b, 0x81, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, // header
        0x07, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0x03, b'o', b'r', b'g', 0x00, // qname
        0x00, 0x0f, 0x00, 0x01, // MX IN
        0xc0, 0x0c, 0x00, 0x0f, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, // owner ptr, MX IN ttl
        0x00, 0x09, 0x00, 0x0a, 0x04, b'm', b'a', b'i', b'l', 0xc0,
        0x0c, // 10 mail.example.org
    ];

    /// NXDOMAIN for `gone.example` A, with an SOA in the authority section.
    const NXDOMAIN: &[u8] = &[
        0x00, 0x07, 0x81, 0x83, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x04, b'g', b'o',
        b'n', b'e', 0x07, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0x00, 0x00, 0x01, 0x00, 0x01,
        // authority: example. SOA (ignored)
        0xc0, 0x11, 0x00, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x02, 0x00, 0x00,
    ];

    #[test]
    fn builds_a_recursive_query_with_edns() {
        let q = build_query(0xBEEF, "Example.org.", QType::Mx).expect("query");
        assert_eq!(&q[..12], &[0xBE, 0xEF, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
        assert_eq!(&q[12..25], b"\x07Example\x03org\x00");
        assert_eq!(&q[25..29], &[0, 15, 0, 1]);
        assert_eq!(&q[29..], &[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            build_query(1, "a..b", QType::A),
            Err(DnsError::BadName),
            "empty label"
        );
        assert_eq!(
            build_query(1, &format!("{}.org", "x".repeat(64)), QType::A),
            Err(DnsError::BadName)
        );
        assert_eq!(
            build_query(1, "bad name.org", QType::A),
            Err(DnsError::BadName)
        );
    }

    #[test]
    fn reads_answers_with_compression() {
        let a = parse_response(MX_ANSWER, 0x1a2b, "example.org", QType::Mx).expect("answer");
        assert_eq!(
            a,
            DnsAnswer::Records {
                count: 1,
                null_mx: false
            }
        );
        // Case of the question does not matter.
        assert!(parse_response(MX_ANSWER, 0x1a2b, "EXAMPLE.org.", QType::Mx).is_ok());
    }

    #[test]
    fn refuses_another_id_another_question_or_a_query() {
        assert_eq!(
            parse_response(MX_ANSWER, 0x1a2c, "example.org", QType::Mx),
            Err(DnsError::Malformed("id mismatch"))
        );
        assert_eq!(
            parse_response(MX_ANSWER, 0x1a2b, "example.com", QType::Mx),
            Err(DnsError::Malformed("answer to another question"))
        );
        assert_eq!(
            parse_response(MX_ANSWER, 0x1a2b, "example.org", QType::A),
            Err(DnsError::Malformed("answer to another question"))
        );
        let mut query = MX_ANSWER.to_vec();
        query[2] &= 0x7F;
        assert_eq!(
            parse_response(&query, 0x1a2b, "example.org", QType::Mx),
            Err(DnsError::Malformed("not a response"))
        );
    }

    #[test]
    fn nxdomain_servfail_and_nodata() {
        assert_eq!(
            parse_response(NXDOMAIN, 7, "gone.example", QType::A),
            Ok(DnsAnswer::NxDomain)
        );
        let mut servfail = NXDOMAIN.to_vec();
        servfail[3] = 0x82;
        assert_eq!(
            parse_response(&servfail, 7, "gone.example", QType::A),
            Err(DnsError::Rcode(2))
        );
        let mut nodata = NXDOMAIN.to_vec();
        nodata[3] = 0x80;
        assert_eq!(
            parse_response(&nodata, 7, "gone.example", QType::A),
            Ok(DnsAnswer::Records {
                count: 0,
                null_mx: false
            })
        );
    }

    #[test]
    fn an_answer_without_recursion_is_not_an_answer() {
        // An authoritative-only server's referral: NOERROR, no answers, RA clear. Taken as "no
        // records" it would unverify every address; it is an error instead.
        let mut referral = NXDOMAIN.to_vec();
        referral[2] = 0x81;
        referral[3] = 0x00;
        assert_eq!(
            parse_response(&referral, 7, "gone.example", QType::A),
            Err(DnsError::NoRecursion)
        );
        let mut nx = NXDOMAIN.to_vec();
        nx[3] = 0x03;
        assert_eq!(
            parse_response(&nx, 7, "gone.example", QType::A),
            Err(DnsError::NoRecursion)
        );
        let mut mx = MX_ANSWER.to_vec();
        mx[3] = 0x00;
        assert_eq!(
            parse_response(&mx, 0x1a2b, "example.org", QType::Mx),
            Err(DnsError::NoRecursion)
        );
    }

    #[test]
    fn null_mx_is_recognised() {
        let mut m = MX_ANSWER[..39].to_vec();
        m.extend_from_slice(&[0x00, 0x03, 0x00, 0x00, 0x00]); // rdlength 3: preference 0, root
        assert_eq!(
            parse_response(&m, 0x1a2b, "example.org", QType::Mx),
            Ok(DnsAnswer::Records {
                count: 1,
                null_mx: true
            })
        );
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        for cut in 0..MX_ANSWER.len() {
            let r = parse_response(&MX_ANSWER[..cut], 0x1a2b, "example.org", QType::Mx);
            assert!(r.is_err(), "cut at {cut}: {r:?}");
        }
        // A compression pointer to itself.
        let mut looped = MX_ANSWER.to_vec();
        looped[29] = 0xc0;
        looped[30] = 29;
        assert!(parse_response(&looped, 0x1a2b, "example.org", QType::Mx).is_err());
        // Truncated, no complete answer.
        let mut tc = MX_ANSWER[..35].to_vec();
        tc[2] |= 0x02;
        assert_eq!(
            parse_response(&tc, 0x1a2b, "example.org", QType::Mx),
            Err(DnsError::Truncated)
        );
    }

    #[test]
    fn resolv_conf_and_configured_resolvers() {
        let text = "# comment\nsearch example\nnameserver fe80::1%eth0\nnameserver 10.0.0.2\n";
        assert_eq!(
            first_nameserver(text),
            Some("[fe80::1]:53".parse().expect("addr"))
        );
        assert_eq!(first_nameserver("options ndots:1\n"), None);
        assert_eq!(
            resolver_address(Some("127.0.0.1:5353")).expect("addr"),
            "127.0.0.1:5353".parse::<SocketAddr>().expect("addr")
        );
        assert_eq!(
            resolver_address(Some("10.1.2.3")).expect("addr"),
            "10.1.2.3:53".parse::<SocketAddr>().expect("addr")
        );
        assert!(resolver_address(Some("not an address")).is_err());
    }

    #[tokio::test]
    async fn talks_to_a_udp_server_and_ignores_forged_ids() {
        let server = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = server.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let (n, peer) = server.recv_from(&mut buf).await.expect("recv");
            let q = &buf[..n];
            let id = [q[0], q[1]];
            // First a forged answer with another id, then the real one.
            let mut forged = MX_ANSWER.to_vec();
            forged[0] = id[0] ^ 0xFF;
            forged[1] = id[1];
            forged[3] = 0x83;
            server.send_to(&forged, peer).await.expect("send");
            let mut real = MX_ANSWER.to_vec();
            real[0] = id[0];
            real[1] = id[1];
            server.send_to(&real, peer).await.expect("send");
        });
        let a = query(addr, "example.org", QType::Mx, Duration::from_secs(2))
            .await
            .expect("answer");
        assert_eq!(
            a,
            DnsAnswer::Records {
                count: 1,
                null_mx: false
            }
        );
        task.await.expect("server");
    }

    #[tokio::test]
    async fn silence_is_a_timeout() {
        let server = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = server.local_addr().expect("addr");
        let r = query(addr, "example.org", QType::A, Duration::from_millis(100)).await;
        assert_eq!(r, Err(DnsError::Timeout));
        drop(server);
    }
}

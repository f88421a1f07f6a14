//! The open connections and their limits: how many in total and per client address, and which
//! of them are idle (no request in flight: before the first request, or between keep-alive
//! requests). At a cap, the oldest idle connection (of that address, or of anyone for the total)
//! is asked to close, which HTTP allows at any time, so a client that leaves keep-alive
//! connections open cannot lock itself or others out; only when every connection at the cap is
//! busy is a new one refused (per address) or left waiting (in total). A connection busy only
//! receiving a body the server will not keep for an account (an anonymous form, XML-RPC, a
//! refused upload being drained: `BodyMark`) counts as idle's next of kin: with nothing idle,
//! the one that has been at it longest is closed at once, so trickled bodies cannot hold the
//! caps. Addresses are counted per IPv4 address and per IPv6 /64 (`address_key`), the
//! smallest block one client is usually given.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::response::Response;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use strongroom_core::settings::HttpSettings;
use strongroom_core::trusted_proxies::TrustedProxies;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Descriptors kept back from connections for the database pool, blob and temp files, logs.
const RESERVED_FDS: u64 = 64;

/// The connection limits `serve` enforces.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// No complete request head for this long (after connecting or a response): closed.
    pub idle_timeout: Duration,
    /// A response write without progress for this long: closed.
    pub write_timeout: Duration,
    /// Open connections in total.
    pub max_connections: usize,
    /// Open connections per client address.
    pub max_per_address: usize,
    /// Addresses without a per-address cap (reverse proxies): the live `proxy.trusted_ips`.
    pub exempt: TrustedProxies,
    /// Why `max_connections` is lower than configured, if it is.
    pub lowered_by: Option<String>,
}

impl ConnLimits {
    /// The limits of `http`, with the total fitted to `open_files` (the soft RLIMIT_NOFILE:
    /// half of what is left after a reserve, as a connection may hold a file too) and the
    /// per-address cap at most a quarter of the total, so no single address fills the server.
    pub fn new(
        http: &HttpSettings,
        trusted_proxies: &TrustedProxies,
        open_files: Option<u64>,
    ) -> Self {
        let configured = http.max_connections.max(1);
        let fitted = open_files.map(|n| (n.saturating_sub(RESERVED_FDS) / 2).max(8));
        let (total, lowered_by) = match fitted {
            Some(f) if f < configured => (
                f,
                Some(format!(
                    "http.max_connections lowered from {configured} to {f} by the open-files limit ({})",
                    open_files.unwrap_or_default()
                )),
            ),
            _ => (configured, None),
        };
        let per_address = http.max_connections_per_ip.clamp(1, (total / 4).max(1));
        let as_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        ConnLimits {
            idle_timeout: Duration::from_secs(http.idle_timeout_secs.max(1)),
            write_timeout: Duration::from_secs(http.write_timeout_secs.max(1)),
            max_connections: as_usize(total),
            max_per_address: as_usize(per_address),
            exempt: trusted_proxies.clone(),
            lowered_by,
        }
    }

    /// This process's soft limit on open files (Linux `/proc/self/limits`), if known.
    pub fn open_files_limit() -> Option<u64> {
        let text = std::fs::read_to_string("/proc/self/limits").ok()?;
        let line = text.lines().find(|l| l.starts_with("Max open files"))?;
        let soft = line
            .trim_start_matches("Max open files")
            .split_whitespace()
            .next()?;
        soft.parse().ok()
    }
}

/// What the per-address cap counts connections by: an IPv4 address, or an IPv6 address's /64
/// (one host is routinely given a whole /64, so one address each would be no cap at all).
pub(crate) fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(std::net::Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

/// One open connection as the registry sees it.
#[derive(Debug)]
pub(crate) struct Conn {
    id: u64,
    ip: IpAddr,
    /// Counted against its address's cap (not a trusted proxy).
    capped: bool,
    /// Requests in flight (from the parsed head until the response body is dropped).
    busy: AtomicUsize,
    /// When it last became idle (or opened).
    idle_since: Mutex<Instant>,
    /// Asked to close (chosen once).
    closing: AtomicBool,
    /// Chosen while busy with an evictable body: close without finishing the request.
    hard_close: AtomicBool,
    /// Since when a body no account stands behind is being received (`BodyMark`), if one is.
    anon_body_since: Mutex<Option<Instant>>,
    /// Wakes the connection's task to close gracefully.
    close: Notify,
}

impl Conn {
    fn is_idle(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0 && !self.closing.load(Ordering::Acquire)
    }

    /// Busy only with receiving an anonymous body (see `BodyMark`), and since when.
    fn anon_body_since(&self) -> Option<Instant> {
        if self.closing.load(Ordering::Acquire) {
            return None;
        }
        *self
            .anon_body_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the registry chose this connection while it had a request in flight: it is to be
    /// dropped at once, not closed gracefully after the request.
    pub(crate) fn must_close_now(&self) -> bool {
        self.hard_close.load(Ordering::Acquire)
    }

    fn idle_since(&self) -> Instant {
        *self
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Resolves when the registry asks this connection to close.
    pub(crate) async fn close_requested(&self) {
        self.close.notified().await;
    }
}

#[derive(Debug, Default)]
struct Table {
    next_id: u64,
    open: HashMap<u64, Arc<Conn>>,
    per_address: HashMap<IpAddr, usize>,
}

impl Table {
    /// Ask the oldest idle connection (of `ip`'s block, or of anyone) to close; with none idle,
    /// the one receiving an anonymous body for longest is closed at once.
    fn evict_oldest_idle(&self, ip: Option<IpAddr>) -> bool {
        let mine = |c: &&Arc<Conn>| ip.is_none_or(|ip| c.capped && c.ip == ip);
        let idle = self
            .open
            .values()
            .filter(|c| mine(c) && c.is_idle())
            .min_by_key(|c| c.idle_since());
        let victim = idle.map(|c| (c, false)).or_else(|| {
            self.open
                .values()
                .filter(mine)
                .filter_map(|c| c.anon_body_since().map(|t| (c, t)))
                .min_by_key(|(_, t)| *t)
                .map(|(c, _)| (c, true))
        });
        match victim {
            Some((c, hard)) => {
                c.hard_close.store(hard, Ordering::Release);
                c.closing.store(true, Ordering::Release);
                c.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Every open connection.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    table: Mutex<Table>,
}

/// An open connection's place in the registry; leaves it on drop.
pub(crate) struct Registered {
    registry: Arc<Registry>,
    pub(crate) conn: Arc<Conn>,
}

impl Registry {
    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Register a connection from `ip` (an `address_key`). At the address's cap (`None` = no cap), the address's
    /// oldest idle connection is asked to close to make room; `None` when all of them are busy.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr, cap: Option<usize>) -> Option<Registered> {
        let mut t = self.table();
        if let Some(cap) = cap {
            let n = t.per_address.get(&ip).copied().unwrap_or(0);
            if n >= cap {
                // connections already asked to close still count until they are gone
                let closing = t
                    .open
                    .values()
                    .filter(|c| c.capped && c.ip == ip && c.closing.load(Ordering::Acquire))
                    .count();
                if n.saturating_sub(closing) >= cap && !t.evict_oldest_idle(Some(ip)) {
                    return None;
                }
            }
            *t.per_address.entry(ip).or_insert(0) += 1;
        }
        t.next_id += 1;
        let conn = Arc::new(Conn {
            id: t.next_id,
            ip,
            capped: cap.is_some(),
            busy: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            closing: AtomicBool::new(false),
            hard_close: AtomicBool::new(false),
            anon_body_since: Mutex::new(None),
            close: Notify::new(),
        });
        t.open.insert(conn.id, conn.clone());
        Some(Registered {
            registry: self.clone(),
            conn,
        })
    }

    /// At the total cap: ask the oldest idle connection of anyone to close.
    pub(crate) fn make_room(&self) -> bool {
        self.table().evict_oldest_idle(None)
    }

    #[cfg(test)]
    fn open_from(&self, ip: IpAddr) -> usize {
        self.table().per_address.get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut t = self.registry.table();
        t.open.remove(&self.conn.id);
        if self.conn.capped
            && let Some(n) = t.per_address.get_mut(&self.conn.ip)
        {
            *n -= 1;
            if *n == 0 {
                t.per_address.remove(&self.conn.ip);
            }
        }
    }
}

/// A request in flight on `Conn`: counted from the parsed head until the response body is
/// dropped (sent, or the connection gone).
struct Busy(Arc<Conn>);

impl Busy {
    fn start(conn: Arc<Conn>) -> Busy {
        conn.busy.fetch_add(1, Ordering::AcqRel);
        Busy(conn)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self
            .0
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The connection a request came on, in the request's extensions (set by `Tracked`).
#[derive(Clone)]
pub(crate) struct ConnHandle(Arc<Conn>);

impl ConnHandle {
    /// Mark the connection as receiving a body no account stands behind, until the mark drops.
    pub(crate) fn anonymous_body(&self) -> BodyMark {
        *self
            .0
            .anon_body_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        BodyMark(self.0.clone())
    }
}

/// While alive, its connection may be closed to make room at a cap even though a request is in
/// flight (see the module comment).
pub(crate) struct BodyMark(Arc<Conn>);

impl Drop for BodyMark {
    fn drop(&mut self) {
        *self
            .0
            .anon_body_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// A response body that keeps its request counted as in flight.
struct BusyBody {
    inner: Body,
    _busy: Busy,
}

impl HttpBody for BusyBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The app's service for one connection, marking it busy while a request is in flight.
#[derive(Clone)]
pub(crate) struct Tracked<S> {
    pub(crate) inner: S,
    pub(crate) conn: Arc<Conn>,
}

impl<S> Tracked<S> {
    /// An answer made without the inner service (`entry`): counted in flight, as the inner
    /// service's are, until its body is sent.
    pub(crate) fn answered(&self, resp: Response) -> Response {
        let busy = Busy::start(self.conn.clone());
        resp.map(|b| {
            Body::new(BusyBody {
                inner: b,
                _busy: busy,
            })
        })
    }
}

impl<S, B> tower::Service<axum::http::Request<B>> for Tracked<S>
where
    S: tower::Service<axum::http::Request<B>, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: axum::http::Request<B>) -> Self::Future {
        let busy = Busy::start(self.conn.clone());
        req.extensions_mut().insert(ConnHandle(self.conn.clone()));
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            Ok(resp.map(|b| {
                Body::new(BusyBody {
                    inner: b,
                    _busy: busy,
                })
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_fit_the_open_files_limit_and_leave_room_for_four_addresses() {
        let http = HttpSettings::default();
        let roomy = ConnLimits::new(&http, &TrustedProxies::default(), Some(1_048_576));
        assert_eq!((roomy.max_connections, roomy.max_per_address), (1024, 128));
        assert!(roomy.lowered_by.is_none());
        let tight = ConnLimits::new(&http, &TrustedProxies::default(), Some(256));
        assert_eq!((tight.max_connections, tight.max_per_address), (96, 24));
        assert!(
            tight
                .lowered_by
                .as_deref()
                .is_some_and(|w| w.contains("256"))
        );
        let unknown = ConnLimits::new(&http, &TrustedProxies::default(), None);
        assert_eq!(unknown.max_connections, 1024);
        let v4: IpAddr = "10.0.0.2".parse().expect("ip");
        let mapped: IpAddr = "::ffff:10.0.0.2".parse().expect("ip");
        let proxies = TrustedProxies::new(vec![mapped.to_string().parse().expect("range")]);
        assert!(ConnLimits::new(&http, &proxies, None).exempt.contains(v4));
    }

    #[test]
    fn the_open_files_limit_is_read() {
        assert!(ConnLimits::open_files_limit().is_some_and(|n| n > 0));
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[tokio::test]
    async fn at_an_address_cap_the_oldest_idle_connection_makes_room() {
        let r = Arc::new(Registry::default());
        let a = ip("192.0.2.1");
        let first = r.admit(a, Some(2)).expect("under cap");
        tokio::time::sleep(Duration::from_millis(5)).await;
        let second = r.admit(a, Some(2)).expect("under cap");
        // both idle: the third asks the older one to close
        let third = r.admit(a, Some(2)).expect("room made");
        assert!(first.conn.closing.load(Ordering::Acquire));
        assert!(!second.conn.closing.load(Ordering::Acquire));
        tokio::time::timeout(Duration::from_secs(1), first.conn.close_requested())
            .await
            .expect("the chosen connection is told");
        drop(first);
        assert_eq!(r.open_from(a), 2);
        // both left are busy: the next is refused, and nobody is asked to close
        let _b2 = Busy::start(second.conn.clone());
        let _b3 = Busy::start(third.conn.clone());
        assert!(r.admit(a, Some(2)).is_none());
        assert!(!second.conn.closing.load(Ordering::Acquire));
        // other addresses and uncapped (proxy) connections are unaffected
        assert!(r.admit(ip("192.0.2.2"), Some(2)).is_some());
        let proxied: Vec<_> = (0..10).map(|_| r.admit(a, None).expect("no cap")).collect();
        assert_eq!(
            r.open_from(a),
            2,
            "proxy connections are not counted per address"
        );
        drop(proxied);
    }

    #[tokio::test]
    async fn at_the_total_cap_the_oldest_idle_connection_of_anyone_goes() {
        let r = Arc::new(Registry::default());
        let busy_one = r.admit(ip("192.0.2.1"), Some(4)).expect("admitted");
        let _busy = Busy::start(busy_one.conn.clone());
        assert!(!r.make_room(), "nothing idle: nobody is closed");
        let idle_one = r.admit(ip("192.0.2.2"), None).expect("admitted");
        assert!(r.make_room());
        assert!(idle_one.conn.closing.load(Ordering::Acquire));
        assert!(!busy_one.conn.closing.load(Ordering::Acquire));
        assert!(!r.make_room(), "a connection is chosen once");
    }

    #[test]
    fn ipv6_addresses_are_counted_per_64_and_ipv4_per_address() {
        assert_eq!(
            address_key(ip("2001:db8:1:2:aaaa::1")),
            address_key(ip("2001:db8:1:2:ffff:1:2:3"))
        );
        assert_eq!(address_key(ip("2001:db8:1:2::9")), ip("2001:db8:1:2::"));
        assert_ne!(
            address_key(ip("2001:db8:1:2::1")),
            address_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(address_key(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_ne!(address_key(ip("192.0.2.7")), address_key(ip("192.0.2.8")));
        assert_eq!(address_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
    }

    #[tokio::test]
    async fn with_nothing_idle_the_longest_anonymous_body_is_closed_at_once() {
        let r = Arc::new(Registry::default());
        let a = ip("192.0.2.1");
        let authed = r.admit(a, Some(3)).expect("admitted");
        let _b1 = Busy::start(authed.conn.clone());
        let old = r.admit(a, Some(3)).expect("admitted");
        let _b2 = Busy::start(old.conn.clone());
        let _m2 = ConnHandle(old.conn.clone()).anonymous_body();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let young = r.admit(a, Some(3)).expect("admitted");
        let _b3 = Busy::start(young.conn.clone());
        let m3 = ConnHandle(young.conn.clone()).anonymous_body();
        // at the cap, all busy: the anonymous body that started first goes, at once
        let fourth = r.admit(a, Some(3)).expect("room made");
        assert!(old.conn.must_close_now() && old.conn.closing.load(Ordering::Acquire));
        assert!(!authed.conn.closing.load(Ordering::Acquire));
        assert!(!young.conn.closing.load(Ordering::Acquire));
        drop(old);
        // once its body is complete, a connection is busy like any other
        drop(m3);
        let _b4 = Busy::start(fourth.conn.clone());
        assert!(
            r.admit(a, Some(3)).is_none(),
            "nothing idle, nothing anonymous"
        );
        // an idle connection is still preferred to an anonymous body (and closed gracefully)
        let _m3 = ConnHandle(young.conn.clone()).anonymous_body();
        let other = r.admit(ip("192.0.2.9"), None).expect("admitted");
        assert!(r.make_room());
        assert!(other.conn.closing.load(Ordering::Acquire) && !other.conn.must_close_now());
        assert!(r.make_room());
        assert!(young.conn.must_close_now());
    }

    #[tokio::test]
    async fn a_response_keeps_its_connection_busy_until_its_body_is_dropped() {
        use tower::{Service, ServiceExt};
        let r = Arc::new(Registry::default());
        let reg = r.admit(ip("192.0.2.1"), Some(1)).expect("admitted");
        let app = tower::service_fn(|_req: axum::http::Request<()>| async {
            Ok::<_, Infallible>(Response::new(Body::from("hello")))
        });
        let mut svc = Tracked {
            inner: app,
            conn: reg.conn.clone(),
        };
        let resp = svc
            .ready()
            .await
            .expect("ready")
            .call(axum::http::Request::new(()))
            .await
            .expect("response");
        assert!(!reg.conn.is_idle(), "busy while the body is unsent");
        assert!(r.admit(ip("192.0.2.1"), Some(1)).is_none());
        drop(resp);
        assert!(reg.conn.is_idle());
        assert!(r.admit(ip("192.0.2.1"), Some(1)).is_some());
    }
}

//! The accept loop. HTTP/1.1 only (cleartext HTTP/2 is not offered: pip, uv and twine speak
//! HTTP/1.1 over http://, and h2's own resource limits then need no tuning). Connections are
//! capped in total (fitted to the open-files limit, so sockets never starve the database and
//! blob files of descriptors; beyond it new connections wait in the listen queue) and per client
//! address (beyond it a connection gets 503 and is closed; reverse proxies in
//! `proxy.trusted_ips` are exempt). A failing accept (EMFILE, ENFILE) backs off instead of
//! spinning, with at most one warning per interval. Each connection has hyper's request-head
//! timer (idle keep-alive and slow headers, from the first byte on) and a write deadline
//! (`conn_io`); request bodies have a minimum rate (`body_rate`). Shutdown is graceful.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use strongroom_core::settings::HttpSettings;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tower::Service;

use crate::conn_io::WriteDeadline;

/// Descriptors kept back from connections for the database pool, blob and temp files, logs.
const RESERVED_FDS: u64 = 64;
/// Warnings of one kind (accept failures, refused connections) at most this often.
const WARN_EVERY: Duration = Duration::from_secs(10);
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The connection limits `serve` enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnLimits {
    /// No complete request head for this long (after connecting or a response): closed.
    pub idle_timeout: Duration,
    /// A response write without progress for this long: closed.
    pub write_timeout: Duration,
    /// Open connections in total.
    pub max_connections: usize,
    /// Open connections per client address.
    pub max_per_address: usize,
    /// Addresses without a per-address cap (reverse proxies).
    pub exempt: Vec<IpAddr>,
    /// Why `max_connections` is lower than configured, if it is.
    pub lowered_by: Option<String>,
}

impl ConnLimits {
    /// The limits of `http`, with the total fitted to `open_files` (the soft RLIMIT_NOFILE:
    /// half of what is left after a reserve, as a connection may hold a file too) and the
    /// per-address cap at most a quarter of the total, so no single address fills the server.
    pub fn new(http: &HttpSettings, trusted_proxies: &[IpAddr], open_files: Option<u64>) -> Self {
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
            exempt: trusted_proxies.iter().map(IpAddr::to_canonical).collect(),
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

/// Open connections per client address.
#[derive(Debug, Default)]
struct PerAddress {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection counted against its address; released on drop.
struct AddressSlot {
    table: Arc<PerAddress>,
    ip: IpAddr,
}

impl PerAddress {
    fn try_take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = open.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            table: self.clone(),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self
            .table
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// A warning that is logged at most once per `WARN_EVERY`, with the count it stood for.
struct RateLimitedLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    fn new() -> Self {
        RateLimitedLog {
            last: None,
            suppressed: 0,
        }
    }

    /// Whether to log now; if so, how many were suppressed since the last one.
    fn due(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < WARN_EVERY)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// Accept errors that concern one connection only (retry at once, no back-off).
fn is_per_connection(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::Interrupted
            | std::io::ErrorKind::WouldBlock
    )
}

/// Tell a connection over its address's cap so (best effort, never blocking) and close it.
fn refuse(stream: TcpStream) {
    let _ = stream.try_write(crate::error::TOO_MANY_CONNECTIONS);
    drop(stream);
}

/// Serve `app` on `listener` within `limits` until `shutdown` resolves, then let open
/// requests finish (30 s at most).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Some(why) = &limits.lowered_by {
        tracing::warn!("{why}; raise the limit (systemd: LimitNOFILE=) to allow more");
    }
    tracing::info!(
        max_connections = limits.max_connections,
        per_address = limits.max_per_address,
        idle_timeout_s = limits.idle_timeout.as_secs(),
        "accepting connections"
    );
    let mut make = app.into_make_service_with_connect_info::<SocketAddr>();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut tasks = tokio::task::JoinSet::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = Arc::new(PerAddress::default());
    let mut backoff = Duration::ZERO;
    let mut accept_log = RateLimitedLog::new();
    let mut refuse_log = RateLimitedLog::new();
    loop {
        // At the total cap, stop accepting: new connections wait in the kernel's queue.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => {
                    backoff = Duration::ZERO;
                    x
                }
                Err(e) if is_per_connection(&e) => {
                    tracing::debug!(error = %e, "accept: connection gone");
                    continue;
                }
                Err(e) => {
                    // Out of descriptors or memory: the pending connection stays queued, so
                    // retrying at once would spin. Back off, and say so now and then.
                    drop(permit);
                    backoff = (backoff * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
                    if let Some(suppressed) = accept_log.due() {
                        tracing::warn!(
                            error = %e,
                            suppressed,
                            open = limits.max_connections - slots.available_permits(),
                            "accept failed; backing off (raise the open-files limit or lower http.max_connections)"
                        );
                    }
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = &mut shutdown => break,
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let ip = peer.ip().to_canonical();
        let address_slot = if limits.exempt.contains(&ip) {
            None
        } else if let Some(s) = per_address.try_take(ip, limits.max_per_address) {
            Some(s)
        } else {
            if let Some(suppressed) = refuse_log.due() {
                tracing::warn!(
                    %ip,
                    suppressed,
                    cap = limits.max_per_address,
                    "connection refused: too many open connections from this address (http.max_connections_per_ip)"
                );
            }
            refuse(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let Ok(svc) = make.call(peer).await;
        let mut stop = stop_rx.clone();
        let (idle, write) = (limits.idle_timeout, limits.write_timeout);
        tasks.spawn(async move {
            let _held = (permit, address_slot);
            let io = TokioIo::new(WriteDeadline::new(stream, write));
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(idle)
                .keep_alive(true);
            let conn = builder.serve_connection(io, TowerToHyperService::new(svc));
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => { if let Err(e) = r { tracing::debug!(error = %e, "connection ended"); } }
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
        while tasks.try_join_next().is_some() {}
    }
    let _ = stop_tx.send(true);
    let deadline = tokio::time::sleep(Duration::from_secs(30));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = tasks.join_next() => if next.is_none() { break },
            () = &mut deadline => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_fit_the_open_files_limit_and_leave_room_for_four_addresses() {
        let http = HttpSettings::default();
        let roomy = ConnLimits::new(&http, &[], Some(1_048_576));
        assert_eq!((roomy.max_connections, roomy.max_per_address), (1024, 128));
        assert!(roomy.lowered_by.is_none());
        let tight = ConnLimits::new(&http, &[], Some(256));
        assert_eq!((tight.max_connections, tight.max_per_address), (96, 24));
        assert!(
            tight
                .lowered_by
                .as_deref()
                .is_some_and(|w| w.contains("256"))
        );
        let unknown = ConnLimits::new(&http, &[], None);
        assert_eq!(unknown.max_connections, 1024);
        let v4: IpAddr = "10.0.0.2".parse().expect("ip");
        let mapped: IpAddr = "::ffff:10.0.0.2".parse().expect("ip");
        assert_eq!(ConnLimits::new(&http, &[mapped], None).exempt, [v4]);
    }

    #[test]
    fn an_address_holds_at_most_its_cap_and_gets_slots_back_on_close() {
        let t = Arc::new(PerAddress::default());
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        let held: Vec<_> = (0..3)
            .map(|_| t.try_take(a, 3).expect("under cap"))
            .collect();
        assert!(t.try_take(a, 3).is_none(), "the fourth is refused");
        assert!(t.try_take(b, 3).is_some(), "other addresses are not");
        drop(held);
        assert!(t.try_take(a, 3).is_some());
        assert!(
            t.open.lock().map(|m| m.len()).unwrap_or(99) <= 1,
            "closed addresses leave no entry"
        );
    }

    #[test]
    fn warnings_are_rate_limited_and_count_what_they_stood_for() {
        let mut log = RateLimitedLog::new();
        assert_eq!(log.due(), Some(0));
        for _ in 0..1000 {
            assert_eq!(log.due(), None);
        }
        log.last = Instant::now().checked_sub(WARN_EVERY);
        assert_eq!(log.due(), Some(1000));
    }

    #[test]
    fn the_open_files_limit_is_read() {
        assert!(ConnLimits::open_files_limit().is_some_and(|n| n > 0));
    }
}

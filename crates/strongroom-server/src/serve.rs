//! The accept loop; each connection is then served on a lane (`lanes`). HTTP/1.1 only
//! (cleartext HTTP/2 is not offered: pip, uv and twine speak HTTP/1.1 over http://, and h2's
//! own resource limits then need no tuning). Connections are
//! capped in total and per client address (`connections`: at a cap the oldest idle connection
//! makes room, else the one receiving an anonymous body longest; when all are busy, a new one gets 503 for its address, or waits for a slot in
//! total, the next ones in the kernel's listen queue). A failing accept (EMFILE, ENFILE) backs
//! off instead of spinning, with at most one warning per interval. Each connection has hyper's
//! request-head timer (`http.idle_timeout_seconds`: it starts at the accept, before any byte
//! arrives, and again at the end of each response, so it bounds a silent connection, idle
//! keep-alive and a slow request head alike) and a write deadline (`conn_io`); request bodies
//! have a minimum rate (`body_rate`). Shutdown drains (`drain`): new uploads get 503, those in
//! flight finish within the grace.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tower::Service;

use crate::conn_io::WriteDeadline;
use crate::connections::{ConnLimits, Registry, Tracked};

/// Warnings of one kind (accept failures, refused connections) at most this often.
const WARN_EVERY: Duration = Duration::from_secs(10);
/// How long the requests cut short at the end of the grace may take to be dropped.
const ABORT_WAIT: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Largest read buffer a connection may grow, and so the largest request head (431 beyond):
/// hyper's default (~400 KiB) let every connection hold that much of headers no route needs
/// (a 300 KB Host); nginx's default head limit is 32 KiB.
const MAX_HEAD_BYTES: usize = 64 * 1024;

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

/// An accepted connection: on the accepting runtime, or taken off it for a lane.
enum Accepted {
    Here(TcpStream),
    Moved(std::net::TcpStream),
}

/// Tell a connection over its address's cap so (best effort, never blocking) and close it.
fn refuse(stream: TcpStream) {
    let _ = stream.try_write(crate::error::TOO_MANY_CONNECTIONS);
    drop(stream);
}

/// Serve `app` on `listener` within `limits` until `shutdown` resolves, then drain: new
/// uploads get 503 (`drain`) and every response closes its connection, while the uploads in
/// flight finish. Once none is left, or `grace` has passed, the listener closes and the
/// requests still open get the rest of `grace`; whatever is left then is cut short and logged.
pub async fn serve(
    listener: TcpListener,
    starting: crate::Starting,
    limits: ConnLimits,
    drain: crate::drain::Drain,
    grace: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let deadline: Arc<std::sync::OnceLock<Instant>> = Arc::default();
    // Ends the accept loop: the signal, then the drain of the uploads in flight (bounded).
    let shutdown = {
        let (drain, deadline) = (drain.clone(), deadline.clone());
        async move {
            shutdown.await;
            let until = *deadline.get_or_init(|| Instant::now() + grace);
            drain.start();
            tracing::info!(
                uploads_in_flight = drain.uploads_in_flight(),
                grace_s = grace.as_secs(),
                "draining: new uploads are refused (503), those in flight may finish"
            );
            tokio::select! {
                () = drain.uploads_done() => {}
                () = tokio::time::sleep_until(until) => {}
            }
        }
    };
    if let Some(why) = &limits.lowered_by {
        tracing::warn!("{why}; raise the limit (systemd: LimitNOFILE=) to allow more");
    }
    tracing::info!(
        max_connections = limits.max_connections,
        per_address = limits.max_per_address,
        idle_timeout_s = limits.idle_timeout.as_secs(),
        lanes = crate::lanes::Lanes::get().map_or(0, crate::lanes::Lanes::len),
        "accepting connections"
    );
    let mut make = starting
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut tasks = tokio::task::JoinSet::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let registry = Arc::new(Registry::default());
    let mut backoff = Duration::ZERO;
    let mut accept_log = RateLimitedLog::new();
    let mut refuse_log = RateLimitedLog::new();
    'accept: loop {
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
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            // At the total cap: the oldest idle connection makes room for this one. With none
            // idle, this one waits (and the next ones in the kernel's listen queue).
            Err(_) => loop {
                registry.make_room();
                tokio::select! {
                    p = slots.clone().acquire_owned() => match p {
                        Ok(p) => break p,
                        Err(_) => break 'accept,
                    },
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = &mut shutdown => break 'accept,
                }
            },
        };
        let ip = peer.ip().to_canonical();
        let cap = (!limits.exempt.contains(ip)).then_some(limits.max_per_address);
        let Some(registered) = registry.admit(crate::connections::address_key(ip), cap) else {
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
        let svc = crate::entry::Entry {
            starting: starting.clone(),
            peer: peer.ip(),
            inner: Tracked {
                inner: svc,
                conn: registered.conn.clone(),
            },
        };
        let mut stop = stop_rx.clone();
        let (idle, write) = (limits.idle_timeout, limits.write_timeout);
        // served whole on one lane (`lanes`), registered with that lane's reactor
        let (stream, lane) = match crate::lanes::Lanes::get() {
            Some(lanes) => match stream.into_std() {
                Ok(s) => (Accepted::Moved(s), Some(lanes.next())),
                Err(e) => {
                    tracing::debug!(error = %e, "accept: connection gone");
                    continue;
                }
            },
            None => (Accepted::Here(stream), None),
        };
        let task = async move {
            let stream = match stream {
                Accepted::Here(s) => s,
                Accepted::Moved(s) => match TcpStream::from_std(s) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::debug!(error = %e, "connection lost on its way to a lane");
                        return;
                    }
                },
            };
            let conn_state = registered.conn.clone();
            let _held = (permit, registered);
            let io = TokioIo::new(WriteDeadline::new(stream, write));
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(idle)
                .max_buf_size(MAX_HEAD_BYTES)
                .keep_alive(true);
            let conn = builder.serve_connection(io, TowerToHyperService::new(svc));
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => { if let Err(e) = r { tracing::debug!(error = %e, "connection ended"); } }
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
                () = conn_state.close_requested() => {
                    if conn_state.must_close_now() {
                        // receiving an anonymous body: dropped with its request
                        tracing::debug!("connection receiving an anonymous body closed to make room");
                    } else {
                        tracing::debug!("idle connection closed to make room");
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    }
                }
            }
        };
        match lane {
            Some(lane) => tasks.spawn_on(task, lane),
            None => tasks.spawn(task),
        };
        while tasks.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let until = *deadline.get_or_init(|| Instant::now() + grace);
    loop {
        tokio::select! {
            next = tasks.join_next() => if next.is_none() { break },
            () = tokio::time::sleep_until(until) => break,
        }
    }
    if !tasks.is_empty() {
        tracing::warn!(
            connections = tasks.len(),
            uploads = drain.uploads_in_flight(),
            grace_s = grace.as_secs(),
            "shutdown grace passed: cutting short the requests still open (shutdown.grace_seconds)"
        );
        for upload in drain.uploads_described() {
            tracing::warn!(%upload, "upload cut short by the shutdown (the client may send it again)");
        }
        tasks.abort_all();
        // the connections run on the lanes, which outlive this loop: wait (briefly) until
        // each cut-short request is dropped there, its guards and files with it
        let dropped = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(ABORT_WAIT, dropped).await.is_err() {
            tracing::warn!("requests cut short were still being dropped when the server stopped");
        }
    } else {
        tracing::info!("every request finished; stopping");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

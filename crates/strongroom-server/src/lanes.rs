//! The connection lanes: one single-threaded runtime per core, each on its own thread, and
//! every accepted connection served whole on one of them (taken in turn). On the shared
//! work-stealing runtime a connection's request was woken on one worker and often polled on the
//! other, so each cached page cost thread hand-offs (a context switch every few requests, the
//! allocator's locks when memory was freed on the thread that did not take it), a third of the
//! page's server time. A lane polls its own sockets (each connection is registered with the
//! lane's reactor, not the accepting runtime's), so a request wakes nobody else; as in nginx's
//! worker processes, a handler that holds its lane's thread delays that lane's other
//! connections (CPU-heavy work, a scan or a hash, runs on the blocking threads already).
//!
//! The lanes live until the process ends: database and upstream connections opened by a request
//! are registered with the lane it ran on, and the process still uses them after the accept loop
//! stops (the last flushes and the clean-stop mark).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::Handle;

/// Blocking threads of all lanes together, and of one lane at least.
const BLOCKING_THREADS: usize = 512;
const BLOCKING_MIN: usize = 32;
/// How long a lane's thread may take to say it runs.
const START_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The process's lanes (made by the first `serve`).
static LANES: OnceLock<Option<Lanes>> = OnceLock::new();

pub(crate) struct Lanes {
    handles: Vec<Handle>,
    turn: AtomicUsize,
}

impl Lanes {
    /// The lanes, one per core this process may run on (`None` when no thread could be
    /// started: connections are then served on the runtime that accepted them, as before).
    pub(crate) fn get() -> Option<&'static Lanes> {
        LANES.get_or_init(Lanes::start).as_ref()
    }

    fn start() -> Option<Lanes> {
        let n = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            match Lanes::start_one(i, n) {
                Ok(h) => handles.push(h),
                Err(e) => {
                    tracing::warn!(error = %e, lanes = handles.len(), "could not start a connection lane");
                    break;
                }
            }
        }
        (!handles.is_empty()).then(|| Lanes {
            handles,
            turn: AtomicUsize::new(0),
        })
    }

    /// Start lane `i` of `n`: its runtime is made and driven on its own thread (never dropped
    /// where this caller runs, which may be inside another runtime), and its handle sent back.
    fn start_one(i: usize, n: usize) -> std::io::Result<Handle> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name(format!("strongroom-lane-{i}"))
            .spawn(move || {
                let built = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    // the lanes share what one runtime had (tokio's default, 512) between them
                    .max_blocking_threads((BLOCKING_THREADS / n).max(BLOCKING_MIN))
                    .build();
                match built {
                    Ok(rt) => {
                        let _ = tx.send(Ok(rt.handle().clone()));
                        // drives the lane's tasks, timers and sockets until the process ends
                        rt.block_on(std::future::pending::<()>());
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            })?;
        rx.recv_timeout(START_WAIT)
            .map_err(|_| std::io::Error::other("the lane did not start"))?
    }

    /// The lane the next connection goes to.
    pub(crate) fn next(&self) -> &Handle {
        let i = self.turn.fetch_add(1, Ordering::Relaxed);
        &self.handles[i % self.handles.len()]
    }

    pub(crate) fn len(&self) -> usize {
        self.handles.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_go_to_every_lane_in_turn_and_a_lane_runs_its_tasks() {
        let lanes = Lanes::get().expect("lanes");
        assert!(lanes.len() >= 1);
        let ids: std::collections::HashSet<_> =
            (0..lanes.len()).map(|_| lanes.next().id()).collect();
        assert_eq!(ids.len(), lanes.len());
        let (tx, rx) = std::sync::mpsc::channel();
        lanes.next().spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            let _ = tx.send(std::thread::current().name().map(str::to_owned));
        });
        let name = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("ran");
        assert!(name.is_some_and(|n| n.starts_with("strongroom-lane-")));
    }
}

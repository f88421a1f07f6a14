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
            let built = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .and_then(|rt| {
                    let handle = rt.handle().clone();
                    std::thread::Builder::new()
                        .name(format!("strongroom-lane-{i}"))
                        // drives the lane's tasks, timers and sockets until the process ends
                        .spawn(move || rt.block_on(std::future::pending::<()>()))
                        .map(|_| handle)
                });
            match built {
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

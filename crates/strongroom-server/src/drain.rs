//! Draining for a graceful shutdown: once `serve`'s shutdown signal arrives, new uploads are
//! refused with 503 ("the server is shutting down"), every response closes its connection, and
//! the uploads already in flight may finish within the grace period before the process exits.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::{HeaderValue, header};
use axum::response::Response;
use tokio::sync::Notify;

/// Whether the server drains, and the uploads in flight. Cloned handles share one state.
#[derive(Debug, Clone, Default)]
pub struct Drain {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    draining: AtomicBool,
    uploads: AtomicUsize,
    changed: Notify,
    /// What each upload in flight is, once known (file and account), for the log of a
    /// shutdown that cuts it short.
    described: Mutex<BTreeMap<u64, String>>,
    next_id: AtomicU64,
}

/// An upload in flight; the drain waits for it.
#[derive(Debug)]
pub(crate) struct UploadInFlight {
    inner: Arc<Inner>,
    id: u64,
}

impl UploadInFlight {
    /// Say what this upload is (named in the log if a shutdown cuts it short).
    pub(crate) fn describe(&self, what: String) {
        self.inner
            .described
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(self.id, what);
    }
}

impl Drop for UploadInFlight {
    fn drop(&mut self) {
        self.inner
            .described
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.id);
        self.inner.uploads.fetch_sub(1, Ordering::SeqCst);
        self.inner.changed.notify_waiters();
    }
}

impl Drain {
    /// Start draining (from the shutdown signal). Idempotent.
    pub fn start(&self) {
        self.inner.draining.store(true, Ordering::SeqCst);
        self.inner.changed.notify_waiters();
    }

    /// Whether the server is draining for shutdown (readiness answers 503 then).
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::SeqCst)
    }

    /// Uploads being received or stored now.
    pub fn uploads_in_flight(&self) -> usize {
        self.inner.uploads.load(Ordering::SeqCst)
    }

    /// Count an upload in flight, or `None` when draining (the upload is then refused).
    pub(crate) fn upload(&self) -> Option<UploadInFlight> {
        self.inner.uploads.fetch_add(1, Ordering::SeqCst);
        let guard = UploadInFlight {
            inner: self.inner.clone(),
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
        };
        if self.is_draining() {
            return None; // the guard's drop takes the count back
        }
        Some(guard)
    }

    /// The uploads in flight that have said what they are.
    pub fn uploads_described(&self) -> Vec<String> {
        self.inner
            .described
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// Resolves once no upload is in flight.
    pub async fn uploads_done(&self) {
        loop {
            let notified = self.inner.changed.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.uploads_in_flight() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// While draining, every response asks the client to close its connection (so keep-alive
/// connections end after the request they carry and the process can exit).
pub(crate) fn mark(drain: &Drain, resp: &mut Response) {
    if drain.is_draining() {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_drain_refuses_new_uploads_and_waits_for_those_in_flight() {
        let d = Drain::default();
        let first = d.upload().expect("not draining yet");
        first.describe("a-1.0.tar.gz by alice".into());
        d.start();
        assert!(d.upload().is_none(), "refused while draining");
        assert_eq!(d.uploads_in_flight(), 1, "the refused one is not counted");
        let waiter = tokio::spawn({
            let d = d.clone();
            async move { d.uploads_done().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        assert_eq!(d.uploads_described(), ["a-1.0.tar.gz by alice"]);
        drop(first);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("done once the last upload ends")
            .expect("task");
        assert!(d.uploads_described().is_empty());
    }
}

//! The CPU work an upstream page costs (parsing it, serialising it for storage) runs on tokio's
//! blocking threads, at most [`PAGE_WORK_SLOTS`] jobs at a time per client, so that big pages
//! never occupy the async workers that answer every other request. A job that cannot get a
//! slot within its wait fails with [`UpstreamError::Busy`] (that project only) instead of
//! queueing without bound; a job whose caller gave up keeps its slot until it ends, so the
//! limit bounds the CPU actually spent. A job on a small page (at most [`INLINE_BYTES`]) runs
//! where it is called: it costs less than the hop to a blocking thread and back.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::UpstreamError;
use strongroom_protocol::simple::read::ReadError;

/// How many page jobs run at once (per client, so per server process). Two keep one core of
/// a small machine free for everything else; a page of the default ceiling takes well under
/// a second to parse, so a burst of cold projects waits briefly instead of stalling the rest.
pub const PAGE_WORK_SLOTS: usize = 2;

/// A job on at most this many bytes of page runs inline (tens of microseconds of CPU).
pub const INLINE_BYTES: usize = 16 * 1024;

/// The slots for page jobs (cheap to clone: clones share the slots).
#[derive(Debug, Clone)]
pub struct PageWork {
    slots: Arc<Semaphore>,
    wait: Duration,
}

impl PageWork {
    /// `slots` jobs at once (at least one); a job waits at most `wait` for a slot.
    pub fn new(slots: usize, wait: Duration) -> PageWork {
        PageWork {
            slots: Arc::new(Semaphore::new(slots.max(1))),
            wait,
        }
    }

    /// How many slots are free now (for diagnostics and tests).
    pub fn free_slots(&self) -> usize {
        self.slots.available_permits()
    }

    /// Run `job`, which works on about `bytes` bytes of page: inline when that is at most
    /// [`INLINE_BYTES`], else as [`PageWork::run`] does.
    pub async fn run_sized<T, F>(&self, bytes: usize, job: F) -> Result<T, UpstreamError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        if bytes <= INLINE_BYTES {
            return Ok(job());
        }
        self.run(job).await
    }

    /// Run `job` on a blocking thread once a slot is free; `Busy` when none is within the wait.
    pub async fn run<T, F>(&self, job: F) -> Result<T, UpstreamError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permit = tokio::time::timeout(self.wait, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| UpstreamError::Busy)?
            .map_err(|_| UpstreamError::Busy)?;
        tokio::task::spawn_blocking(move || {
            // held until the job ends, even when the caller stopped waiting for it
            let _slot = permit;
            job()
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "an upstream page job failed");
            UpstreamError::Malformed(ReadError::Malformed(
                "the page could not be processed".to_owned(),
            ))
        })
    }
}

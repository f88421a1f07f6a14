//! Reading a response body within bounds: every read within the timeout, at least
//! [`MIN_BYTES_PER_WINDOW`] bytes for every timeout's worth of waiting on the upstream (so a body
//! dripping a byte at a time fails instead of holding a connection for ever), and never more than
//! a byte cap. Only time spent waiting for the upstream counts: a consumer that pauses between
//! chunks (its own disk, its own client) does not make the upstream look slow.

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::UpstreamError;

/// The least a body must deliver in each window of `timeout` seconds (16 KiB: with the default
/// 20 s, about 800 bytes a second; slower links need a larger `upstream.timeout_seconds`).
pub const MIN_BYTES_PER_WINDOW: u64 = 16 * 1024;

/// A response body being read under the bounds.
pub(crate) struct BoundedBody {
    resp: reqwest::Response,
    timeout: Duration,
    timeout_secs: u64,
    max_bytes: u64,
    read: u64,
    /// Time spent waiting for the upstream in the current window.
    window_wait: Duration,
    /// Bytes the current window brought.
    window_bytes: u64,
    done: bool,
}

impl BoundedBody {
    /// Bound `resp`'s body: `max_bytes` in all, `timeout_secs` per read and per window.
    pub(crate) fn new(
        resp: reqwest::Response,
        timeout_secs: u64,
        max_bytes: u64,
    ) -> Result<BoundedBody, UpstreamError> {
        if resp.content_length().is_some_and(|n| n > max_bytes) {
            return Err(UpstreamError::TooLarge(max_bytes));
        }
        Ok(BoundedBody {
            resp,
            timeout: Duration::from_secs(timeout_secs.max(1)),
            timeout_secs,
            max_bytes,
            read: 0,
            window_wait: Duration::ZERO,
            window_bytes: 0,
            done: false,
        })
    }

    /// The next chunk (`None` at the end). After an error the body is over.
    pub(crate) async fn next_chunk(&mut self) -> Result<Option<Bytes>, UpstreamError> {
        if self.done {
            return Ok(None);
        }
        let r = self.read_one().await;
        if !matches!(r, Ok(Some(_))) {
            self.done = true;
        }
        r
    }

    async fn read_one(&mut self) -> Result<Option<Bytes>, UpstreamError> {
        // While this window's quota is unmet, the wait may last only to the window's end.
        let budget = if self.window_bytes >= MIN_BYTES_PER_WINDOW {
            self.timeout
        } else {
            self.timeout.saturating_sub(self.window_wait)
        };
        let started = Instant::now();
        let chunk = match tokio::time::timeout(budget, self.resp.chunk()).await {
            Err(_) => return Err(UpstreamError::Timeout(self.timeout_secs)),
            Ok(r) => r.map_err(|e| UpstreamError::transport(e, self.timeout_secs))?,
        };
        let Some(chunk) = chunk else {
            return Ok(None);
        };
        let n = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
        self.read = self.read.saturating_add(n);
        if self.read > self.max_bytes {
            return Err(UpstreamError::TooLarge(self.max_bytes));
        }
        self.window_wait += started.elapsed();
        self.window_bytes = self.window_bytes.saturating_add(n);
        if self.window_wait >= self.timeout {
            // A full window of waiting: it must have brought its quota; start the next.
            if self.window_bytes < MIN_BYTES_PER_WINDOW {
                return Err(UpstreamError::Timeout(self.timeout_secs));
            }
            self.window_wait = Duration::ZERO;
            self.window_bytes = 0;
        }
        Ok(Some(chunk))
    }

    /// The whole body, in memory (pages).
    pub(crate) async fn collect(mut self) -> Result<Vec<u8>, UpstreamError> {
        let mut out = Vec::new();
        while let Some(chunk) = self.next_chunk().await? {
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

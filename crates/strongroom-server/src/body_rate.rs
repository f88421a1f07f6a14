//! Request bodies must keep moving: every route's body (including unauthenticated `/legacy/`,
//! which drains a refused upload so twine can read the message) must deliver at least
//! `http.body_min_bytes` in every `http.body_window_seconds`, counted from the first read. A
//! slower body is cut off: the handler sees a body error and the client gets 408, and the
//! connection closes. A real upload, however slow its link, moves far faster than this.
//! A body no account stands behind (anything but an upload with credentials: web forms, XML-RPC;
//! an upload refused for its credentials is drained under the same deadline, `upload::drain`)
//! must moreover be complete within `http.body_timeout_seconds`, and while it arrives its
//! connection may be closed to make room at a connection cap (`connections::BodyMark`).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::time::{Instant, Sleep};

use strongroom_core::settings::HttpSettings;

use crate::error::ApiError;

/// The error a too-slow body ends with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TooSlow {
    #[error("request body slower than {min} bytes per {window:?}")]
    Rate { min: u64, window: Duration },
    #[error("request body not complete within {0:?}")]
    Total(Duration),
}

/// A body that fails when a window passes with fewer than `min` bytes received.
pub(crate) struct MinRate<B> {
    inner: B,
    min: u64,
    window: Duration,
    got: u64,
    /// The current window's end; started at the first poll (a handler that reads the body late,
    /// or a client waiting for `100 Continue`, is not the client being slow).
    deadline: Option<Pin<Box<Sleep>>>,
    /// The whole body's deadline (anonymous bodies), and its timer once started.
    total: Option<(Duration, Option<Pin<Box<Sleep>>>)>,
    /// Held while an anonymous body is incomplete (its connection is then evictable).
    mark: Option<crate::connections::BodyMark>,
    tripped: Arc<AtomicBool>,
}

impl<B> MinRate<B> {
    pub(crate) fn new(inner: B, min: u64, window: Duration, tripped: Arc<AtomicBool>) -> Self {
        MinRate {
            inner,
            min,
            window,
            got: 0,
            deadline: None,
            total: None,
            mark: None,
            tripped,
        }
    }

    /// Also require the whole body within `total` (from the first read), holding `mark` until
    /// it is complete.
    pub(crate) fn with_total(
        mut self,
        total: Duration,
        mark: Option<crate::connections::BodyMark>,
    ) -> Self {
        self.total = Some((total, None));
        self.mark = mark;
        self
    }

    fn trip(
        &mut self,
        why: TooSlow,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, axum::Error>>> {
        self.tripped.store(true, Ordering::Relaxed);
        self.mark = None;
        Poll::Ready(Some(Err(axum::Error::new(why))))
    }
}

impl<B> HttpBody for MinRate<B>
where
    B: HttpBody<Data = Bytes, Error = axum::Error> + Unpin,
{
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let window = this.window;
        if let Some((limit, timer)) = &mut this.total {
            let limit = *limit;
            let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
            if timer.as_mut().poll(cx).is_ready() {
                return this.trip(TooSlow::Total(limit));
            }
        }
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(window)));
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.got += data.len() as u64;
                    if this.got >= this.min {
                        this.got = 0;
                        deadline.as_mut().reset(Instant::now() + window);
                    }
                }
                if this.inner.is_end_stream() {
                    this.mark = None;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => {
                this.mark = None;
                Poll::Ready(other)
            }
            Poll::Pending => {
                if this.min > 0 && deadline.as_mut().poll(cx).is_ready() {
                    let min = this.min;
                    return this.trip(TooSlow::Rate { min, window });
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The minimum rate and the anonymous bodies' deadline (plain numbers, cheap to copy per
/// request).
#[derive(Debug, Clone, Copy)]
pub(crate) struct MinBodyRate {
    min: u64,
    window: Duration,
    total: Duration,
}

impl MinBodyRate {
    pub(crate) fn of(http: &HttpSettings) -> MinBodyRate {
        MinBodyRate {
            min: http.body_min_bytes,
            window: Duration::from_secs(http.body_window_secs.max(1)),
            total: body_deadline(http),
        }
    }
}

/// How long a body no account stands behind may take in all (`http.body_timeout_seconds`).
pub(crate) fn body_deadline(http: &HttpSettings) -> Duration {
    Duration::from_secs(http.body_timeout_secs.max(1))
}

/// Whether a body may take longer than `http.body_timeout_seconds`: only an upload with
/// credentials (checked by the handler before it reads a byte; refused ones are drained under
/// the deadline all the same).
fn is_credentialed_upload(req: &Request) -> bool {
    req.uri().path() == "/legacy/" && req.headers().contains_key(header::AUTHORIZATION)
}

/// When the last cut-off was logged, and how many since were not: one line per 10 s at most,
/// so a client trickling bodies on many connections cannot flood the log.
static CUT_OFF_LOG: std::sync::Mutex<(Option<std::time::Instant>, u64)> =
    std::sync::Mutex::new((None, 0));

/// Whether to log a cut-off now; if so, how many went unlogged since the last line.
fn cut_off_log_due() -> Option<u64> {
    let mut g = CUT_OFF_LOG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if g.0.is_some_and(|t| t.elapsed() < Duration::from_secs(10)) {
        g.1 += 1;
        return None;
    }
    g.0 = Some(std::time::Instant::now());
    Some(std::mem::take(&mut g.1))
}

/// Wrap every request body in [`MinRate`]; answer 408 (and close) when it tripped.
pub(crate) async fn min_body_rate<F>(
    rate: MinBodyRate,
    req: Request,
    next: impl FnOnce(Request) -> F,
) -> Response
where
    F: Future<Output = Response>,
{
    if req.body().is_end_stream() {
        return next(req).await;
    }
    let tripped = Arc::new(AtomicBool::new(false));
    let MinBodyRate { min, window, total } = rate;
    let flag = tripped.clone();
    let anonymous = !is_credentialed_upload(&req);
    let mark = anonymous
        .then(|| {
            req.extensions()
                .get::<crate::connections::ConnHandle>()
                .map(crate::connections::ConnHandle::anonymous_body)
        })
        .flatten();
    let req = req.map(|b| {
        let body = MinRate::new(b, min, window, flag);
        Body::new(if anonymous {
            body.with_total(total, mark)
        } else {
            body
        })
    });
    let resp = next(req).await;
    if !tripped.load(Ordering::Relaxed) {
        return resp;
    }
    if let Some(suppressed) = cut_off_log_due() {
        tracing::info!(
            min,
            ?window,
            ?total,
            anonymous,
            suppressed,
            "request body too slow: cut off"
        );
    }
    let mut resp = ApiError::body_too_slow().into_response();
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn slow_body(chunks: Vec<(u64, &'static [u8])>) -> Body {
        // each chunk arrives after its delay (ms), like a client that sends slowly
        let stream = futures_util::stream::unfold(chunks.into_iter(), |mut it| async move {
            let (ms, data) = it.next()?;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Some((Ok::<_, std::io::Error>(Bytes::from_static(data)), it))
        });
        Body::from_stream(stream)
    }

    #[tokio::test]
    async fn a_body_slower_than_the_minimum_is_cut_off() {
        let tripped = Arc::new(AtomicBool::new(false));
        // one byte per 100 ms against a minimum of 10 bytes per 300 ms (load only slows it)
        let chunks = vec![(100, &b"a"[..]); 30];
        let window = Duration::from_millis(300);
        let body = MinRate::new(slow_body(chunks), 10, window, tripped.clone());
        let err = Body::new(body).collect().await.expect_err("cut off");
        assert!(err.to_string().contains("slower than 10 bytes"), "{err}");
        assert!(tripped.load(Ordering::Relaxed));
    }

    #[tokio::test]
    async fn an_anonymous_body_must_be_complete_within_its_deadline_however_steady() {
        let tripped = Arc::new(AtomicBool::new(false));
        // steady and well above the rate, but it takes 2 s against a 500 ms deadline
        let chunks = vec![(20, &b"abcdefghijkl"[..]); 100];
        let body = MinRate::new(
            slow_body(chunks),
            10,
            Duration::from_millis(500),
            tripped.clone(),
        )
        .with_total(Duration::from_millis(500), None);
        let err = Body::new(body).collect().await.expect_err("cut off");
        assert!(err.to_string().contains("not complete within"), "{err}");
        assert!(tripped.load(Ordering::Relaxed));
    }

    #[tokio::test]
    async fn a_slow_but_steady_body_passes_however_long_it_takes() {
        let tripped = Arc::new(AtomicBool::new(false));
        // 12 bytes per 20 ms, for many windows, against 10 bytes per 500 ms
        let chunks = vec![(20, &b"abcdefghijkl"[..]); 100];
        let window = Duration::from_millis(500);
        let body = MinRate::new(slow_body(chunks), 10, window, tripped.clone());
        let got = Body::new(body)
            .collect()
            .await
            .expect("whole body")
            .to_bytes();
        assert_eq!(got.len(), 1_200);
        assert!(!tripped.load(Ordering::Relaxed));
    }
}

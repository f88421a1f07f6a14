//! A connection's socket with a write deadline: a write or flush that makes no progress for
//! `http.write_timeout_seconds` fails, so a client that stops reading a response (a large page,
//! a download) cannot hold the connection and its buffers forever. Reads pass through: request
//! heads are timed by hyper, bodies by `body_rate`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// `T` whose writes time out after `timeout` without progress.
pub(crate) struct WriteDeadline<T> {
    inner: T,
    timeout: Duration,
    /// Running while a write is blocked (the client's window is full).
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<T> WriteDeadline<T> {
    pub(crate) fn new(inner: T, timeout: Duration) -> Self {
        WriteDeadline {
            inner,
            timeout,
            stalled: None,
        }
    }

    /// After the inner write returned `Pending`: start (or keep) the stall clock, and fail
    /// once it has run out.
    fn pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let timeout = self.timeout;
        let stall = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        ready!(stall.as_mut().poll(cx));
        Poll::Ready(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client read nothing for the write timeout",
        ))
    }

    fn progress<R>(&mut self, r: Poll<R>, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        match r {
            Poll::Ready(v) => {
                self.stalled = None;
                Poll::Ready(Ok(v))
            }
            Poll::Pending => self.pending(cx).map(Err),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteDeadline<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        match r {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(n)) => this.progress(Poll::Ready(n), cx),
            Poll::Pending => this.progress(Poll::Pending, cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        match r {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(n)) => this.progress(Poll::Ready(n), cx),
            Poll::Pending => this.progress(Poll::Pending, cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        match r {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => this.progress(Poll::Ready(()), cx),
            Poll::Pending => this.progress(Poll::Pending, cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_shutdown(cx);
        match r {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => this.progress(Poll::Ready(()), cx),
            Poll::Pending => this.progress(Poll::Pending, cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_write_nobody_reads_fails_after_the_timeout() {
        // a pipe with a tiny buffer and a reader that never reads
        let (a, _b) = tokio::io::duplex(64);
        let mut w = WriteDeadline::new(a, Duration::from_millis(200));
        let err = w.write_all(&[0u8; 4096]).await.expect_err("stalled");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn a_reader_that_keeps_reading_is_never_cut_off() {
        let (a, mut b) = tokio::io::duplex(64);
        let reader = tokio::spawn(async move {
            let mut got = 0usize;
            let mut buf = [0u8; 16];
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                match b.read(&mut buf).await {
                    Ok(0) | Err(_) => break got,
                    Ok(n) => got += n,
                }
            }
        });
        // the whole write takes far longer than the timeout; each step makes progress
        let mut w = WriteDeadline::new(a, Duration::from_secs(1));
        w.write_all(&[7u8; 4096]).await.expect("written");
        w.shutdown().await.expect("shutdown");
        drop(w);
        assert_eq!(reader.await.expect("reader"), 4096);
    }
}

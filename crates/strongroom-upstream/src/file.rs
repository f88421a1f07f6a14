//! Opening an upstream file as a stream: credentials only on the upstream's own origin (a files
//! host elsewhere gets none), destinations held to `redirect::FilePolicy`, every chunk within the timeout, the stream ending in `TooLarge`
//! past `max_bytes` (announced or actual).

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::body::BoundedBody;
use crate::{UpstreamError, UpstreamIndex, redirect};

/// A file body being read from an upstream.
pub struct FileStream {
    /// `Content-Length`, when the upstream sent one.
    pub content_length: Option<u64>,
    /// The body, each chunk within the read timeout; ends with an error past `max_bytes`.
    pub body: BoxStream<'static, Result<Bytes, UpstreamError>>,
}

impl std::fmt::Debug for FileStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStream")
            .field("content_length", &self.content_length)
            .finish_non_exhaustive()
    }
}

/// Open `url` (the caller bounds the wait for the response head).
pub(crate) async fn open(
    http: &reqwest::Client,
    policy: redirect::FilePolicy<'_>,
    index: &UpstreamIndex,
    url: &str,
    timeout_secs: u64,
    max_bytes: u64,
) -> Result<FileStream, UpstreamError> {
    let resp = redirect::get(
        http,
        Some(policy),
        index,
        url,
        HeaderMap::new(),
        timeout_secs,
    )
    .await?;
    if resp.status() != StatusCode::OK {
        return Err(UpstreamError::Status(resp.status().as_u16()));
    }
    let content_length = resp.content_length();
    let body = BoundedBody::new(resp, timeout_secs, max_bytes)?;
    let body = futures_util::stream::unfold(body, |mut body| async move {
        match body.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), body)),
            Ok(None) => None,
            Err(e) => Some((Err(e), body)),
        }
    })
    .boxed();
    Ok(FileStream {
        content_length,
        body,
    })
}

//! Fetching one project page: PEP 691 JSON asked for first, PEP 503 HTML accepted by content
//! type, revalidation with `If-None-Match`, 404/410 = not found, the body bounded by
//! `max_page_bytes`, and the whole exchange (redirects and body) within the timeout. The
//! body is parsed as page work (`work`): inline when small, else on a blocking thread under the
//! client's slots.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, ETAG, HeaderMap, HeaderValue, IF_NONE_MATCH};
use strongroom_protocol::NormalizedName;
use strongroom_protocol::simple::read::{self, ReadError, UpstreamPage};

use crate::body::BoundedBody;
use crate::{PageFetch, PageWork, UpstreamError, UpstreamIndex, redirect};

/// What a project page is asked for as: PEP 691 JSON first, HTML after.
pub const PAGE_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, \
     application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

/// The format of a page body, by its content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PageFormat {
    Json,
    Html,
}

fn page_format(content_type: Option<&str>) -> Result<PageFormat, ReadError> {
    let ct = content_type.unwrap_or("").trim();
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/vnd.pypi.simple.v1+json"
        | "application/vnd.pypi.simple.latest+json"
        | "application/json" => Ok(PageFormat::Json),
        "application/vnd.pypi.simple.v1+html"
        | "application/vnd.pypi.simple.latest+html"
        | "text/html" => Ok(PageFormat::Html),
        _ => Err(ReadError::Malformed(format!(
            "unexpected content type {:?}",
            ct.chars().take(100).collect::<String>()
        ))),
    }
}

/// The page URL of `project` at `index` (`<index url><project>/`).
pub(crate) fn page_url(index: &UpstreamIndex, project: &NormalizedName) -> String {
    let base = index.url.trim_end_matches('/');
    format!("{base}/{}/", project.as_str())
}

/// The bounds of one page fetch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageLimits {
    /// Connect, head and each read within this many seconds.
    pub(crate) timeout_secs: u64,
    /// The largest body read.
    pub(crate) max_bytes: u64,
}

/// Fetch and parse the page (the caller puts the whole call under the timeout).
pub(crate) async fn fetch(
    http: &reqwest::Client,
    work: &PageWork,
    index: &UpstreamIndex,
    project: &NormalizedName,
    etag: Option<&str>,
    limits: PageLimits,
    head: &std::sync::atomic::AtomicBool,
) -> Result<PageFetch, UpstreamError> {
    let PageLimits {
        timeout_secs,
        max_bytes,
    } = limits;
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static(PAGE_ACCEPT));
    if let Some(tag) = etag.and_then(|t| HeaderValue::from_str(t).ok()) {
        headers.insert(IF_NONE_MATCH, tag);
    }
    let url = page_url(index, project);
    let resp = redirect::get(http, None, index, &url, headers, timeout_secs).await?;
    // the upstream answered: what goes wrong from here is about this project's page only
    head.store(true, std::sync::atomic::Ordering::Relaxed);
    match resp.status() {
        StatusCode::NOT_MODIFIED if etag.is_some() => return Ok(PageFetch::NotModified),
        StatusCode::NOT_FOUND | StatusCode::GONE => return Ok(PageFetch::NotFound),
        StatusCode::OK => {}
        other => return Err(UpstreamError::Status(other.as_u16())),
    }
    let final_url = resp.url().to_string();
    let format = page_format(
        resp.headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    )?;
    let new_etag = resp
        .headers()
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = BoundedBody::new(resp, timeout_secs, max_bytes)?
        .collect()
        .await?;
    let asked = project.clone();
    let page: UpstreamPage = work
        .run_sized(body.len(), move || match format {
            PageFormat::Json => read::parse_project_json(&asked, &body, &final_url),
            PageFormat::Html => read::parse_project_html(&asked, &body, &final_url),
        })
        .await??;
    Ok(PageFetch::Page {
        page,
        etag: new_etag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_choose_the_parser() {
        assert_eq!(
            page_format(Some("application/vnd.pypi.simple.v1+json")),
            Ok(PageFormat::Json)
        );
        assert_eq!(
            page_format(Some("text/html; charset=utf-8")),
            Ok(PageFormat::Html)
        );
        assert_eq!(
            page_format(Some("Application/Vnd.PyPI.Simple.v1+HTML")),
            Ok(PageFormat::Html)
        );
        assert!(page_format(Some("application/octet-stream")).is_err());
        assert!(page_format(None).is_err());
    }
}

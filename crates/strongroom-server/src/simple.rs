//! `GET /simple/` and `GET /simple/<project>/`: PEP 503 HTML and PEP 691 JSON from the page cache.

use std::collections::HashMap;

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use strongroom_protocol::simple::{self, SimpleFormat};

use crate::cache::{CachedPage, PageKey, SimpleKey};
use crate::error::ApiError;
use crate::headers::{Coding, choose_coding, coded_etag, etag_matches};
use crate::state::AppState;
use strongroom_core::gateway::fast::PageTarget;
use strongroom_protocol::NormalizedName;

fn format_of(params: &HashMap<String, String>, headers: &HeaderMap) -> SimpleFormat {
    match params.get("format") {
        Some(f) => SimpleFormat::negotiate(
            Some(f),
            headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()),
        ),
        None => format_accepted(headers),
    }
}

/// Longest `Accept` value whose negotiated format a thread remembers.
const ACCEPT_MEMO_MAX: usize = 256;

/// The format `Accept` alone negotiates. A client sends the same `Accept` with every request,
/// so each thread remembers the last value (at most [`ACCEPT_MEMO_MAX`] bytes) and its format:
/// parsing q-values was a tenth of a kept page's own work.
fn format_accepted(headers: &HeaderMap) -> SimpleFormat {
    thread_local! {
        static LAST: std::cell::RefCell<(Vec<u8>, SimpleFormat)> =
            const { std::cell::RefCell::new((Vec::new(), SimpleFormat::TextHtml)) };
    }
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return SimpleFormat::negotiate(None, None);
    };
    if accept.len() > ACCEPT_MEMO_MAX {
        return SimpleFormat::negotiate(None, Some(accept));
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != accept.as_bytes() {
            last.0.clear();
            last.0.extend_from_slice(accept.as_bytes());
            last.1 = SimpleFormat::negotiate(None, Some(accept));
        }
        last.1
    })
}

/// `X-PyPI-Last-Serial` (PEP 691's name for the page's serial).
const LAST_SERIAL: axum::http::HeaderName =
    axum::http::HeaderName::from_static("x-pypi-last-serial");

/// Headers an answer from a kept page carries at most (room made once).
const PAGE_HEADERS: usize = 16;

/// The request's user agent, when it is text (for the impact report's page-read counts).
pub(crate) fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
}

/// A 301 to `target` (PyPI answers name normalisation and the missing slash with 301, not 308).
pub(crate) fn moved(target: &str) -> Response {
    match HeaderValue::from_str(target) {
        Ok(v) => (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, v)]).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Answer with a cached page: a compressed copy the client accepts (zstd or gzip,
/// `headers::choose_coding`) when the page has one, or 304 when `If-None-Match` names the
/// `ETag` of that answer (`headers::coded_etag`: each coding has its own). `base` fills
/// the page's base slots, if it has any (see `CachedPage::with_base_slots`).
pub(crate) fn page_response(
    page: &CachedPage,
    base: &str,
    content_type: &'static str,
    serial: i64,
    headers: &HeaderMap,
    vary_accept: bool,
) -> Response {
    let coding = choose_coding(headers, page.zstd().is_some(), page.gzip.is_some());
    let etag = page.etag.as_ref().and_then(|e| coded_etag(e, coding));
    let matched = etag
        .as_ref()
        .and_then(|e| e.to_str().ok())
        .is_some_and(|e| etag_matches(headers, e));
    let mut resp = if matched {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let copy = match coding {
            Coding::Zstd => page.zstd(),
            Coding::Gzip => page.gzip.as_ref(),
            Coding::Identity => None,
        };
        match (copy, coding.header()) {
            (Some(bytes), Some(encoding)) => {
                let mut r = bytes.clone().into_response();
                r.headers_mut().insert(header::CONTENT_ENCODING, encoding);
                r
            }
            _ => match page.body_for(base) {
                Some(body) => body.into_response(),
                None => {
                    tracing::error!("a kept page's gzip copy did not decode");
                    return ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "a kept page could not be read",
                    )
                    .into_response();
                }
            },
        }
    };
    resp.headers_mut().reserve(PAGE_HEADERS);
    page_headers(resp.headers_mut(), content_type, etag.as_ref(), serial);
    if !vary_accept {
        resp.headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    resp
}

/// The headers of a simple page's answer (a kept one, or the root streamed): its type, what
/// it varies by, its `ETag`, the serial, and that anyone may cache and read it.
pub(crate) fn page_headers(
    h: &mut HeaderMap,
    content_type: &'static str,
    etag: Option<&HeaderValue>,
    serial: i64,
) {
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding"),
    );
    if let Some(v) = etag {
        h.insert(header::ETAG, v.clone());
    }
    h.insert(LAST_SERIAL, HeaderValue::from(serial));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=600, public"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("X-PyPI-Last-Serial"),
    );
}

/// `GET /simple/`: from the cache without a database read while no journal entry was written
/// since it was rendered (`freshness`).
pub(crate) async fn index(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
    req: Request,
) -> Result<Response, ApiError> {
    let headers = req.headers();
    let fmt = format_of(&params, headers);
    let key = PageKey::Index {
        json: fmt.is_json(),
    };
    let page = match state.fresh.page(&state.services.db, &key).await {
        Some(p) => p,
        None => {
            let ticket = state.cache.ticket();
            let serial = state.services.db.global_serial().await?;
            let plan = crate::root_index::Plan {
                json: fmt.is_json(),
                serial,
                ticket,
                key,
                content_type: fmt.content_type(),
            };
            // a client that has this serial's page reads nothing more
            if let Some(unchanged) = crate::root_index::not_modified(&plan, headers) {
                return Ok(unchanged);
            }
            // one render or stream of the index at a time per slot, before any run is read
            let slot = crate::root_index::slot().await?;
            let entries = state
                .services
                .simple_index_run("", crate::root_index::RUN)
                .await?;
            if i64::try_from(entries.len()).unwrap_or(i64::MAX) >= crate::root_index::RUN {
                // more than one run: streamed (and kept when small enough)
                return Ok(crate::root_index::stream(
                    state.clone(),
                    plan,
                    entries,
                    headers,
                    slot,
                ));
            }
            drop(slot);
            let key = plan.key;
            let body = if fmt.is_json() {
                simple::index_json(&entries, serial)
            } else {
                simple::index_html(&entries, serial)
            };
            let page = std::sync::Arc::new(
                CachedPage::made(serial, crate::cache::format_tag(fmt.is_json()), body).await?,
            );
            state.cache.put_fresh(key, page.clone(), ticket);
            page
        }
    };
    Ok(page_response(
        &page,
        "",
        fmt.content_type(),
        page.serial,
        headers,
        true,
    ))
}

/// `GET /simple/<project>/`: a local project's page from the cache without a database read
/// (`freshness`); on a miss, one read says what the name is.
pub(crate) async fn project(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    peer: Option<crate::gateway_pages::Peer>,
    req: Request,
) -> Result<Response, ApiError> {
    // the request's own headers, not the copy a `HeaderMap` extractor makes
    let headers = req.headers();
    let normalized = strongroom_protocol::name::normalize(&name);
    if !strongroom_protocol::name::is_valid_project_name(&name) {
        return Err(ApiError::not_found());
    }
    if normalized != name {
        return Ok(moved(&format!("/simple/{normalized}/")));
    }
    let fmt = format_of(&params, headers);
    let key = PageKey::Simple {
        project: normalized,
        json: fmt.is_json(),
    };
    let PageKey::Simple {
        project: normalized,
        ..
    } = &key
    else {
        return Err(ApiError::not_found());
    };
    // a local, public project's page is kept under this key until its next journal entry; an
    // upstream project's also until its TTL ends (or a new generation: rules, advisories,
    // prohibitions, a local project without a journal entry)
    if let Some(page) = state.fresh.page(&state.services.db, &key).await {
        match page.upstream() {
            None => return Ok(local_page(&state, normalized, &page, fmt, headers)),
            Some(stamp) => {
                let now = state.services.now();
                if now < stamp.fresh_until {
                    let resp =
                        crate::gateway_pages::kept_simple_page(&page, stamp, fmt, headers, now);
                    return Ok(counted(&state, &key, headers, resp));
                }
                // past it: the lookup below decides (and asks the upstream when due)
            }
        }
    }
    let ticket = state.cache.ticket();
    let project = if state.services.settings.upstream.enabled() {
        // one read says where the name is served from (`core::gateway::fast`)
        let name = NormalizedName::new(normalized).map_err(|_| ApiError::not_found())?;
        match state.services.page_target(&name).await? {
            PageTarget::Local(p, _) => p,
            PageTarget::NotServed => return Err(ApiError::not_found()),
            PageTarget::Upstream(fresh) => {
                let (resp, kept) = crate::gateway_pages::fresh_simple_page(
                    &state, &name, fmt, headers, fresh, peer,
                )
                .await?;
                if let Some(page) = kept {
                    state.cache.put_fresh(key.clone(), page, ticket);
                }
                return Ok(counted(&state, &key, headers, resp));
            }
            PageTarget::Slow(known) => {
                let resp = crate::gateway_pages::simple_page(
                    &state,
                    normalized,
                    fmt,
                    headers,
                    peer,
                    known.as_ref(),
                )
                .await?;
                return Ok(counted(&state, &key, headers, resp));
            }
        }
    } else {
        match state.services.visible_project(normalized).await? {
            Some(p) => p,
            // no upstream: not found (the gateway's path says so); 404s are not cached
            None => return Err(ApiError::not_found()),
        }
    };
    // Not servable unread (this process has not caught up with the journal lately, as on a
    // busy PostgreSQL server between notifications): the row just read says which serial is
    // current, and a page kept at that serial is still the page.
    if let Some(page) = state.cache.get_held(&key, project.last_serial) {
        return Ok(local_page(&state, normalized, &page, fmt, headers));
    }
    let model = state
        .services
        .simple_project_page(&project, &state.simple_link_base())
        .await?;
    let body = if fmt.is_json() {
        simple::project_json(&model)
    } else {
        simple::project_html(&model)
    };
    let page = CachedPage::made(
        project.last_serial,
        crate::cache::format_tag(fmt.is_json()),
        body,
    )
    .await?;
    state.cache.put_fresh(key.clone(), page.clone(), ticket);
    Ok(local_page(&state, normalized, &page, fmt, headers))
}

/// The route of a project's page in the table (and its metrics label).
pub(crate) const PROJECT_ROUTE: &str = "/simple/{name}/";

/// The page a request asks for, when it is one [`project`] would answer from a kept page
/// whatever else it reads: a `GET` of `/simple/<name>/` with the name already normalised (no
/// escapes, no redirect) and no query (the format from `Accept` alone). `None` for anything
/// else, which the router answers.
pub(crate) fn kept_target<B>(
    req: &axum::http::Request<B>,
) -> Option<(SimpleKey<'_>, SimpleFormat)> {
    if req.method() != axum::http::Method::GET || req.uri().query().is_some() {
        return None;
    }
    let name = req
        .uri()
        .path()
        .strip_prefix("/simple/")?
        .strip_suffix('/')?;
    if name.contains(['/', '%']) || !strongroom_protocol::name::is_valid_project_name(name) {
        return None;
    }
    if !strongroom_protocol::name::is_normalized(name) {
        return None;
    }
    let fmt = format_accepted(req.headers());
    let key = SimpleKey {
        project: name,
        json: fmt.is_json(),
    };
    Some((key, fmt))
}

/// A local project's page kept under `key` and servable now, with nothing to wait for
/// (`Freshness::page_now`); an upstream project's page is [`project`]'s to answer.
pub(crate) fn kept_local_page(
    state: &AppState,
    key: SimpleKey<'_>,
) -> Option<std::sync::Arc<CachedPage>> {
    let page = state
        .fresh
        .page_now(&key)
        .filter(|p| p.upstream().is_none())?;
    state.cache.note_hit();
    Some(page)
}

/// A local project's simple page as the answer (and its read counted for the impact report).
pub(crate) fn local_page(
    state: &AppState,
    project: &str,
    page: &CachedPage,
    fmt: SimpleFormat,
    headers: &HeaderMap,
) -> Response {
    state.services.record_page_hit(project, user_agent(headers));
    page_response(page, "", fmt.content_type(), page.serial, headers, true)
}

/// An upstream project's page as the answer, its read counted for the impact report when it
/// was served (200, or 304 to a client that has it): the gateway's pages count as local ones.
pub(crate) fn counted(
    state: &AppState,
    key: &PageKey,
    headers: &HeaderMap,
    resp: Response,
) -> Response {
    let project = match key {
        PageKey::Simple { project, .. } | PageKey::PypiJson { project, .. } => project,
        _ => return resp,
    };
    if resp.status().is_success() || resp.status() == axum::http::StatusCode::NOT_MODIFIED {
        state.services.record_page_hit(project, user_agent(headers));
    }
    resp
}

/// `GET /simple/<project>` (no slash) → 301 to the normalised, slashed URL.
pub(crate) async fn project_no_slash(Path(name): Path<String>) -> Response {
    let normalized = strongroom_protocol::name::normalize(&name);
    moved(&format!("/simple/{normalized}/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{Method, Request};

    fn target(method: Method, uri: &str, accept: Option<&str>) -> Option<(PageKey, SimpleFormat)> {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(a) = accept {
            b = b.header(header::ACCEPT, a);
        }
        let req = b.body(()).expect("request");
        let (key, fmt) = kept_target(&req)?;
        let key = PageKey::Simple {
            project: key.project.to_owned(),
            json: key.json,
        };
        Some((key, fmt))
    }

    #[test]
    fn the_remembered_accept_never_answers_for_another() {
        let json = "application/vnd.pypi.simple.v1+json, text/html;q=0.01";
        let long = format!(
            "{}, application/vnd.pypi.simple.v1+json",
            "x/y;q=0.1, ".repeat(40)
        );
        assert!(long.len() > ACCEPT_MEMO_MAX);
        let cases = [
            (Some(json), SimpleFormat::V1Json),
            (Some(json), SimpleFormat::V1Json),
            (Some("text/html"), SimpleFormat::TextHtml),
            (None, SimpleFormat::TextHtml),
            (Some(json), SimpleFormat::V1Json),
            (Some(long.as_str()), SimpleFormat::V1Json),
            (
                Some("application/vnd.pypi.simple.v1+html"),
                SimpleFormat::V1Html,
            ),
            (Some(json), SimpleFormat::V1Json),
        ];
        for (accept, want) in cases {
            let mut h = HeaderMap::new();
            if let Some(a) = accept {
                h.insert(header::ACCEPT, HeaderValue::from_str(a).expect("value"));
            }
            assert_eq!(format_accepted(&h), want, "{accept:?}");
            assert_eq!(format_accepted(&h), SimpleFormat::negotiate(None, accept));
        }
    }

    #[test]
    fn the_front_door_takes_only_a_plain_get_of_a_normalised_project_page() {
        let html = target(Method::GET, "/simple/sr-demo/", None).expect("taken");
        assert_eq!(
            html.0,
            PageKey::Simple {
                project: "sr-demo".into(),
                json: false
            }
        );
        let json = target(
            Method::GET,
            "/simple/a1/",
            Some("application/vnd.pypi.simple.v1+json"),
        )
        .expect("taken");
        assert!(matches!(json.0, PageKey::Simple { json: true, .. }) && json.1.is_json());
        // everything else is the router's: other methods, a query, a name to redirect or
        // decode, another shape of path, a name that is not one
        for (method, uri) in [
            (Method::HEAD, "/simple/sr-demo/"),
            (Method::POST, "/simple/sr-demo/"),
            (
                Method::GET,
                "/simple/sr-demo/?format=application/vnd.pypi.simple.v1+json",
            ),
            (Method::GET, "/simple/sr-demo/?"),
            (Method::GET, "/simple/Sr-Demo/"),
            (Method::GET, "/simple/sr.demo/"),
            (Method::GET, "/simple/sr_demo/"),
            (Method::GET, "/simple/sr%2Ddemo/"),
            (Method::GET, "/simple/sr-demo"),
            (Method::GET, "/simple/sr-demo/x/"),
            (Method::GET, "/simple//"),
            (Method::GET, "/simple/"),
            (Method::GET, "/simple/-sr-/"),
            (Method::GET, "/pypi/sr-demo/json"),
        ] {
            assert!(
                target(method.clone(), uri, None).is_none(),
                "{method} {uri}"
            );
        }
    }
}

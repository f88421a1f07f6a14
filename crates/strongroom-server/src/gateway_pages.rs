//! `/simple/<p>/`, `/pypi/<p>/json` and `/pypi/<p>/<v>/json` for a name no local project has:
//! the gateway's upstream pages (`core::gateway`), rendered once per validity (stored page
//! revision, upstream generation, cooldown hour) into the page cache, with the
//! `X-Strongroom-Upstream-Age` and `X-Strongroom-Upstream-Stale` headers on every answer.
//! Asking the upstreams counts against the client address's `upstream.page_fetches_per_minute`.

use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use strongroom_core::gateway::{GatewayPage, PageValidity, Resolution};
use strongroom_protocol::NormalizedName;
use strongroom_protocol::simple::{self, SimpleFormat};

use crate::cache::{CachedPage, PageKey};
use crate::error::ApiError;
use crate::simple::page_response;
use crate::state::AppState;

/// Seconds since the upstream last confirmed the page.
pub(crate) const AGE_HEADER: &str = "x-strongroom-upstream-age";
/// Why the page may be out of date (the upstream could not be asked).
pub(crate) const STALE_HEADER: &str = "x-strongroom-upstream-stale";

/// The connection's peer (absent only where no listener gave one, e.g. in-process tests).
pub(crate) type Peer = axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>;

/// The upstream page of `name`, when it resolves upstream and an upstream knows it (404
/// otherwise; 502/504 when no upstream answers and nothing is stored; 429 when the client's
/// page-fetch budget is spent and the upstreams would have to be asked).
async fn page_of(
    state: &AppState,
    name: &str,
    headers: &HeaderMap,
    peer: Option<Peer>,
) -> Result<(NormalizedName, GatewayPage), ApiError> {
    let name = NormalizedName::new(name).map_err(|_| ApiError::not_found())?;
    if state.services.resolve_name(&name).await? != Resolution::Upstream {
        return Err(ApiError::not_found());
    }
    let meta = crate::state::request_meta(
        headers,
        peer.map(|p| p.0.0),
        &state.services.settings.trusted_proxies,
    );
    let page = state
        .services
        .upstream_page(&name, meta.ip.as_deref())
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok((name, page))
}

fn key(name: &NormalizedName, json: bool, doc: Option<Option<String>>, v: PageValidity) -> PageKey {
    PageKey::Upstream {
        project: name.as_str().to_owned(),
        json,
        doc,
        generation: v.generation,
        hour: v.hour,
    }
}

/// The ETag tag: the revision is the cached page's serial; generation and hour go in too,
/// so a 304 is never given across a change of rules, advisories or the cooldown's hour.
fn tag(kind: &str, v: PageValidity) -> String {
    format!("up-{kind}-{}-{}", v.generation, v.hour)
}

/// Upstream answers carry no serial of this index; the age and staleness go in instead.
fn finish(mut resp: Response, page: &GatewayPage) -> Response {
    let h = resp.headers_mut();
    h.remove("x-pypi-last-serial");
    h.insert(AGE_HEADER, HeaderValue::from(page.age_secs.max(0)));
    if let Some(reason) = page
        .stale
        .as_deref()
        .and_then(|r| HeaderValue::from_str(r).ok())
    {
        h.insert(STALE_HEADER, reason);
    }
    h.insert(
        axum::http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(
            "X-PyPI-Last-Serial, X-Strongroom-Upstream-Age, X-Strongroom-Upstream-Stale",
        ),
    );
    resp
}

/// `GET /simple/<p>/` for an upstream project.
pub(crate) async fn simple_page(
    state: &AppState,
    name: &str,
    fmt: SimpleFormat,
    headers: &HeaderMap,
    peer: Option<Peer>,
) -> Result<Response, ApiError> {
    let (name, page) = page_of(state, name, headers, peer).await?;
    let validity = state.services.upstream_validity(&page).await?;
    let json = fmt.is_json();
    let key = key(&name, json, None, validity);
    let cached = match state.cache.get(&key, validity.revision) {
        Some(p) => p,
        None => {
            let model = state
                .services
                .upstream_project_page(&name, &page, &state.simple_link_base())
                .await?;
            let body = if json {
                simple::project_json(&model)
            } else {
                simple::project_html(&model)
            };
            let kind = if json { "json" } else { "html" };
            let p = CachedPage::new(validity.revision, &tag(kind, validity), body);
            state.cache.put(key, p.clone());
            p
        }
    };
    let resp = page_response(&cached, "", fmt.content_type(), 0, headers, true);
    Ok(finish(resp, &page))
}

/// `GET /pypi/<p>/json` and `/pypi/<p>/<v>/json` for an upstream project.
pub(crate) async fn json_document(
    state: &AppState,
    name: &str,
    version: Option<&str>,
    headers: &HeaderMap,
    peer: Option<Peer>,
) -> Result<Response, ApiError> {
    let (name, page) = page_of(state, name, headers, peer).await?;
    let canonical = match version {
        None => None,
        Some(v) => Some(
            strongroom_protocol::version::Version::parse(v)
                .map_err(|_| ApiError::not_found())?
                .canonical(),
        ),
    };
    let validity = state.services.upstream_validity(&page).await?;
    let key = key(&name, true, Some(canonical), validity);
    let public = state.public_base();
    let cached = match state.cache.get(&key, validity.revision) {
        Some(p) => p,
        None => {
            let body = state
                .services
                .upstream_json_document(
                    &name,
                    &page,
                    version,
                    public.as_deref().unwrap_or(&state.base_marker),
                )
                .await?
                .ok_or_else(ApiError::not_found)?;
            let t = tag("pypi-json", validity);
            let p = match &public {
                Some(_) => CachedPage::new(validity.revision, &t, body),
                None => {
                    CachedPage::with_base_slots(validity.revision, &t, &body, &state.base_marker)
                }
            };
            state.cache.put(key, p.clone());
            p
        }
    };
    let base = match public {
        Some(b) => b,
        None => state.base_url(headers),
    };
    let mut resp = page_response(&cached, &base, "application/json", 0, headers, false);
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=900, public"),
    );
    Ok(finish(resp, &page))
}

//! `/simple/<p>/`, `/pypi/<p>/json` and `/pypi/<p>/<v>/json` for a name no local project has:
//! the gateway's upstream pages (`core::gateway`), rendered once per validity (stored page
//! revision, upstream generation, cooldown hour) into the page cache, with the
//! `X-Strongroom-Upstream-Age` and `X-Strongroom-Upstream-Stale` headers on every answer.
//! Asking the upstreams counts against the client address's `upstream.page_fetches_per_minute`.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use strongroom_core::gateway::fast::{FreshPage, Known, NameFilters};
use strongroom_core::gateway::{GatewayPage, PageValidity, Resolution};
use strongroom_protocol::NormalizedName;
use strongroom_protocol::simple::{self, SimpleFormat};

use crate::cache::{CachedPage, PageKey, UpstreamStamp};
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
/// page-fetch budget is spent and the upstreams would have to be asked). With `known` (the
/// lookup found the name resolving upstream), the name is not resolved again.
async fn page_of(
    state: &AppState,
    name: &str,
    headers: &HeaderMap,
    peer: Option<Peer>,
    known: Option<&Known>,
) -> Result<(NormalizedName, GatewayPage), ApiError> {
    let name = NormalizedName::new(name).map_err(|_| ApiError::not_found())?;
    if known.is_none() && state.services.resolve_name(&name).await? != Resolution::Upstream {
        return Err(ApiError::not_found());
    }
    let meta = crate::state::request_meta(
        headers,
        peer.map(|p| p.0.0),
        &state.services.settings.trusted_proxies,
    );
    let page = state
        .services
        .upstream_page_known(&name, meta.ip.as_deref(), known)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok((name, page))
}

/// The validity of a rendering of `page`: under the lookup's generation when there was one.
async fn validity_of(
    state: &AppState,
    page: &GatewayPage,
    known: Option<&Known>,
) -> Result<PageValidity, ApiError> {
    Ok(match known {
        Some(k) => state.services.validity_now(page.revision, k.generation),
        None => state.services.upstream_validity(page).await?,
    })
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
fn finish(mut resp: Response, age_secs: i64, stale: Option<&str>) -> Response {
    let h = resp.headers_mut();
    h.remove("x-pypi-last-serial");
    h.insert(AGE_HEADER, HeaderValue::from(age_secs.max(0)));
    if let Some(reason) = stale.and_then(|r| HeaderValue::from_str(r).ok()) {
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

/// `GET /simple/<p>/` for an upstream project (the full path: resolves the name unless the
/// lookup did (`known`), and asks the upstreams when nothing fresh is stored).
pub(crate) async fn simple_page(
    state: &AppState,
    name: &str,
    fmt: SimpleFormat,
    headers: &HeaderMap,
    peer: Option<Peer>,
    known: Option<&Known>,
) -> Result<Response, ApiError> {
    let (name, page) = page_of(state, name, headers, peer, known).await?;
    let validity = validity_of(state, &page, known).await?;
    let cached = match state.cache.get(
        &key(&name, fmt.is_json(), None, validity),
        validity.revision,
    ) {
        Some(p) => p,
        None => {
            let filters = known.map(|k| k.filters);
            render_simple(state, &name, fmt.is_json(), validity, &page, filters).await?
        }
    };
    let resp = page_response(&cached, "", fmt.content_type(), 0, headers, true);
    Ok(finish(resp, page.age_secs, page.stale.as_deref()))
}

/// `GET /simple/<p>/` for a stored upstream page within its TTL (`PageTarget::Upstream`): the
/// cached rendering when there is one, without reading the stored page. Also returns that
/// rendering, stamped, for the caller to keep under the name's `PageKey::Simple` (then served
/// like a local page, without a database read, until [`FreshPage::fresh_until`]); `None` when
/// the full path answered.
pub(crate) async fn fresh_simple_page(
    state: &AppState,
    name: &NormalizedName,
    fmt: SimpleFormat,
    headers: &HeaderMap,
    fresh: FreshPage,
    peer: Option<Peer>,
) -> Result<(Response, Option<CachedPage>), ApiError> {
    let validity = fresh.validity;
    let cached = match state
        .cache
        .get(&key(name, fmt.is_json(), None, validity), validity.revision)
    {
        Some(p) => p,
        None => {
            let Some(page) = state.services.stored_gateway_page(name).await? else {
                // gone since the lookup (evicted): the full path decides
                let resp = simple_page(state, name.as_str(), fmt, headers, peer, None).await?;
                return Ok((resp, None));
            };
            let validity = PageValidity {
                revision: page.revision,
                ..validity
            };
            let filters = Some(fresh.filters);
            render_simple(state, name, fmt.is_json(), validity, &page, filters).await?
        }
    };
    let resp = page_response(&cached, "", fmt.content_type(), 0, headers, true);
    let mut kept = CachedPage::clone(&cached);
    kept.set_upstream(UpstreamStamp {
        confirmed_at: fresh.confirmed_at,
        fresh_until: fresh.fresh_until,
    });
    Ok((finish(resp, fresh.age_secs, None), Some(kept)))
}

/// The answer for an upstream page kept under its `PageKey::Simple` (see
/// [`fresh_simple_page`]), `now` on the services' clock.
pub(crate) fn kept_simple_page(
    page: &CachedPage,
    stamp: UpstreamStamp,
    fmt: SimpleFormat,
    headers: &HeaderMap,
    now: i64,
) -> Response {
    let resp = page_response(page, "", fmt.content_type(), 0, headers, true);
    finish(
        resp,
        now.saturating_sub(stamp.confirmed_at).max(0) / 1_000_000,
        None,
    )
}

/// Render the simple page of `page` under `validity` into the page cache (with the lookup's
/// `filters`, the verdicts on its newest files are remembered under `validity` too).
async fn render_simple(
    state: &AppState,
    name: &NormalizedName,
    json: bool,
    validity: PageValidity,
    page: &GatewayPage,
    filters: Option<NameFilters>,
) -> Result<Arc<CachedPage>, ApiError> {
    let model = state
        .services
        .upstream_project_page(
            name,
            page,
            &state.simple_link_base(),
            filters.map(|f| (f, validity)),
        )
        .await?;
    let body = if json {
        simple::project_json(&model)
    } else {
        simple::project_html(&model)
    };
    let kind = crate::cache::format_tag(json);
    let p = Arc::new(CachedPage::made(validity.revision, &tag(kind, validity), body).await?);
    state.cache.put(key(name, json, None, validity), p.clone());
    Ok(p)
}

/// `GET /pypi/<p>/json` and `/pypi/<p>/<v>/json` for an upstream project (the full path;
/// `known`: what the lookup said).
pub(crate) async fn json_document(
    state: &AppState,
    name: &str,
    version: Option<&str>,
    headers: &HeaderMap,
    peer: Option<Peer>,
    known: Option<&Known>,
) -> Result<Response, ApiError> {
    let (name, page) = page_of(state, name, headers, peer, known).await?;
    let canonical = canonical(version)?;
    let validity = validity_of(state, &page, known).await?;
    let cached = match state.cache.get(
        &key(&name, true, Some(canonical.clone()), validity),
        validity.revision,
    ) {
        Some(p) => p,
        None => {
            let filters = known.map(|k| k.filters);
            render_json(state, &name, version, canonical, validity, &page, filters).await?
        }
    };
    Ok(finish(
        json_response(state, &cached, headers),
        page.age_secs,
        page.stale.as_deref(),
    ))
}

/// The JSON documents of a stored upstream page within its TTL (see [`fresh_simple_page`]).
pub(crate) async fn fresh_json_document(
    state: &AppState,
    name: &NormalizedName,
    version: Option<&str>,
    headers: &HeaderMap,
    fresh: FreshPage,
    peer: Option<Peer>,
) -> Result<Response, ApiError> {
    let canonical = canonical(version)?;
    let validity = fresh.validity;
    let cached = match state.cache.get(
        &key(name, true, Some(canonical.clone()), validity),
        validity.revision,
    ) {
        Some(p) => p,
        None => {
            let Some(page) = state.services.stored_gateway_page(name).await? else {
                return json_document(state, name.as_str(), version, headers, peer, None).await;
            };
            let validity = PageValidity {
                revision: page.revision,
                ..validity
            };
            render_json(
                state,
                name,
                version,
                canonical,
                validity,
                &page,
                Some(fresh.filters),
            )
            .await?
        }
    };
    Ok(finish(
        json_response(state, &cached, headers),
        fresh.age_secs,
        None,
    ))
}

/// Equal versions (`1.0`, `1.0.0`) name one document: the key holds the canonical form.
fn canonical(version: Option<&str>) -> Result<Option<String>, ApiError> {
    Ok(match version {
        None => None,
        Some(v) => Some(
            strongroom_protocol::version::Version::parse(v)
                .map_err(|_| ApiError::not_found())?
                .canonical(),
        ),
    })
}

/// Render the JSON document of `page` (or one of its releases) into the page cache.
async fn render_json(
    state: &AppState,
    name: &NormalizedName,
    version: Option<&str>,
    canonical: Option<String>,
    validity: PageValidity,
    page: &GatewayPage,
    filters: Option<NameFilters>,
) -> Result<Arc<CachedPage>, ApiError> {
    let public = state.public_base();
    let body = state
        .services
        .upstream_json_document(
            name,
            page,
            version,
            public.as_deref().unwrap_or(&state.base_marker),
            filters,
        )
        .await?
        .ok_or_else(ApiError::not_found)?;
    let t = tag("pypi-json", validity);
    let p = Arc::new(match &public {
        Some(_) => CachedPage::made(validity.revision, &t, body).await?,
        None => CachedPage::with_base_slots(validity.revision, &t, &body, &state.base_marker),
    });
    state
        .cache
        .put(key(name, true, Some(canonical), validity), p.clone());
    Ok(p)
}

/// A cached JSON document as a response, its links under this index's base.
fn json_response(state: &AppState, cached: &CachedPage, headers: &HeaderMap) -> Response {
    let base = match state.public_base() {
        Some(b) => b,
        None => state.base_url(headers),
    };
    let mut resp = page_response(cached, &base, "application/json", 0, headers, false);
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=900, public"),
    );
    resp
}

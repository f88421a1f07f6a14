//! `GET /pypi/<project>/json` and `GET /pypi/<project>/<version>/json` (PyPI's JSON API).

use axum::extract::{Path, Request, State};
use axum::http::HeaderMap;
use axum::response::Response;

use crate::cache::{CachedPage, PageKey};
use crate::error::ApiError;
use crate::simple::page_response;
use crate::state::AppState;
use strongroom_core::gateway::fast::PageTarget;
use strongroom_protocol::NormalizedName;

async fn render(
    state: &AppState,
    name: &str,
    version: Option<&str>,
    headers: &HeaderMap,
    peer: Option<crate::gateway_pages::Peer>,
) -> Result<Response, ApiError> {
    let normalized = strongroom_protocol::name::normalize(name);
    if !strongroom_protocol::name::is_valid_project_name(name) {
        return Err(ApiError::not_found());
    }
    if normalized != name {
        let target = match version {
            Some(v) => format!("/pypi/{normalized}/{v}/json"),
            None => format!("/pypi/{normalized}/json"),
        };
        return Ok(crate::simple::moved(&target));
    }
    // Equal versions (`1.0`, `1.0.0`) name one document: the key is the canonical form.
    let canonical = match version {
        None => None,
        Some(v) => Some(
            strongroom_protocol::version::Version::parse(v)
                .map_err(|_| ApiError::not_found())?
                .canonical(),
        ),
    };
    let key_at = |generation| PageKey::PypiJson {
        project: normalized.clone(),
        version: canonical.clone(),
        generation,
    };
    // A local project's document, kept until its next journal entry or a new upstream
    // generation, without a database read (`freshness`).
    let public = state.public_base();
    if let Some(g) = state.fresh.generation()
        && let Some(page) = state.fresh.page(&state.services.db, &key_at(g)).await
    {
        return Ok(local_document(state, &normalized, &page, public, headers));
    }
    let ticket = state.cache.ticket();
    // Advisory imports change `vulnerabilities` without a journal entry: the generation they
    // bump is part of the key and of the ETag.
    let (project, generation) = if state.services.settings.upstream.enabled() {
        // one read says where the name is served from (`core::gateway::fast`)
        let name = NormalizedName::new(&normalized).map_err(|_| ApiError::not_found())?;
        match state.services.page_target(&name).await? {
            PageTarget::Local(p, generation) => (p, generation),
            PageTarget::NotServed => return Err(ApiError::not_found()),
            PageTarget::Upstream(fresh) => {
                let resp = crate::gateway_pages::fresh_json_document(
                    state, &name, version, headers, fresh, peer,
                )
                .await?;
                return Ok(crate::simple::counted(state, &key_at(0), headers, resp));
            }
            PageTarget::Slow(known) => {
                let resp = crate::gateway_pages::json_document(
                    state,
                    &normalized,
                    version,
                    headers,
                    peer,
                    known.as_ref(),
                )
                .await?;
                return Ok(crate::simple::counted(state, &key_at(0), headers, resp));
            }
        }
    } else {
        let Some(project) = state.services.visible_project(&normalized).await? else {
            return Err(ApiError::not_found());
        };
        (project, state.services.db.upstream_generation().await?)
    };
    let key = key_at(generation);
    // Not servable unread (this process is behind on the journal): the row just read says
    // which serial is current, and a document kept at it is still the document.
    if let Some(page) = state.cache.get_held(&key, project.last_serial) {
        return Ok(local_document(state, &normalized, &page, public, headers));
    }
    let tag = format!("pypi-json-g{generation}");
    // PyPI's JSON API links are absolute. With a public URL they are fixed; without one the
    // cached document keeps slots that each response fills from its own Host, uncached.
    let body = state
        .services
        .json_document(
            &project,
            version,
            public.as_deref().unwrap_or(&state.base_marker),
        )
        .await?
        .ok_or_else(ApiError::not_found)?;
    let page = match &public {
        Some(_) => CachedPage::made(project.last_serial, &tag, body).await?,
        None => CachedPage::with_base_slots(project.last_serial, &tag, &body, &state.base_marker),
    };
    state.cache.put_fresh(key, page.clone(), ticket);
    Ok(local_document(state, &normalized, &page, public, headers))
}

/// A local project's JSON document as the answer, its links under this index's base.
fn local_document(
    state: &AppState,
    normalized: &str,
    page: &CachedPage,
    public: Option<String>,
    headers: &HeaderMap,
) -> Response {
    state
        .services
        .record_page_hit(normalized, crate::simple::user_agent(headers));
    let base = match public {
        Some(b) => b,
        None => state.base_url(headers),
    };
    let mut resp = page_response(page, &base, "application/json", page.serial, headers, false);
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("max-age=900, public"),
    );
    resp
}

/// `GET /pypi/<project>/json`
pub(crate) async fn project(
    State(state): State<AppState>,
    Path(name): Path<String>,
    peer: Option<crate::gateway_pages::Peer>,
    req: Request,
) -> Result<Response, ApiError> {
    // the request's own headers, not the copy a `HeaderMap` extractor makes
    let headers = req.headers();
    render(&state, &name, None, headers, peer).await
}

/// `GET /pypi/<project>/<version>/json`
pub(crate) async fn release(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    peer: Option<crate::gateway_pages::Peer>,
    req: Request,
) -> Result<Response, ApiError> {
    // the request's own headers, not the copy a `HeaderMap` extractor makes
    let headers = req.headers();
    render(&state, &name, Some(&version), headers, peer).await
}

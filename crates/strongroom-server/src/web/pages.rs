//! Public browsing: the home page, the project list, a project's page and a release's page, all
//! the public view (`core::visibility`) whoever is signed in.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;

use super::errors::WebError;
use super::{PageCx, read};
use crate::state::AppState;

/// Projects a page of the list and of search results.
const PAGE_SIZE: u32 = 50;

/// Full-text searches one server runs at once; a search waits at most `SEARCH_WAIT` for a slot.
/// Each holds a database connection for up to its statement time limit (`store::search`), so
/// a flood of searches can take at most this many of the pool's connections.
pub(crate) const SEARCHES_AT_ONCE: usize = 4;
const SEARCH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// What a search answers when every slot stayed busy (503, `Retry-After`).
const SEARCHES_BUSY: &str =
    "Too many searches are running on this index right now. Try again in a few seconds.";

/// What a search stopped at its database time limit answers (503, `Retry-After`).
const SEARCH_TOO_COSTLY: &str =
    "This search took too long and was stopped. Try again shortly, or with longer or fewer words.";

/// `GET /`
pub(crate) async fn home(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let cx = PageCx::load(&state, &headers).await?;
    let mut projects = state.services.simple_index_entries().await?;
    let base = state.base_url(&headers);
    let count = projects.len();
    // the most recently changed projects first (the journal serial orders every change)
    projects.sort_by_key(|p| std::cmp::Reverse(p.last_serial));
    let mut hits = Vec::new();
    for p in projects.iter().take(10) {
        if let Some(row) = state
            .services
            .db
            .project_by_normalized(p.normalized.as_str())
            .await?
        {
            hits.push(strongroom_store::search::ProjectHit {
                project_id: row.id,
                name: row.name,
                normalized_name: row.normalized_name,
            });
        }
    }
    let recent = read::project_cards(&state, &hits).await?;
    cx.render(
        "home.html",
        context! {
            project_count => count,
            recent => super::ser(&recent),
            base_url => base,
        },
    )
}

/// Query of the project list.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct ListQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    page: Option<u32>,
}

/// `GET /projects/`: every public project by name, or with `?q=` the full-text search over
/// names, summaries and descriptions (`store::search`); `PAGE_SIZE` a page.
pub(crate) async fn projects(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Result<Response, WebError> {
    use strongroom_store::search::{MAX_OFFSET, MAX_QUERY_CHARS, SearchQuery};
    let cx = PageCx::load(&state, &headers).await?;
    let q = query
        .q
        .unwrap_or_default()
        .trim()
        .chars()
        .take(MAX_QUERY_CHARS)
        .collect::<String>();
    let parsed = SearchQuery::parse(&q);
    let max_pages = MAX_OFFSET / PAGE_SIZE + 1;
    let page = query.page.unwrap_or(1).clamp(1, max_pages);
    // A search takes one of a few slots (the plain list by name is cheap and needs none).
    let slot = if parsed.is_empty() {
        None
    } else {
        match tokio::time::timeout(SEARCH_WAIT, state.search_slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Some(permit),
            _ => {
                return Err(strongroom_core::CoreError::Busy {
                    message: SEARCHES_BUSY.into(),
                    retry_after_secs: 5,
                }
                .into());
            }
        }
    };
    let found = state
        .services
        .db
        .search_projects(&parsed, (page - 1) * PAGE_SIZE, PAGE_SIZE)
        .await;
    drop(slot);
    let found = match found {
        Ok(found) => found,
        // the search ran past its database time (store::search): refused, not a failure
        Err(e) if e.is_statement_timeout() => {
            tracing::warn!(error = %e, "search stopped at its time limit; answered 503");
            return Err(strongroom_core::CoreError::Busy {
                message: SEARCH_TOO_COSTLY.into(),
                retry_after_secs: 5,
            }
            .into());
        }
        Err(e) => return Err(e.into()),
    };
    let total = u32::try_from(found.total).unwrap_or(u32::MAX);
    let pages = total.div_ceil(PAGE_SIZE).clamp(1, max_pages);
    let cards = read::project_cards(&state, &found.hits).await?;
    cx.render(
        "projects.html",
        context! {
            projects => super::ser(&cards),
            total => total,
            q => q,
            searched => !parsed.is_empty(),
            page => page,
            pages => pages,
        },
    )
}

async fn project_page(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
    version: Option<&str>,
) -> Result<Response, WebError> {
    if !strongroom_protocol::name::is_valid_project_name(name) {
        return Err(WebError::not_found());
    }
    let normalized = strongroom_protocol::name::normalize(name);
    if normalized != name {
        let target = match version {
            Some(v) => format!("/project/{normalized}/{v}/"),
            None => format!("/project/{normalized}/"),
        };
        if target
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/.+-_!".contains(&b))
        {
            return Ok(Redirect::permanent(&target).into_response());
        }
        return Err(WebError::not_found());
    }
    let cx = PageCx::load(state, headers).await?;
    let project = state
        .services
        .visible_project(&normalized)
        .await?
        .ok_or_else(WebError::not_found)?;
    let base = state.base_url(headers);
    let view = read::project_view(state, &project, version, &base)
        .await?
        .ok_or_else(WebError::not_found)?;
    cx.render("project.html", context! { p => super::ser(&view) })
}

/// `GET /project/<name>/`
pub(crate) async fn project(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, WebError> {
    project_page(&state, &headers, &name, None).await
}

/// `GET /project/<name>/<version>/`
pub(crate) async fn release(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, WebError> {
    if version.len() > 200 {
        return Err(WebError::not_found());
    }
    project_page(&state, &headers, &name, Some(&version)).await
}

/// Any path nobody answers: an HTML 404 for browsers.
pub(crate) async fn not_found() -> WebError {
    WebError::not_found()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use axum::http::{Request, StatusCode, header};
    use tower::ServiceExt;

    use super::SEARCHES_AT_ONCE;
    use crate::AppState;

    async fn get(state: &AppState, path: &str) -> (StatusCode, Option<String>) {
        let mut req = Request::get(path)
            .header(header::HOST, "localhost")
            .body(Body::empty())
            .expect("request");
        req.extensions_mut()
            .insert(ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 1))));
        let resp = crate::router(state.clone())
            .oneshot(req)
            .await
            .expect("answer");
        let retry = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (resp.status(), retry)
    }

    /// While every search slot is taken, a search waits, then is refused with 503 and
    /// `Retry-After` (it never queues without bound or takes another database connection);
    /// the plain list needs no slot; a freed slot serves the next search.
    #[tokio::test]
    async fn searches_beyond_the_slots_are_refused_not_queued() {
        let dir = tempfile::tempdir().expect("dir");
        let settings = strongroom_core::Settings {
            hibp_url: None,
            ..strongroom_core::Settings::default()
        };
        let services = strongroom_core::testing::services_in(
            dir.path(),
            settings,
            strongroom_store::Keyring::new(strongroom_store::SecretsKey::from_bytes([7; 32])),
        )
        .await;
        let state = AppState::new(services, dir.path().join("tmp"))
            .await
            .expect("state");
        let n = u32::try_from(SEARCHES_AT_ONCE).expect("few");
        let held = state
            .search_slots
            .clone()
            .acquire_many_owned(n)
            .await
            .expect("slots");
        let (status, retry) = get(&state, "/projects/?q=anything").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry.as_deref(), Some("5"));
        assert_eq!(get(&state, "/projects/").await.0, StatusCode::OK);
        drop(held);
        assert_eq!(get(&state, "/projects/?q=anything").await.0, StatusCode::OK);
    }
}

//! The server while `serve` is still opening its storage: it has bound its address and answers
//! at once, so a load balancer and an orchestrator see a live process (`/healthz` 200) that is
//! not ready (`/readyz` 503 with what it waits for), and every other route is 503 with a reason
//! and `Retry-After`. When the database answers, `serve` hands the full router to [`Starting::open`]
//! and every later request goes there: no restart, no second bind.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use strongroom_core::readiness::{Check, Failed, Readiness};
use tower::Service;

/// The switch from "starting" to the full application.
#[derive(Clone, Default)]
pub struct Starting {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    app: OnceLock<Router>,
    /// The front door's entrance for kept pages (`entry`), open with the application.
    front: OnceLock<crate::front::Front>,
    /// What the start waits for, as `/readyz` says it.
    waiting: Mutex<Option<Failed>>,
}

impl Starting {
    /// A server that is not open yet: it waits for the database.
    pub fn new() -> Starting {
        let s = Starting::default();
        s.waiting_for_database("not connected yet");
        s
    }

    /// Say (on `/readyz`) why the database is not open yet.
    pub fn waiting_for_database(&self, reason: &str) {
        if let Ok(mut w) = self.inner.waiting.lock() {
            *w = Some(Failed {
                check: Check::Database,
                reason: format!("not reachable yet: {reason}"),
            });
        }
    }

    /// Serve the application on `state` from now on: its router (`routes::router`), and
    /// kept pages at the front door (`entry`).
    pub fn open(&self, state: crate::AppState) {
        let front = crate::front::Front::new(state.clone());
        if self.inner.app.set(crate::routes::router(state)).is_err() {
            tracing::warn!("the server was opened twice; the first application stays");
            return;
        }
        let _ = self.inner.front.set(front);
    }

    /// The front door, once the application is open.
    pub(crate) fn front(&self) -> Option<&crate::front::Front> {
        self.inner.front.get()
    }

    /// The router to serve: the application once opened, the starting answers before.
    pub fn router(&self) -> Router {
        let inner = self.inner.clone();
        Router::new().fallback_service(tower::service_fn(move |req: Request| {
            let inner = inner.clone();
            async move { Ok::<Response, Infallible>(inner.answer(req).await) }
        }))
    }
}

impl Inner {
    async fn answer(&self, req: Request) -> Response {
        if let Some(app) = self.app.get() {
            let mut app = app.clone();
            return match app.call(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
        }
        match req.uri().path() {
            crate::host::HEALTH_PATH => crate::routes::healthz().await,
            crate::readiness::READY_PATH => {
                let waiting = self.waiting.lock().ok().and_then(|w| w.clone());
                crate::readiness::answer(&Readiness {
                    failed: waiting.into_iter().collect(),
                    notes: Vec::new(),
                })
            }
            _ => crate::error::not_open_yet().into_response(),
        }
    }
}

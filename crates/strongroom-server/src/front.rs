//! The front door: what every answer passes through, as one middleware rather than one per
//! concern (each `from_fn` layer costs a boxed future, a boxed copy of the inner service and a
//! clone of its state on every request, a third of a cached page's server time with eight of
//! them). In order, outermost first:
//! - the request line and the request id (`request_log`): every answer, refusals included;
//! - the metrics (`metrics`): every answer counted by route, method and status;
//! - the Host check (`host`): 400 for a malformed authority, 421 for a host not in the list;
//! - the minimum body rate (`body_rate`): 408 for a body that trickles;
//! - then the route, and on the way out the security headers (`headers`) and, while the
//!   server drains, `Connection: close` (`drain`).
//!
//! The web routes add their own answer layer (`web::answer`, in the route table).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::body_rate::MinBodyRate;
use crate::host::AllowedHosts;
use crate::state::AppState;

/// What the front door reads: the state, and the settings it applies, made once.
#[derive(Clone)]
pub(crate) struct Front(Arc<Door>);

struct Door {
    state: AppState,
    /// The hosts answered for (`None`: any; the list comes from `public_url` and
    /// `http.allowed_hosts`, and /healthz and /readyz answer any Host).
    allowed: Option<AllowedHosts>,
    rate: MinBodyRate,
}

impl Front {
    pub(crate) fn new(state: AppState) -> Front {
        let http = &state.services.settings.http;
        let allowed = (!http.allowed_hosts.is_empty())
            .then(|| AllowedHosts::from(http.allowed_hosts.clone()));
        let rate = MinBodyRate::of(http);
        Front(Arc::new(Door {
            state,
            allowed,
            rate,
        }))
    }

    /// A kept simple page for `req` from `peer`, answered as the router and this door would
    /// answer it (`simple::kept_target` says which requests qualify); `None` sends the
    /// request the whole way, through the router.
    pub(crate) fn kept_page<B>(
        &self,
        req: &axum::http::Request<B>,
        peer: std::net::IpAddr,
    ) -> Option<Response> {
        let door = &*self.0;
        let (key, fmt) = crate::simple::kept_target(req)?;
        // a refused Host is the router's to answer, with its reason
        if crate::host::refusal(req, door.allowed.as_ref()).is_some() {
            return None;
        }
        let page = crate::simple::kept_local_page(&door.state, key)?;
        let line = crate::request_log::Line::begin_from(&door.state, Some(peer), req);
        let started = line.started();
        let https = door.state.is_https(req.headers());
        let mut resp = line.in_scope(|| {
            crate::simple::local_page(&door.state, key.project, &page, fmt, req.headers())
        });
        secure_and_marked(door, https, &mut resp);
        let resp = door.state.http_metrics.front_door_answer(
            crate::simple::PROJECT_ROUTE,
            req.method(),
            started,
            resp,
        );
        Some(line.end(resp))
    }
}

/// The middleware (see the module's comment).
pub(crate) async fn front(State(front): State<Front>, req: Request, next: Next) -> Response {
    let door = &*front.0;
    let line = crate::request_log::Line::begin(&door.state, &req);
    let resp = line.scope(through(door, req, next)).await;
    line.end(resp)
}

async fn through(door: &Door, req: Request, next: Next) -> Response {
    let (track, req) = crate::metrics::Track::begin(&door.state, req);
    let https = door.state.is_https(req.headers());
    let resp = match crate::host::refusal(&req, door.allowed.as_ref()) {
        Some(refused) => refused,
        None => crate::body_rate::min_body_rate(door.rate, req, |req| next.run(req)).await,
    };
    way_out(door, https, resp, track)
}

/// What every answer gets on its way out: the security headers, `Connection: close` while
/// the server drains, and its count.
fn way_out(door: &Door, https: bool, mut resp: Response, track: crate::metrics::Track) -> Response {
    secure_and_marked(door, https, &mut resp);
    track.end(resp)
}

/// The security headers, and `Connection: close` while the server drains.
fn secure_and_marked(door: &Door, https: bool, resp: &mut Response) {
    crate::headers::secure(https, resp);
    crate::drain::mark(&door.state.drain, resp);
}

//! One log line per request (id, method, path, status, duration, client address, user agent,
//! and a refusal's reason), and the request id: generated here, or a trusted proxy's
//! `X-Request-Id`, echoed in every response, shown on error pages and recorded with events.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use strongroom_core::trusted_proxies::any_contains;

use crate::state::AppState;

/// The header carrying the request id, both ways.
pub(crate) const HEADER: axum::http::HeaderName =
    axum::http::HeaderName::from_static("x-request-id");

/// Longest request id accepted from a proxy (longer ones are replaced by a generated id).
const MAX_ID: usize = 128;
/// Longest path and user agent written to the log.
const MAX_PATH: usize = 512;
const MAX_AGENT: usize = 200;

tokio::task_local! {
    static REQUEST_ID: HeaderValue;
}

/// The id of the request this task is answering, if any (error pages, events).
pub(crate) fn current() -> Option<String> {
    REQUEST_ID
        .try_with(|id| id.to_str().ok().map(str::to_owned))
        .ok()
        .flatten()
}

/// Why a request was refused, as the client was told: attached to an error response so that
/// the request line carries the reason.
#[derive(Debug, Clone)]
pub(crate) struct Refusal(pub String);

/// A proxy's `X-Request-Id`, if it is one we can log and echo safely: 1 to `MAX_ID` characters
/// of `[A-Za-z0-9._:-]` (no spaces, quotes or control characters to forge log fields with).
fn proxy_id(value: Option<&HeaderValue>) -> Option<HeaderValue> {
    let value = value?;
    let v = value.to_str().ok()?.trim();
    let ok = !v.is_empty()
        && v.len() <= MAX_ID
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if !ok {
        return None;
    }
    if v.len() == value.len() {
        return Some(value.clone());
    }
    HeaderValue::from_str(v).ok()
}

/// A fresh id: 128 random bits, hex. Ids name requests and are no secret, so each thread
/// draws them from a small fast generator seeded once from the system's. Made once as the
/// header value it is echoed in (the log line and the error pages read it from there).
fn generate() -> HeaderValue {
    use rand::{RngExt, SeedableRng};
    thread_local! {
        static IDS: std::cell::RefCell<rand::rngs::SmallRng> =
            std::cell::RefCell::new(rand::rngs::SmallRng::from_rng(&mut rand::rng()));
    }
    let n: u128 = IDS.with(|r| r.borrow_mut().random());
    let mut hex = [0u8; 32];
    // 32 hex digits for 16 bytes: the buffer's size is exact
    let _ = hex::encode_to_slice(n.to_be_bytes(), &mut hex);
    HeaderValue::from_maybe_shared(bytes::Bytes::copy_from_slice(&hex))
        .unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// What the request line needs from the request, taken before the handler consumes it: the
/// id, and cheap handles (the address, the target, the agent's header value) from which the
/// line's text is made only when the line is written (a filtered-out line costs no formatting).
pub(crate) struct Line {
    start: Instant,
    id: HeaderValue,
    client: Option<std::net::IpAddr>,
    method: Method,
    uri: Uri,
    agent: Option<HeaderValue>,
}

impl Line {
    /// Begin the line of `req`: its id (a trusted proxy's, else a fresh one) and client.
    pub(crate) fn begin(state: &AppState, req: &Request) -> Line {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Line::begin_from(state, peer, req)
    }

    /// [`Line::begin`] for a request whose peer address is known apart from it (the kept
    /// pages' path, `kept_pages`, which answers before the router adds it).
    pub(crate) fn begin_from<B>(
        state: &AppState,
        peer: Option<std::net::IpAddr>,
        req: &axum::http::Request<B>,
    ) -> Line {
        let start = Instant::now();
        let (from_proxy, client) = state.services.settings.trusted_proxies.with(|trusted| {
            (
                peer.is_some_and(|p| any_contains(trusted, p)),
                crate::state::client_ip(req.headers(), peer, trusted),
            )
        });
        let id = from_proxy
            .then(|| proxy_id(req.headers().get(HEADER)))
            .flatten()
            .unwrap_or_else(generate);
        Line {
            start,
            id,
            client,
            method: req.method().clone(),
            uri: req.uri().clone(),
            agent: req.headers().get(axum::http::header::USER_AGENT).cloned(),
        }
    }

    /// When the request arrived (the line's duration runs from here; so does the metrics').
    pub(crate) fn started(&self) -> Instant {
        self.start
    }

    /// The request's id (the handler sees it through [`current`] inside [`Line::scope`]).
    pub(crate) fn scope<F: Future>(&self, fut: F) -> impl Future<Output = F::Output> {
        REQUEST_ID.scope(self.id.clone(), fut)
    }

    /// `f` with the request's id as [`current`] (an error answer made in it names the id).
    pub(crate) fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        REQUEST_ID.sync_scope(self.id.clone(), f)
    }

    /// Echo the id and write the line.
    pub(crate) fn end(self, mut resp: Response) -> Response {
        resp.headers_mut().insert(HEADER, self.id.clone());
        let status = resp.status();
        let reason = resp
            .extensions()
            .get::<Refusal>()
            .map(|r| r.0.as_str())
            .unwrap_or("");
        macro_rules! line {
            ($level:ident, $msg:literal) => {{
                if tracing::enabled!(target: "strongroom::request", tracing::Level::$level) {
                    self.write_at(
                        |id, method, path, status, duration_ms, client, agent| {
                            tracing::event!(
                                target: "strongroom::request",
                                tracing::Level::$level,
                                // Every field a client chooses is a string value: quoted and
                                // escaped in the text format (a user agent cannot forge
                                // ` status=200 client=...`), a plain JSON string in the JSON
                                // format.
                                request_id = id,
                                method,
                                path,
                                status,
                                duration_ms,
                                client,
                                user_agent = agent,
                                reason,
                                $msg
                            )
                        },
                        status.as_u16(),
                    );
                }
            }};
        }
        if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            line!(ERROR, "request failed");
        } else if is_refusal(status) {
            line!(WARN, "request refused");
        } else {
            line!(INFO, "request");
        }
        resp
    }

    /// Make the line's text (bounded: the path without its query, which may carry a token or
    /// a reset code, and the agent cut to their maximum lengths) and hand it to `write`.
    fn write_at(&self, write: impl FnOnce(&str, &str, &str, u16, u64, &str, &str), status: u16) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let path: String = self.uri.path().chars().take(MAX_PATH).collect();
        let client = self
            .client
            .map_or_else(|| "-".to_owned(), |ip| ip.to_string());
        let agent = self
            .agent
            .as_ref()
            .map(|v| crate::state::agent_text(v, MAX_AGENT))
            .unwrap_or_default();
        write(
            self.id.to_str().unwrap_or("-"),
            self.method.as_str(),
            &path,
            status,
            ms,
            &client,
            &agent,
        );
    }
}

/// Refusals an operator watches for: permission, limits, read-only or unavailable, wrong host,
/// too large, too slow. (A full disk's 507 is an error, like every other 5xx but 503.)
fn is_refusal(s: StatusCode) -> bool {
    matches!(
        s,
        StatusCode::UNAUTHORIZED
            | StatusCode::FORBIDDEN
            | StatusCode::TOO_MANY_REQUESTS
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::MISDIRECTED_REQUEST
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::REQUEST_TIMEOUT
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_bounded_id_is_taken_from_a_proxy() {
        let h = |s: &str| HeaderValue::from_str(s).ok();
        assert_eq!(proxy_id(h("abc-123_x.y:z").as_ref()), h("abc-123_x.y:z"));
        assert_eq!(proxy_id(h(" f00 ").as_ref()), h("f00"));
        for bad in [
            "",
            "a b",
            "a\"b",
            "id=1 status=200",
            &"a".repeat(MAX_ID + 1),
        ] {
            assert_eq!(proxy_id(h(bad).as_ref()), None, "{bad:?}");
        }
        assert_eq!(proxy_id(None), None);
        let g = generate();
        assert_eq!(g.len(), 32);
        assert!(g.as_bytes().iter().all(u8::is_ascii_hexdigit), "{g:?}");
        assert_ne!(g, generate());
    }

    #[tokio::test]
    async fn the_id_is_visible_inside_the_request_only() {
        assert_eq!(current(), None);
        let seen = REQUEST_ID
            .scope(HeaderValue::from_static("r1"), async { current() })
            .await;
        assert_eq!(seen.as_deref(), Some("r1"));
    }
}

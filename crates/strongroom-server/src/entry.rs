//! A connection's service: a kept simple page is answered at the front door without the
//! router (`front::Front::kept_page`); every other request goes through the router. A cached
//! page's answer was most of its server time in the router's machinery (two routers, the
//! extractors, a boxed future per layer): this entrance skips it and keeps what the front door
//! does (the request line and id, the metrics, the Host check, the security headers, the
//! drain's `Connection: close`).

use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};

use axum::http::Request;
use axum::response::Response;
use futures_util::future::{BoxFuture, Either, Ready, ready};
use hyper::body::Body as _;

use crate::connections::Tracked;
use crate::starting::Starting;

/// The service of one connection from `peer`.
#[derive(Clone)]
pub(crate) struct Entry<S> {
    pub(crate) starting: Starting,
    pub(crate) peer: IpAddr,
    pub(crate) inner: Tracked<S>,
}

impl<S> tower::Service<Request<hyper::body::Incoming>> for Entry<S>
where
    Tracked<S>: tower::Service<
            Request<hyper::body::Incoming>,
            Response = Response,
            Error = Infallible,
            Future = BoxFuture<'static, Result<Response, Infallible>>,
        >,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<
        Ready<Result<Response, Infallible>>,
        BoxFuture<'static, Result<Response, Infallible>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<hyper::body::Incoming>) -> Self::Future {
        // a request with a body (even a GET's) goes the whole way: the router reads or refuses it
        if req.body().is_end_stream()
            && let Some(front) = self.starting.front()
            && let Some(resp) = front.kept_page(&req, self.peer)
        {
            return Either::Left(ready(Ok(self.inner.answered(resp))));
        }
        Either::Right(self.inner.call(req))
    }
}

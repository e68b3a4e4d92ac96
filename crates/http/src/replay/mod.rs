//! Replayable request bodies: [`ReplayBody`], the layer that wraps requests in it, and
//! [`HttpReplay`], which makes the copies retry and fallback send.

use std::task::{Context, Poll};

use bulwark_policy::Replay;
use http_body::Body;
use tower_service::Service;

mod body;
mod error;
mod layer;
mod shared;
#[cfg(test)]
mod tests;

pub use body::{ReplayBody, DEFAULT_MAX_BYTES};
pub use error::NotReplayable;
pub use layer::ReplayBodyLayer;

/// Replays `http::Request<ReplayBody<B>>`s: the method, URI, version, headers and extensions
/// are cloned, and the body is a [`ReplayBody::replay`] copy. A body that cannot be replayed
/// makes the request unreplayable, so retry and fallback send it once and report it.
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use bulwark_policy::Replay;
/// use bulwark_http::{HttpReplay, ReplayBody};
///
/// let req = http::Request::put("/doc/7")
///     .header("idempotency-key", "k1")
///     .body(Full::new(Bytes::from_static(b"v2")))
///     .unwrap();
/// let req = ReplayBody::wrap_request(req, 1024);
/// let copy = HttpReplay.replay(&req).unwrap();
/// assert_eq!(copy.method(), http::Method::PUT);
/// assert_eq!(copy.headers()["idempotency-key"], "k1");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpReplay;

impl<B> Replay<http::Request<ReplayBody<B>>> for HttpReplay {
    fn replay(&self, req: &http::Request<ReplayBody<B>>) -> Option<http::Request<ReplayBody<B>>> {
        let body = req.body().replay()?;
        let mut copy = http::Request::new(body);
        *copy.method_mut() = req.method().clone();
        *copy.uri_mut() = req.uri().clone();
        *copy.version_mut() = req.version();
        *copy.headers_mut() = req.headers().clone();
        *copy.extensions_mut() = req.extensions().clone();
        Some(copy)
    }
}

/// Wraps each request's body in a [`ReplayBody`]; made by [`ReplayBodyLayer`].
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use tower::{service_fn, ServiceExt};
/// use bulwark_http::{ReplayBody, ReplayBodyService};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let inner = service_fn(|req: http::Request<ReplayBody<Full<Bytes>>>| async move {
///     Ok::<_, std::convert::Infallible>(req.body().max_bytes())
/// });
/// let svc = ReplayBodyService::new(inner, 10);
/// assert_eq!(svc.oneshot(http::Request::new(Full::new(Bytes::new()))).await.unwrap(), 10);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ReplayBodyService<S> {
    inner: S,
    max_bytes: usize,
}

impl<S> ReplayBodyService<S> {
    /// Wraps `inner`, keeping up to `max_bytes` of each body.
    ///
    /// ```
    /// let svc = bulwark_http::ReplayBodyService::new((), 1024);
    /// assert_eq!(svc.get_ref(), &());
    /// ```
    pub const fn new(inner: S, max_bytes: usize) -> Self {
        Self { inner, max_bytes }
    }

    /// The inner service.
    ///
    /// ```
    /// assert_eq!(bulwark_http::ReplayBodyService::new(5, 1).get_ref(), &5);
    /// ```
    pub const fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// let mut svc = bulwark_http::ReplayBodyService::new(5, 1);
    /// *svc.get_mut() += 1;
    /// assert_eq!(svc.into_inner(), 6);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    ///
    /// ```
    /// assert_eq!(bulwark_http::ReplayBodyService::new(5, 1).into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<http::Request<B>> for ReplayBodyService<S>
where
    S: Service<http::Request<ReplayBody<B>>>,
    B: Body,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        self.inner
            .call(ReplayBody::wrap_request(req, self.max_bytes))
    }
}

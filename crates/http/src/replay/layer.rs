//! `ReplayBodyLayer`: wraps every request's body in a `ReplayBody`.

use tower_layer::Layer;

use super::body::DEFAULT_MAX_BYTES;
use super::ReplayBodyService;

/// Wraps the body of every request in a [`ReplayBody`](crate::ReplayBody), so that a retry or
/// fallback layer inside it can replay requests with [`HttpReplay`](crate::HttpReplay).
///
/// Put it outside the layers that replay. A request whose `Content-Length` or size hint is
/// over the cap is marked unreplayable at once; others are kept while they stream.
///
/// Clients generic over the body (hyper-util's `Client`, tonic's `Channel` through
/// `tonic::body::Body::new`) take `ReplayBody` as it is. A service that wants one body type,
/// such as an axum `Router`, gets it back inside the replaying layers with
/// `req.map(axum::body::Body::new)`.
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
/// use bulwark_http::{ReplayBody, ReplayBodyLayer};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let svc = ServiceBuilder::new()
///     .layer(ReplayBodyLayer::new().max_bytes(16 * 1024))
///     .service(service_fn(|req: http::Request<ReplayBody<Full<Bytes>>>| async move {
///         Ok::<_, std::convert::Infallible>(req.body().is_replayable())
///     }));
/// let req = http::Request::new(Full::new(Bytes::from_static(b"hi")));
/// assert!(svc.oneshot(req).await.unwrap());
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ReplayBodyLayer {
    max_bytes: usize,
}

impl ReplayBodyLayer {
    /// Keeps up to 64 KiB of each body.
    ///
    /// ```
    /// let layer = bulwark_http::ReplayBodyLayer::new();
    /// # let _ = layer;
    /// ```
    pub const fn new() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }

    /// Keeps up to `max_bytes` of each body. Zero is allowed: only empty bodies are replayed.
    ///
    /// ```
    /// let layer = bulwark_http::ReplayBodyLayer::new().max_bytes(1024 * 1024);
    /// # let _ = layer;
    /// ```
    pub const fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }
}

impl Default for ReplayBodyLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for ReplayBodyLayer {
    type Service = ReplayBodyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ReplayBodyService::new(inner, self.max_bytes)
    }
}

//! Response mode for servers: errors become HTTP responses.
//!
//! [`ErrorResponseLayer`] wraps a service whose errors are bulwark's (a breaker's rejection, a
//! timeout, a balancer with no endpoint) or anything else, and answers every error with a
//! status instead (or, for gRPC servers, with a `grpc-status`). The service it makes never
//! fails, which is what axum asks of a `Router`'s layers.

use std::convert::Infallible;
use std::fmt;
use std::task::{Context, Poll};

use bulwark_policy::BoxError;
use tower_service::Service;

mod future;
mod layer;

pub use future::ResponseFuture;
pub use layer::{ErrorResponseBuilder, ErrorResponseLayer};

/// A service whose errors are answered with HTTP responses; made by [`ErrorResponseLayer`].
///
/// If the inner service fails `poll_ready`, this one is still ready: the next call is
/// answered with that error's response, and readiness is asked of the inner service again
/// afterwards. A clone starts with no such error, as an unready clone should.
///
/// ```
/// use http_body_util::Empty;
/// use tower::{service_fn, ServiceExt};
/// use bulwark_policy::{BoxError, NoEndpoint};
/// use bulwark_http::{ErrorResponse, ErrorResponseLayer};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let inner = service_fn(|_: ()| async {
///     Err::<http::Response<Empty<bytes::Bytes>>, BoxError>(NoEndpoint::new().into())
/// });
/// let svc = ErrorResponse::new(inner, ErrorResponseLayer::new());
/// assert_eq!(svc.oneshot(()).await.unwrap().status(), 503);
/// # }
/// ```
pub struct ErrorResponse<S> {
    inner: S,
    layer: ErrorResponseLayer,
    /// The error of a failed `poll_ready`, answered at the next call.
    unready: Option<BoxError>,
}

impl<S> ErrorResponse<S> {
    /// Wraps `inner`, answering with `layer`'s statuses.
    ///
    /// ```
    /// use bulwark_http::{ErrorResponse, ErrorResponseLayer};
    /// let svc = ErrorResponse::new((), ErrorResponseLayer::new());
    /// assert_eq!(svc.get_ref(), &());
    /// ```
    pub const fn new(inner: S, layer: ErrorResponseLayer) -> Self {
        Self {
            inner,
            layer,
            unready: None,
        }
    }

    /// The inner service.
    ///
    /// ```
    /// use bulwark_http::{ErrorResponse, ErrorResponseLayer};
    /// assert_eq!(ErrorResponse::new(1, ErrorResponseLayer::new()).get_ref(), &1);
    /// ```
    pub const fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// use bulwark_http::{ErrorResponse, ErrorResponseLayer};
    /// let mut svc = ErrorResponse::new(1, ErrorResponseLayer::new());
    /// *svc.get_mut() = 2;
    /// assert_eq!(svc.get_ref(), &2);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    ///
    /// ```
    /// use bulwark_http::{ErrorResponse, ErrorResponseLayer};
    /// assert_eq!(ErrorResponse::new(1, ErrorResponseLayer::new()).into_inner(), 1);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone> Clone for ErrorResponse<S> {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone(), self.layer)
    }
}

impl<S: fmt::Debug> fmt::Debug for ErrorResponse<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorResponse")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .field("unready", &self.unready)
            .finish()
    }
}

impl<S, Req, B> Service<Req> for ErrorResponse<S>
where
    S: Service<Req, Response = http::Response<B>>,
    S::Error: Into<BoxError>,
    B: Default,
{
    type Response = http::Response<B>;
    type Error = Infallible;
    type Future = ResponseFuture<S::Future, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if self.unready.is_some() {
            return Poll::Ready(Ok(()));
        }
        if let Err(err) = std::task::ready!(self.inner.poll_ready(cx)) {
            self.unready = Some(err.into());
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.unready.take() {
            Some(err) => ResponseFuture::ready(self.layer.response_for(&err), self.layer),
            None => ResponseFuture::calling(self.inner.call(req), self.layer),
        }
    }
}

#[cfg(test)]
mod tests;

//! The service: hands each request to a [`ResponseFuture`] with its own ready clone.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bulwark_policy::{
    Classify, CloneReplay, DeadlineAccess, ErrorsAsFailures, ExtensionsDeadline, Replay,
};
use tower_service::Service;

use crate::layer::Shared;
use crate::{AnyRequest, ResponseFuture, RetryPredicate};

/// A service that retries the failed calls of `S`; made by a [`RetryLayer`](crate::RetryLayer).
///
/// Its readiness is the inner service's, and its error is the inner service's error: when the
/// attempts run out, the last real result comes back, never an error of its own.
///
/// ```
/// use bulwark_policy::IgnoreDeadline;
/// use bulwark_retry::RetryLayer;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = RetryLayer::builder().deadline(IgnoreDeadline).build().unwrap();
/// let svc = layer.layer(service_fn(|s: &'static str| async move { Ok::<_, std::io::Error>(s.len()) }));
/// assert_eq!(svc.get_ref().clone().oneshot("abc").await.unwrap(), 3);
/// assert_eq!(svc.oneshot("abcd").await.unwrap(), 4);
/// # }
/// ```
pub struct Retry<S, C = ErrorsAsFailures, D = ExtensionsDeadline, R = CloneReplay, P = AnyRequest> {
    inner: S,
    shared: Arc<Shared<C, D, R, P>>,
}

impl<S, C, D, R, P> Retry<S, C, D, R, P> {
    pub(crate) fn from_shared(inner: S, shared: Arc<Shared<C, D, R, P>>) -> Self {
        Self { inner, shared }
    }

    /// The inner service.
    ///
    /// ```
    /// use tower::{service_fn, Layer};
    /// let svc = bulwark_retry::RetryLayer::default().layer(7u8);
    /// assert_eq!(*svc.get_ref(), 7);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// use tower::Layer;
    /// let mut svc = bulwark_retry::RetryLayer::default().layer(7u8);
    /// *svc.get_mut() += 1;
    /// assert_eq!(*svc.get_ref(), 8);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    ///
    /// ```
    /// use tower::Layer;
    /// assert_eq!(bulwark_retry::RetryLayer::default().layer(7u8).into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, C, D, R, P> Clone for Retry<S, C, D, R, P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S, Req, C, D, R, P> Service<Req> for Retry<S, C, D, R, P>
where
    S: Service<Req> + Clone,
    C: Classify<S::Response, S::Error>,
    D: DeadlineAccess<Req>,
    R: Replay<Req>,
    P: RetryPredicate<Req>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, Req, C, D, R, P>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        // The ready service goes with the request, and retries use it again; this service
        // keeps a fresh clone, which must be polled ready before the next call.
        let clone = self.inner.clone();
        let service = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::new(service, self.shared.clone(), req)
    }
}

impl<S: fmt::Debug, C, D, R, P> fmt::Debug for Retry<S, C, D, R, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("inner", &self.inner)
            .field("shared", &self.shared)
            .finish()
    }
}

//! The fallback service.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bulwark_policy::{Classify, Event, EventKind, SharedHook};
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::{Strategy, When};

/// What every clone of a service and every response future share: set once by the layer.
pub(crate) struct Shared<F, C, W> {
    pub(crate) strategy: F,
    pub(crate) classify: C,
    pub(crate) when: W,
    pub(crate) name: Cow<'static, str>,
    pub(crate) hook: SharedHook,
}

/// A service that answers with a fallback when its inner service fails; built by
/// [`FallbackLayer`](crate::FallbackLayer).
///
/// Its readiness is the inner service's, errors included: a backup service is never polled
/// for readiness here, only by the response future that needs it.
///
/// ```
/// use bulwark_fallback::FallbackLayer;
/// use bulwark_policy::BoxError;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let svc = FallbackLayer::value("stale but served")
///     .layer(service_fn(|_: ()| async { Err::<&str, BoxError>("connection refused".into()) }));
/// assert_eq!(svc.oneshot(()).await.unwrap(), "stale but served");
/// # }
/// ```
pub struct Fallback<S, F, C, W> {
    inner: S,
    shared: Arc<Shared<F, C, W>>,
}

impl<S, F, C, W> Fallback<S, F, C, W> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<F, C, W>>) -> Self {
        Self { inner, shared }
    }

    /// The inner service.
    ///
    /// ```
    /// use bulwark_fallback::FallbackLayer;
    /// use tower::Layer;
    ///
    /// let svc = FallbackLayer::value(0u8).layer("inner");
    /// assert_eq!(*svc.get_ref(), "inner");
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// use bulwark_fallback::FallbackLayer;
    /// use tower::Layer;
    ///
    /// let mut svc = FallbackLayer::value(0u8).layer(1u32);
    /// *svc.get_mut() += 1;
    /// assert_eq!(*svc.get_ref(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    ///
    /// ```
    /// use bulwark_fallback::FallbackLayer;
    /// use tower::Layer;
    ///
    /// assert_eq!(FallbackLayer::value(0u8).layer("inner").into_inner(), "inner");
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, F, C, W> Clone for Fallback<S, F, C, W> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: fmt::Debug, F: fmt::Debug, C, W> fmt::Debug for Fallback<S, F, C, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fallback")
            .field("inner", &self.inner)
            .field("strategy", &self.shared.strategy)
            .field("name", &self.shared.name)
            .finish_non_exhaustive()
    }
}

impl<S, F, C, W, Req> Service<Req> for Fallback<S, F, C, W>
where
    S: Service<Req>,
    F: Strategy<Req, S::Response, S::Error>,
    C: Classify<S::Response, S::Error>,
    W: When<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = F::Error;
    type Future = ResponseFuture<Req, S, F, C, W>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(F::pass)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let shared = &self.shared;
        let (req, kept) = shared.strategy.keep(req);
        if kept.is_none() {
            shared
                .hook
                .emit(|| Event::new(&shared.name, EventKind::NotReplayable));
        }
        ResponseFuture::new(self.inner.call(req), kept, shared.clone())
    }
}

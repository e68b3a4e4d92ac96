//! [`Chaos`], the service a [`ChaosLayer`](crate::ChaosLayer) wraps around another.

use std::fmt;
use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use crate::future::{Next, ResponseFuture};
use crate::layer::Shared;
use crate::ChaosHandle;

/// Calls the inner service, or injects a fault in its place. Made by a
/// [`ChaosLayer`](crate::ChaosLayer).
///
/// Each call's fate is decided when it is made: an outage answers at once without calling the
/// inner service; otherwise a delay may come first, then an injected error, an injected
/// response, or the real call.
///
/// The inner service must be `Clone` so that a delayed call can take it, ready, into the
/// response future and call it when the delay ends — never before — while this service polls
/// a fresh clone for the next call.
///
/// ```
/// use bulwark_chaos::{Chaos, ChaosLayer, Injected};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = ChaosLayer::builder().error_rate(1.0).build().unwrap();
/// let svc: Chaos<_, u32> = layer.layer(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n) }));
/// let err = svc.oneshot(1).await.unwrap_err();
/// assert!(err.is::<Injected>());
/// # }
/// ```
pub struct Chaos<S, Res, E = bulwark_policy::BoxError> {
    inner: S,
    shared: Arc<Shared<Res, E>>,
}

impl<S, Res, E> Chaos<S, Res, E> {
    pub(crate) fn from_parts(inner: S, shared: Arc<Shared<Res, E>>) -> Self {
        Self { inner, shared }
    }

    /// The handle of the instance this service belongs to.
    ///
    /// ```
    /// use bulwark_chaos::ChaosLayer;
    /// use tower::Layer;
    ///
    /// let layer = ChaosLayer::<()>::builder().build().unwrap();
    /// let svc = layer.layer(());
    /// svc.handle().disable();
    /// assert!(!layer.handle().is_enabled());
    /// ```
    pub fn handle(&self) -> ChaosHandle {
        ChaosHandle::new(self.shared.controls.clone())
    }

    /// The inner service.
    ///
    /// ```
    /// use tower::Layer;
    /// let svc = bulwark_chaos::ChaosLayer::<()>::builder().build().unwrap().layer(7);
    /// assert_eq!(*svc.get_ref(), 7);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// use tower::Layer;
    /// let mut svc = bulwark_chaos::ChaosLayer::<()>::builder().build().unwrap().layer(7);
    /// *svc.get_mut() += 1;
    /// assert_eq!(*svc.get_ref(), 8);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    ///
    /// ```
    /// use tower::Layer;
    /// let svc = bulwark_chaos::ChaosLayer::<()>::builder().build().unwrap().layer(7);
    /// assert_eq!(svc.into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req, Res, E> Service<Req> for Chaos<S, Res, E>
where
    S: Service<Req, Response = Res> + Clone,
    S::Error: Into<E>,
{
    type Response = Res;
    type Error = E;
    type Future = ResponseFuture<S, Req, E>;

    /// Forwards to the inner service: chaos never changes the back-pressure a caller sees,
    /// and never fails readiness itself.
    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let plan = self.shared.controls.plan();
        match (self.shared.answer(plan.action), plan.delay.is_zero()) {
            (None, true) => ResponseFuture::calling(self.inner.call(request)),
            (None, false) => {
                // The ready service goes with the request, to be called when the delay ends.
                let fresh = self.inner.clone();
                let service = mem::replace(&mut self.inner, fresh);
                ResponseFuture::delayed(plan.delay, Next::Call { service, request })
            }
            // An injected answer leaves the inner service ready, its readiness unused, for the
            // next call.
            (Some(answer), true) => ResponseFuture::injected(answer),
            (Some(answer), false) => ResponseFuture::delayed(plan.delay, Next::Answer(answer)),
        }
    }
}

impl<S: Clone, Res, E> Clone for Chaos<S, Res, E> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: fmt::Debug, Res, E> fmt::Debug for Chaos<S, Res, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chaos")
            .field("inner", &self.inner)
            .field("controls", &self.shared.controls)
            .finish_non_exhaustive()
    }
}

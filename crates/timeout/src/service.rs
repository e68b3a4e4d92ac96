//! [`Timeout`], the service a [`TimeoutLayer`] wraps around another.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bulwark_policy::{Deadline, DeadlineAccess, ExtensionsDeadline};
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

use crate::error::BoxError;
use crate::future::ResponseFuture;
use crate::layer::Report;
use crate::TimeoutLayer;

/// Fails a call of the inner service with [`Elapsed`](crate::Elapsed) once its timeout, or the
/// request's deadline if earlier, has passed. Made by a [`TimeoutLayer`].
///
/// ```
/// use std::time::Duration;
/// use bulwark_timeout::{Elapsed, Timeout};
/// use tower::{service_fn, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let slow = service_fn(|_req: http::Request<()>| async {
///     tokio::time::sleep(Duration::from_secs(10)).await;
///     Ok::<_, std::io::Error>(())
/// });
/// let svc = Timeout::new(slow, Duration::from_secs(1));
/// let err = svc.oneshot(http::Request::new(())).await.unwrap_err();
/// assert!(err.is::<Elapsed>());
/// # }
/// ```
#[derive(Clone)]
pub struct Timeout<S, A = ExtensionsDeadline> {
    inner: S,
    timeout: Duration,
    access: A,
    report: Arc<Report>,
}

impl<S> Timeout<S> {
    /// Wraps `inner` with `timeout`, as [`TimeoutLayer::new`] would, for `http::Request`s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_timeout::Timeout;
    ///
    /// let svc = Timeout::new((), Duration::from_secs(1));
    /// assert_eq!(svc.timeout(), Duration::from_secs(1));
    /// ```
    pub fn new(inner: S, timeout: Duration) -> Self {
        TimeoutLayer::new(timeout).layer(inner)
    }
}

impl<S, A> Timeout<S, A> {
    pub(crate) fn from_parts(inner: S, timeout: Duration, access: A, report: Arc<Report>) -> Self {
        Self {
            inner,
            timeout,
            access,
            report,
        }
    }

    /// The service's own timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let svc = bulwark_timeout::Timeout::new((), Duration::from_secs(2));
    /// assert_eq!(svc.timeout(), Duration::from_secs(2));
    /// ```
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The inner service.
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(*bulwark_timeout::Timeout::new(7, Duration::from_secs(1)).get_ref(), 7);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut svc = bulwark_timeout::Timeout::new(7, Duration::from_secs(1));
    /// *svc.get_mut() += 1;
    /// assert_eq!(*svc.get_ref(), 8);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(bulwark_timeout::Timeout::new(7, Duration::from_secs(1)).into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, A, Req> Service<Req> for Timeout<S, A>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    A: DeadlineAccess<Req>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, mut req: Req) -> Self::Future {
        let report = self.report.hook.is_set().then(|| self.report.clone());
        let timeout = self.access.timeout_override(&req).unwrap_or(self.timeout);
        let carried = self.access.get(&req);

        // With nowhere to carry a deadline there is nothing to check or propagate in `call`, so
        // the clock is first read, and the timeout starts, when the answer is not ready at once.
        if carried.is_none() && !self.access.carries_deadline() {
            if timeout.is_zero() {
                return ResponseFuture::expired(report);
            }
            return ResponseFuture::relative(self.inner.call(req), timeout, report);
        }

        let now = Instant::now();
        let own = Deadline::from_now(now, timeout);
        let deadline = carried.map_or(own, |carried| carried.min(own));
        // The deadline instant itself counts as passed, as `Deadline::is_expired` says.
        if deadline.instant() <= now {
            return ResponseFuture::expired(report);
        }
        // An equal or earlier deadline is already on the request; writing it again could allocate.
        if carried != Some(deadline) {
            self.access.set(&mut req, deadline);
        }
        ResponseFuture::absolute(self.inner.call(req), deadline.instant(), now, report)
    }
}

impl<S: fmt::Debug, A: fmt::Debug> fmt::Debug for Timeout<S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("inner", &self.inner)
            .field("timeout", &self.timeout)
            .field("access", &self.access)
            .field("report", &self.report)
            .finish()
    }
}

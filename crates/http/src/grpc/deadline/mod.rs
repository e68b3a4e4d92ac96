//! `grpc-timeout` and [`Deadline`]: reading it on servers, writing it on clients.
//!
//! Neither layer needs tonic: both work on plain `http::Request`s, which is what tonic's
//! servers and channels pass through their tower layers.

use std::task::{Context, Poll};
use std::time::Duration;

use bulwark_policy::Deadline;
use tower_service::Service;

use super::timeout::{format_grpc_timeout, parse_grpc_timeout, GRPC_TIMEOUT};

mod layer;

pub use layer::{ReadGrpcTimeoutLayer, WriteGrpcTimeoutLayer};

/// Reads `grpc-timeout` into a [`Deadline`]; made by [`ReadGrpcTimeoutLayer`].
///
/// ```
/// use std::time::Duration;
/// use tower::{service_fn, ServiceExt};
/// use bulwark_http::{Deadline, ReadGrpcTimeout};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let inner = service_fn(|req: http::Request<()>| async move {
///     Ok::<_, std::convert::Infallible>(req.extensions().get::<Deadline>().is_some())
/// });
/// let svc = ReadGrpcTimeout::new(inner, Duration::from_secs(5));
/// let req = http::Request::builder().header("grpc-timeout", "soon").body(()).unwrap();
/// assert!(!svc.oneshot(req).await.unwrap()); // malformed: ignored
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ReadGrpcTimeout<S> {
    inner: S,
    max: Duration,
}

impl<S> ReadGrpcTimeout<S> {
    /// Wraps `inner`, capping timeouts at `max`. A zero `max` expires every request that
    /// carries a `grpc-timeout`; [`ReadGrpcTimeoutLayer::new`] refuses it.
    ///
    /// ```
    /// let svc = bulwark_http::ReadGrpcTimeout::new((), std::time::Duration::from_secs(1));
    /// assert_eq!(svc.get_ref(), &());
    /// ```
    pub const fn new(inner: S, max: Duration) -> Self {
        Self { inner, max }
    }

    /// The inner service.
    ///
    /// ```
    /// let svc = bulwark_http::ReadGrpcTimeout::new(3, std::time::Duration::from_secs(1));
    /// assert_eq!(svc.get_ref(), &3);
    /// ```
    pub const fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// let mut svc = bulwark_http::ReadGrpcTimeout::new(3, std::time::Duration::from_secs(1));
    /// *svc.get_mut() = 4;
    /// assert_eq!(svc.get_ref(), &4);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    ///
    /// ```
    /// let svc = bulwark_http::ReadGrpcTimeout::new(3, std::time::Duration::from_secs(1));
    /// assert_eq!(svc.into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<http::Request<B>> for ReadGrpcTimeout<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let timeout = req.headers().get(GRPC_TIMEOUT).and_then(parse_grpc_timeout);
        if let Some(timeout) = timeout {
            let mut deadline = Deadline::after(timeout.min(self.max));
            if let Some(earlier) = req.extensions().get::<Deadline>() {
                deadline = deadline.min(*earlier);
            }
            req.extensions_mut().insert(deadline);
        }
        self.inner.call(req)
    }
}

/// Writes the remaining [`Deadline`] into `grpc-timeout`; made by [`WriteGrpcTimeoutLayer`].
///
/// ```
/// use std::time::Duration;
/// use tower::{service_fn, ServiceExt};
/// use bulwark_http::WriteGrpcTimeout;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let inner = service_fn(|req: http::Request<()>| async move {
///     Ok::<_, std::convert::Infallible>(req.headers().contains_key("grpc-timeout"))
/// });
/// // No deadline, no header.
/// assert!(!WriteGrpcTimeout::new(inner).oneshot(http::Request::new(())).await.unwrap());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct WriteGrpcTimeout<S> {
    inner: S,
}

impl<S> WriteGrpcTimeout<S> {
    /// Wraps `inner`.
    ///
    /// ```
    /// assert_eq!(bulwark_http::WriteGrpcTimeout::new(()).get_ref(), &());
    /// ```
    pub const fn new(inner: S) -> Self {
        Self { inner }
    }

    /// The inner service.
    ///
    /// ```
    /// assert_eq!(bulwark_http::WriteGrpcTimeout::new(3).get_ref(), &3);
    /// ```
    pub const fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// let mut svc = bulwark_http::WriteGrpcTimeout::new(3);
    /// *svc.get_mut() = 4;
    /// assert_eq!(svc.into_inner(), 4);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    ///
    /// ```
    /// assert_eq!(bulwark_http::WriteGrpcTimeout::new(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<http::Request<B>> for WriteGrpcTimeout<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        if let Some(deadline) = req.extensions().get::<Deadline>() {
            let remaining = deadline.remaining();
            let shorter_already = req
                .headers()
                .get(GRPC_TIMEOUT)
                .and_then(parse_grpc_timeout)
                .is_some_and(|own| own <= remaining);
            if !shorter_already {
                req.headers_mut()
                    .insert(GRPC_TIMEOUT, format_grpc_timeout(remaining));
            }
        }
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::{service_fn, ServiceExt};

    use super::*;

    fn seen_deadline(
        max: Duration,
    ) -> impl Service<http::Request<()>, Response = Option<Duration>, Error = Infallible> {
        ReadGrpcTimeout::new(
            service_fn(|req: http::Request<()>| async move {
                Ok(req.extensions().get::<Deadline>().map(Deadline::remaining))
            }),
            max,
        )
    }

    fn with(header: Option<&str>, deadline: Option<Duration>) -> http::Request<()> {
        let mut req = http::Request::new(());
        if let Some(value) = header {
            req.headers_mut()
                .insert(GRPC_TIMEOUT, value.parse().unwrap());
        }
        if let Some(d) = deadline {
            req.extensions_mut().insert(Deadline::after(d));
        }
        req
    }

    #[tokio::test(start_paused = true)]
    async fn servers_read_cap_and_ignore() {
        let max = Duration::from_secs(10);
        let read = |h, d| seen_deadline(max).oneshot(with(h, d));
        assert_eq!(
            read(Some("3S"), None).await.unwrap(),
            Some(Duration::from_secs(3))
        );
        assert_eq!(read(Some("11S"), None).await.unwrap(), Some(max));
        assert_eq!(read(Some("0n"), None).await.unwrap(), Some(Duration::ZERO));
        assert_eq!(read(Some("3s"), None).await.unwrap(), None);
        assert_eq!(read(None, None).await.unwrap(), None);
        // An earlier deadline on the request wins; a later one is replaced.
        let earlier = Some(Duration::from_secs(1));
        assert_eq!(read(Some("3S"), earlier).await.unwrap(), earlier);
        let later = Some(Duration::from_secs(5));
        assert_eq!(
            read(Some("3S"), later).await.unwrap(),
            Some(Duration::from_secs(3))
        );
        assert_eq!(read(Some("junk"), later).await.unwrap(), later);
    }

    #[tokio::test(start_paused = true)]
    async fn clients_write_what_remains() {
        let svc = WriteGrpcTimeout::new(service_fn(|req: http::Request<()>| async move {
            Ok::<_, Infallible>(req.headers().get(GRPC_TIMEOUT).cloned())
        }));
        let mut req = with(None, Some(Duration::from_secs(2)));
        tokio::time::advance(Duration::from_millis(500)).await;
        let written = svc.clone().oneshot(req).await.unwrap().unwrap();
        assert_eq!(written, "1500000u");

        // The request's own shorter timeout is kept; a longer one is lowered.
        req = with(Some("100m"), Some(Duration::from_secs(2)));
        assert_eq!(svc.clone().oneshot(req).await.unwrap().unwrap(), "100m");
        req = with(Some("10S"), Some(Duration::from_secs(2)));
        assert_eq!(svc.clone().oneshot(req).await.unwrap().unwrap(), "2000000u");
        // An expired deadline is still a valid header.
        req = with(None, Some(Duration::from_secs(1)));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(svc.clone().oneshot(req).await.unwrap().unwrap(), "1n");
        assert_eq!(svc.oneshot(with(None, None)).await.unwrap(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_survives_the_hop() {
        let server = ReadGrpcTimeout::new(
            service_fn(|req: http::Request<()>| async move {
                Ok::<_, Infallible>(req.extensions().get::<Deadline>().copied())
            }),
            Duration::from_secs(60),
        );
        // The client's request goes out as the server's request: headers only, no extensions.
        let client = WriteGrpcTimeout::new(service_fn(move |req: http::Request<()>| {
            let (parts, body) = req.into_parts();
            let mut wire = http::Request::new(body);
            *wire.headers_mut() = parts.headers;
            server.clone().oneshot(wire)
        }));
        let deadline = Deadline::after(Duration::from_millis(1234));
        let mut req = http::Request::new(());
        req.extensions_mut().insert(deadline);
        assert_eq!(client.oneshot(req).await.unwrap(), Some(deadline));
    }
}

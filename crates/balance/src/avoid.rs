//! Sending a retry somewhere else.
//!
//! A retry layer keeps the original request and sends copies of it, so the balancer cannot
//! mark the original. What it can do is write into a cell that every copy shares: a
//! [`LastEndpoint`] is an `Arc`, and cloning a request (or its `http::Extensions`) clones the
//! `Arc`, not the cell. Put one on the request *outside* the retry layer
//! ([`LastEndpointLayer`] does it for `http::Request`s); the balancer records in it which
//! endpoint each attempt went to, and sends the next attempt elsewhere when another endpoint
//! is ready at once.
//!
//! The balancer finds the cell through a [`LastEndpointAccess`]: [`ExtensionsLastEndpoint`]
//! for `http::Request`s, [`NoLastEndpoint`] (the default) for requests that carry none. A
//! protocol with its own request type implements the trait in three lines.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

/// The endpoint the last attempt of a request went to, shared by every copy of the request.
///
/// ```
/// use bulwark_balance::LastEndpoint;
///
/// let cell = LastEndpoint::new();
/// let copy = cell.clone();
/// assert!(cell.get().is_none());
/// copy.set(7);
/// assert_eq!(cell.get(), Some(7));
/// ```
#[derive(Debug, Clone, Default)]
pub struct LastEndpoint(Arc<AtomicU64>);

impl LastEndpoint {
    /// An empty cell.
    ///
    /// ```
    /// assert_eq!(bulwark_balance::LastEndpoint::new().get(), None);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The balancer's id of the endpoint the last attempt went to, if any went.
    ///
    /// ```
    /// let cell = bulwark_balance::LastEndpoint::new();
    /// cell.set(3);
    /// assert_eq!(cell.get(), Some(3));
    /// ```
    pub fn get(&self) -> Option<u64> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            id => Some(id),
        }
    }

    /// Records the endpoint an attempt went to; ids are never 0.
    ///
    /// ```
    /// let cell = bulwark_balance::LastEndpoint::new();
    /// cell.clone().set(9);
    /// assert_eq!(cell.get(), Some(9));
    /// ```
    pub fn set(&self, id: u64) {
        self.0.store(id, Ordering::Relaxed);
    }
}

/// How a balancer finds the [`LastEndpoint`] cell of a request of type `Req`.
///
/// ```
/// use bulwark_balance::{LastEndpoint, LastEndpointAccess};
///
/// #[derive(Clone)]
/// struct InMyRequest;
/// struct MyRequest { last: LastEndpoint }
///
/// impl LastEndpointAccess<MyRequest> for InMyRequest {
///     fn last_endpoint<'a>(&self, req: &'a MyRequest) -> Option<&'a LastEndpoint> {
///         Some(&req.last)
///     }
/// }
/// ```
pub trait LastEndpointAccess<Req>: Clone + Send + Sync + 'static {
    /// The request's cell, if it carries one.
    ///
    /// ```
    /// use bulwark_balance::{ExtensionsLastEndpoint, LastEndpointAccess};
    /// assert!(ExtensionsLastEndpoint.last_endpoint(&http::Request::new(())).is_none());
    /// ```
    fn last_endpoint<'a>(&self, req: &'a Req) -> Option<&'a LastEndpoint>;
}

/// For requests that carry no [`LastEndpoint`]: retries are balanced like first attempts.
///
/// ```
/// use bulwark_balance::{LastEndpointAccess, NoLastEndpoint};
///
/// assert!(NoLastEndpoint.last_endpoint(&"GET /").is_none());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLastEndpoint;

impl<Req> LastEndpointAccess<Req> for NoLastEndpoint {
    #[inline]
    fn last_endpoint<'a>(&self, _: &'a Req) -> Option<&'a LastEndpoint> {
        None
    }
}

/// Finds the [`LastEndpoint`] in an `http::Request`'s extensions.
///
/// ```
/// use bulwark_balance::{ExtensionsLastEndpoint, LastEndpoint, LastEndpointAccess};
///
/// let mut req = http::Request::new(());
/// assert!(ExtensionsLastEndpoint.last_endpoint(&req).is_none());
/// req.extensions_mut().insert(LastEndpoint::new());
/// assert!(ExtensionsLastEndpoint.last_endpoint(&req).is_some());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtensionsLastEndpoint;

impl<B> LastEndpointAccess<http::Request<B>> for ExtensionsLastEndpoint {
    #[inline]
    fn last_endpoint<'a>(&self, req: &'a http::Request<B>) -> Option<&'a LastEndpoint> {
        req.extensions().get::<LastEndpoint>()
    }
}

/// Puts a fresh [`LastEndpoint`] on every `http::Request` that has none. Place it outside the
/// retry layer, so that every attempt shares the cell.
///
/// ```
/// use std::convert::Infallible;
/// use bulwark_balance::{LastEndpoint, LastEndpointLayer};
/// use tower::{Service, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let mut svc = ServiceBuilder::new().layer(LastEndpointLayer::new()).service_fn(
///     |req: http::Request<()>| async move {
///         Ok::<_, Infallible>(req.extensions().get::<LastEndpoint>().is_some())
///     },
/// );
/// let tagged = svc.ready().await.unwrap().call(http::Request::new(())).await.unwrap();
/// assert!(tagged);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct LastEndpointLayer(());

impl LastEndpointLayer {
    /// The layer.
    ///
    /// ```
    /// let layer = bulwark_balance::LastEndpointLayer::new();
    /// # let _ = layer;
    /// ```
    pub const fn new() -> Self {
        Self(())
    }
}

impl<S> Layer<S> for LastEndpointLayer {
    type Service = TrackLastEndpoint<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TrackLastEndpoint { inner }
    }
}

/// The service of [`LastEndpointLayer`].
///
/// ```
/// use bulwark_balance::{LastEndpointLayer, TrackLastEndpoint};
/// use tower::Layer;
///
/// let svc: TrackLastEndpoint<()> = LastEndpointLayer::new().layer(());
/// assert_eq!(svc.get_ref(), &());
/// ```
#[derive(Debug, Clone)]
pub struct TrackLastEndpoint<S> {
    inner: S,
}

impl<S> TrackLastEndpoint<S> {
    /// The wrapped service.
    ///
    /// ```
    /// use tower::Layer;
    /// let svc = bulwark_balance::LastEndpointLayer::new().layer(5u8);
    /// assert_eq!(*svc.get_ref(), 5);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, B> Service<http::Request<B>> for TrackLastEndpoint<S>
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

    fn call(&mut self, mut req: http::Request<B>) -> S::Future {
        if req.extensions().get::<LastEndpoint>().is_none() {
            req.extensions_mut().insert(LastEndpoint::new());
        }
        self.inner.call(req)
    }
}

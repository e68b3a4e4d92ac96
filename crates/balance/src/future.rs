//! The response future of [`Balance`](crate::Balance).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bulwark_policy::{BoxError, Classify, NoEndpoint, Outcome};
use pin_project_lite::pin_project;

use crate::endpoint::Endpoint;
use crate::outlier;
use crate::strategy::PeakEwma;

/// A request in flight on one endpoint: it holds the endpoint's pending count up, and lets it
/// go when the response arrives or the future is dropped.
pub(crate) struct InFlight<K, S> {
    ep: Arc<Endpoint<K, S>>,
    /// When it was sent, in the cluster's nanoseconds; only peak-EWMA needs it.
    sent_at: u64,
}

impl<K, S> InFlight<K, S> {
    pub(crate) fn start(ep: Arc<Endpoint<K, S>>, ewma: Option<&PeakEwma>) -> Self {
        ep.pending.fetch_add(1, Ordering::Relaxed);
        let sent_at = if ewma.is_some() { ep.cluster.now() } else { 0 };
        Self { ep, sent_at }
    }

    fn finish(self, outcome: &Outcome, ewma: Option<&PeakEwma>)
    where
        K: fmt::Display,
    {
        if let Some(cfg) = ewma {
            let now = self.ep.cluster.now();
            self.ep
                .ewma
                .observe(cfg, now, now.saturating_sub(self.sent_at));
        }
        outlier::record(&self.ep, outcome);
    }
}

impl<K, S> Drop for InFlight<K, S> {
    fn drop(&mut self) {
        self.ep.pending.fetch_sub(1, Ordering::Relaxed);
    }
}

pin_project! {
    /// The future of a balanced call: the chosen endpoint's future, or a [`NoEndpoint`] error
    /// when there was no endpoint to choose.
    ///
    /// When it finishes, the result is classified and counted against the endpoint for outlier
    /// detection. Dropped before then, it only releases the endpoint's pending count: a
    /// cancellation says nothing about the endpoint's health.
    ///
    /// ```
    /// use bulwark_balance::{Balance, NoEndpoint};
    /// use tower::{service_fn, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let empty: Vec<(u8, _)> = Vec::new();
    /// let mut lb = Balance::new(empty.into_iter().map(|(k, ()): (u8, ())| {
    ///     (k, service_fn(|_: ()| async { Ok::<_, std::convert::Infallible>(()) }))
    /// }));
    /// let err = lb.ready().await.unwrap().call(()).await.unwrap_err();
    /// assert!(err.is::<NoEndpoint>());
    /// # }
    /// ```
    pub struct ResponseFuture<F, K, S, C> {
        #[pin]
        inner: Option<F>,
        in_flight: Option<InFlight<K, S>>,
        classify: C,
        ewma: Option<PeakEwma>,
    }
}

impl<F, K, S, C> ResponseFuture<F, K, S, C> {
    pub(crate) fn new(
        inner: F,
        in_flight: InFlight<K, S>,
        classify: C,
        ewma: Option<PeakEwma>,
    ) -> Self {
        Self {
            inner: Some(inner),
            in_flight: Some(in_flight),
            classify,
            ewma,
        }
    }

    pub(crate) fn no_endpoint(classify: C) -> Self {
        Self {
            inner: None,
            in_flight: None,
            classify,
            ewma: None,
        }
    }
}

impl<F, K, S, C, T, E> Future for ResponseFuture<F, K, S, C>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    K: fmt::Display,
    C: Classify<T, E>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(Err(NoEndpoint::new().into()));
        };
        let result = ready!(inner.poll(cx));
        if let Some(in_flight) = this.in_flight.take() {
            in_flight.finish(&this.classify.classify(&result), this.ewma.as_ref());
        }
        Poll::Ready(result.map_err(Into::into))
    }
}

impl<F, K, S, C> fmt::Debug for ResponseFuture<F, K, S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("no_endpoint", &self.inner.is_none())
            .field("in_flight", &self.in_flight.is_some())
            .finish()
    }
}

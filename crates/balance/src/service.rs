//! The balancer service.

use std::fmt;
use std::mem;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bulwark_policy::{BoxError, ErrorsAsFailures, Event, EventKind, Rng};
use tower_service::Service;

use crate::avoid::{LastEndpointAccess, NoLastEndpoint};
use crate::endpoint::{Endpoint, List, Shared};
use crate::future::{InFlight, ResponseFuture};
use crate::handle::BalanceHandle;
use crate::outlier::{ejections_apply, restore_expired};
use crate::strategy::{self, Strategy};
use crate::BalanceLayer;

/// A load balancer over keyed endpoint services; clones share one balancer.
///
/// Built by a [`BalanceLayer`] from a list of endpoints or a `Discover` stream, or by
/// [`Balance::new`] with the defaults. See the [crate docs](crate) for how it chooses, what it
/// shares and how it stays ready.
///
/// - **Clones share everything that matters**: the endpoint list, each endpoint's pending
///   count, latency estimate and outlier counters. A clone keeps only what `poll_ready` found
///   for its own next call, so it starts unready.
/// - **Endpoint services must be `Clone`**: each call goes to a fresh clone of the chosen
///   endpoint's service, polled ready by this balancer clone. hyper clients and tonic
///   `Channel`s are made to be cloned this way.
/// - **Its error is [`BoxError`]**: the endpoint's error, or [`NoEndpoint`](crate::NoEndpoint)
///   when no endpoint was left to choose.
///
/// ```
/// use std::convert::Infallible;
/// use bulwark_balance::Balance;
/// use tower::{service_fn, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let endpoints = ["a", "b", "c"].map(|name| {
///     (name, service_fn(move |n: u32| async move { Ok::<_, Infallible>((name, n)) }))
/// });
/// let mut lb = Balance::new(endpoints);
/// let (served_by, n) = lb.ready().await.unwrap().call(7).await.unwrap();
/// assert!(["a", "b", "c"].contains(&served_by));
/// assert_eq!(n, 7);
/// # }
/// ```
pub struct Balance<K, S, C = ErrorsAsFailures, A = NoLastEndpoint> {
    shared: Arc<Shared<K, S>>,
    classify: C,
    access: A,
    list: List<K, S>,
    version: u64,
    rng: Rng,
    reserved: Reserved<K, S>,
    /// Endpoint clones that answered `Pending`, kept so that their wakers stay registered.
    unready: Vec<(Arc<Endpoint<K, S>>, S)>,
}

/// What `poll_ready` found for the next call.
enum Reserved<K, S> {
    Nothing,
    Endpoint(Arc<Endpoint<K, S>>, S),
    NoEndpoint,
}

impl<K, S> Balance<K, S> {
    /// A balancer over `endpoints` with the defaults: p2c by pending requests, no outlier
    /// detection, every `Err` a failure, seeded from entropy.
    ///
    /// ```
    /// use bulwark_balance::Balance;
    /// use tower::service_fn;
    ///
    /// let lb = Balance::new((0..3).map(|i| {
    ///     (i, service_fn(|()| async { Ok::<_, std::convert::Infallible>(()) }))
    /// }));
    /// assert_eq!(lb.handle().len(), 3);
    /// ```
    pub fn new<I>(endpoints: I) -> Self
    where
        I: IntoIterator<Item = (K, S)>,
        K: PartialEq,
    {
        BalanceLayer::new().endpoints(endpoints)
    }
}

impl<K, S, C, A> Balance<K, S, C, A> {
    pub(crate) fn from_shared(shared: Arc<Shared<K, S>>, classify: C, access: A) -> Self {
        let (list, version) = shared.snapshot();
        let rng = shared.clone_rng();
        Self {
            shared,
            classify,
            access,
            list,
            version,
            rng,
            reserved: Reserved::Nothing,
            unready: Vec::new(),
        }
    }

    /// A handle to add, remove and reweight this balancer's endpoints while it runs; it
    /// reaches every clone.
    ///
    /// ```
    /// use bulwark_balance::Balance;
    /// use tower::service_fn;
    ///
    /// let lb = Balance::new([("a", service_fn(|()| async { Ok::<_, std::convert::Infallible>(()) }))]);
    /// let handle = lb.clone().handle();
    /// assert!(handle.remove(&"a"));
    /// assert!(lb.handle().is_empty());
    /// ```
    pub fn handle(&self) -> BalanceHandle<K, S> {
        BalanceHandle::new(self.shared.clone(), tower_layer::Identity::new())
    }

    pub(crate) fn shared(&self) -> &Arc<Shared<K, S>> {
        &self.shared
    }

    fn refresh(&mut self) {
        let (list, version) = self.shared.snapshot();
        self.list = list;
        self.version = version;
        self.unready.retain(|(ep, _)| !ep.is_removed());
    }

    fn ewma(&self) -> Option<strategy::PeakEwma> {
        match &self.shared.strategy {
            Strategy::P2cPeakEwma(cfg) => Some(*cfg),
            _ => None,
        }
    }
}

impl<K, S, C, A> Balance<K, S, C, A>
where
    K: fmt::Display + PartialEq,
{
    /// Takes an endpoint whose `poll_ready` failed out of the balancer, for every clone.
    fn drop_endpoint(&mut self, ep: &Endpoint<K, S>, err: BoxError) {
        tracing::debug!(
            balancer = %self.shared.cluster.name,
            endpoint = %ep.key,
            error = %err,
            "endpoint failed to become ready; removed"
        );
        if self.shared.remove_endpoint(ep.id) {
            let cluster = &self.shared.cluster;
            cluster
                .hook
                .emit(|| Event::new(&cluster.name, EventKind::EndpointRemoved).with_key(&ep.key));
        }
        self.refresh();
    }

    /// Picks an endpoint among those offered: listed, not ejected (unless in panic), not
    /// already waiting in `unready`, and not `avoid`.
    fn pick(&mut self, avoid: u64) -> Option<Arc<Endpoint<K, S>>> {
        let honour = ejections_apply(&self.shared.cluster, self.list.len());
        let unready = &self.unready;
        let i = strategy::pick(&self.shared, &self.list, &mut self.rng, |ep| {
            if ep.id == avoid || out_of_rotation(ep, honour) {
                return false;
            }
            !unready.iter().any(|(u, _)| u.id == ep.id)
        })?;
        Some(self.list[i].clone())
    }

    /// Another endpoint than `avoid`, if one is ready at once; never waits.
    fn elsewhere<Req>(&mut self, avoid: u64) -> Option<(Arc<Endpoint<K, S>>, S)>
    where
        S: Service<Req> + Clone,
    {
        let ep = self.pick(avoid)?;
        let mut svc = ep.service.clone();
        let mut cx = Context::from_waker(Waker::noop());
        match svc.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => Some((ep, svc)),
            _ => None,
        }
    }
}

/// Whether `ep` must not take calls: removed, or ejected while ejections apply.
#[inline]
fn out_of_rotation<K, S>(ep: &Endpoint<K, S>, ejections_apply: bool) -> bool {
    ep.is_removed() || (ejections_apply && ep.health.is_ejected())
}

impl<K, S, C, A, Req> Service<Req> for Balance<K, S, C, A>
where
    K: fmt::Display + PartialEq,
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    C: bulwark_policy::Classify<S::Response, S::Error>,
    A: LastEndpointAccess<Req>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, K, S, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        let discovering = self.shared.poll_discover();
        if self.shared.version() != self.version {
            self.refresh();
        }
        if self.shared.cluster.ejected.load(Ordering::Relaxed) > 0 {
            restore_expired(&self.shared.cluster, &self.list);
        }
        match &self.reserved {
            Reserved::Endpoint(ep, _)
                if !out_of_rotation(ep, ejections_apply(&self.shared.cluster, self.list.len())) =>
            {
                return Poll::Ready(Ok(()));
            }
            Reserved::NoEndpoint if self.list.is_empty() && !discovering => {
                return Poll::Ready(Ok(()));
            }
            _ => self.reserved = Reserved::Nothing,
        }

        // Endpoints that were not ready: the first to become ready takes the call.
        let honour = ejections_apply(&self.shared.cluster, self.list.len());
        let mut i = 0;
        while i < self.unready.len() {
            match self.unready[i].1.poll_ready(cx) {
                Poll::Pending => i += 1,
                Poll::Ready(Ok(())) => {
                    let (ep, svc) = self.unready.swap_remove(i);
                    let free = matches!(self.reserved, Reserved::Nothing);
                    if free && !out_of_rotation(&ep, honour) {
                        self.reserved = Reserved::Endpoint(ep, svc);
                    }
                }
                Poll::Ready(Err(err)) => {
                    let (ep, _) = self.unready.swap_remove(i);
                    self.drop_endpoint(&ep, err.into());
                }
            }
        }
        if matches!(self.reserved, Reserved::Endpoint(..)) {
            return Poll::Ready(Ok(()));
        }

        // Each turn either returns, parks an endpoint in `unready` or removes one, so this
        // ends within the list's length.
        while let Some(ep) = self.pick(0) {
            let mut svc = ep.service.clone();
            match svc.poll_ready(cx) {
                Poll::Ready(Ok(())) => {
                    self.reserved = Reserved::Endpoint(ep, svc);
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending => self.unready.push((ep, svc)),
                Poll::Ready(Err(err)) => self.drop_endpoint(&ep, err.into()),
            }
        }
        if !self.unready.is_empty() || (self.list.is_empty() && discovering) {
            // Wait for a parked endpoint, or for the list to change.
            self.shared.waiters.register(cx.waker());
            if self.shared.version() != self.version {
                cx.waker().wake_by_ref();
            }
            return Poll::Pending;
        }
        // Nothing is ready and nothing can become ready: the call fails fast, as a
        // `poll_ready` error would make the caller discard the balancer.
        self.reserved = Reserved::NoEndpoint;
        let cluster = &self.shared.cluster;
        cluster
            .hook
            .emit(|| Event::new(&cluster.name, EventKind::NoEndpoint));
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let (ep, svc) = match mem::replace(&mut self.reserved, Reserved::Nothing) {
            Reserved::Endpoint(ep, svc) => (ep, svc),
            Reserved::NoEndpoint => return ResponseFuture::no_endpoint(self.classify.clone()),
            Reserved::Nothing => panic!("Balance::call without poll_ready returning Ready first"),
        };
        let (ep, mut svc) = match self.access.last_endpoint(&req) {
            Some(last) => {
                let chosen = if last.get() == Some(ep.id) {
                    self.elsewhere::<Req>(ep.id).unwrap_or((ep, svc))
                } else {
                    (ep, svc)
                };
                last.set(chosen.0.id);
                chosen
            }
            None => (ep, svc),
        };
        let ewma = self.ewma();
        let in_flight = InFlight::start(ep, ewma.as_ref());
        ResponseFuture::new(svc.call(req), in_flight, self.classify.clone(), ewma)
    }
}

impl<K, S, C: Clone, A: Clone> Clone for Balance<K, S, C, A> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            classify: self.classify.clone(),
            access: self.access.clone(),
            list: self.list.clone(),
            version: self.version,
            rng: self.shared.clone_rng(),
            reserved: Reserved::Nothing,
            unready: Vec::new(),
        }
    }
}

impl<K: fmt::Debug, S, C, A> fmt::Debug for Balance<K, S, C, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Balance")
            .field("shared", &self.shared)
            .field("ready", &!matches!(self.reserved, Reserved::Nothing))
            .field("unready", &self.unready.len())
            .finish_non_exhaustive()
    }
}

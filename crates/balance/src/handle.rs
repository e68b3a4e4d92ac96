//! Changing a running balancer's endpoints.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tower_layer::{Identity, Layer};

use crate::endpoint::Shared;

/// Adds, removes and reweights the endpoints of a running balancer; every clone of the
/// balancer sees the change before its next pick.
///
/// A handle from [`Balance::handle`](crate::Balance::handle) takes endpoint services as the
/// balancer stores them. One from [`BalanceLayer::handle`](crate::BalanceLayer::handle)
/// carries the layer's per-endpoint layer `L` and wraps each service it is given, as endpoints
/// from the list and from discovery are. Requests already sent to a removed endpoint finish
/// normally.
///
/// ```
/// use bulwark_balance::Balance;
/// use tower::service_fn;
///
/// let ok = |()| async { Ok::<_, std::convert::Infallible>(()) };
/// let lb = Balance::new([("a", service_fn(ok))]);
/// let handle = lb.handle();
/// handle.insert_weighted("b", service_fn(ok), 3);
/// assert!(handle.set_weight(&"a", 2));
/// let weights: Vec<_> = handle.endpoints().iter().map(|e| (e.key, e.weight)).collect();
/// assert_eq!(weights, [("a", 2), ("b", 3)]);
/// ```
pub struct BalanceHandle<K, S, L = Identity> {
    shared: Arc<Shared<K, S>>,
    layer: L,
}

/// A view of one endpoint, as [`BalanceHandle::endpoints`] reports it.
///
/// ```
/// use bulwark_balance::Balance;
/// use tower::service_fn;
///
/// let lb = Balance::new([(1, service_fn(|()| async { Ok::<_, std::convert::Infallible>(()) }))]);
/// let info = &lb.handle().endpoints()[0];
/// assert_eq!((info.key, info.weight, info.pending, info.ejected), (1, 1, 0, false));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointInfo<K> {
    /// The endpoint's key.
    pub key: K,
    /// Its weight, for weighted round robin.
    pub weight: u32,
    /// Requests sent to it and not yet answered.
    pub pending: usize,
    /// Whether outlier detection has it out of rotation now.
    pub ejected: bool,
    /// How many times in a row it has been ejected.
    pub ejections: u32,
}

impl<K, S, L> BalanceHandle<K, S, L> {
    pub(crate) fn new(shared: Arc<Shared<K, S>>, layer: L) -> Self {
        Self { shared, layer }
    }

    /// How many endpoints the balancer has.
    ///
    /// ```
    /// # use bulwark_balance::Balance;
    /// # use tower::service_fn;
    /// let lb = Balance::new([(1, service_fn(|()| async { Ok::<_, std::convert::Infallible>(()) }))]);
    /// assert_eq!(lb.handle().len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.shared.snapshot().0.len()
    }

    /// Whether the balancer has no endpoint.
    ///
    /// ```
    /// # use bulwark_balance::Balance;
    /// # use tower::service_fn;
    /// let lb = Balance::new([(1, service_fn(|()| async { Ok::<_, std::convert::Infallible>(()) }))]);
    /// assert!(!lb.handle().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every endpoint's key, weight, load and ejection state, in the balancer's order.
    ///
    /// ```
    /// # use bulwark_balance::Balance;
    /// # use tower::service_fn;
    /// let lb = Balance::new([("x", service_fn(|()| async { Ok::<_, std::convert::Infallible>(()) }))]);
    /// assert_eq!(lb.handle().endpoints()[0].key, "x");
    /// ```
    pub fn endpoints(&self) -> Vec<EndpointInfo<K>>
    where
        K: Clone,
    {
        self.shared
            .snapshot()
            .0
            .iter()
            .map(|ep| EndpointInfo {
                key: ep.key.clone(),
                weight: ep.weight.load(Ordering::Relaxed),
                pending: ep.pending(),
                ejected: ep.health.is_ejected(),
                ejections: ep.health.ejections(),
            })
            .collect()
    }
}

impl<K: PartialEq, S, L> BalanceHandle<K, S, L> {
    /// Adds an endpoint with weight 1, replacing any endpoint with the same key.
    ///
    /// ```
    /// # use bulwark_balance::Balance;
    /// # use tower::service_fn;
    /// let ok = |()| async { Ok::<_, std::convert::Infallible>(()) };
    /// let lb = Balance::new([(1, service_fn(ok))]);
    /// lb.handle().insert(2, service_fn(ok));
    /// lb.handle().insert(2, service_fn(ok));
    /// assert_eq!(lb.handle().len(), 2);
    /// ```
    pub fn insert<T>(&self, key: K, service: T)
    where
        L: Layer<T, Service = S>,
    {
        self.shared.insert(key, self.layer.layer(service), 1);
    }

    /// Adds an endpoint with a weight for weighted round robin (0 takes it out of that
    /// strategy's rotation), replacing any endpoint with the same key.
    ///
    /// ```
    /// # use bulwark_balance::Balance;
    /// # use tower::service_fn;
    /// let ok = |()| async { Ok::<_, std::convert::Infallible>(()) };
    /// let lb = Balance::new([(1, service_fn(ok))]);
    /// lb.handle().insert_weighted(2, service_fn(ok), 5);
    /// assert_eq!(lb.handle().endpoints()[1].weight, 5);
    /// ```
    pub fn insert_weighted<T>(&self, key: K, service: T, weight: u32)
    where
        L: Layer<T, Service = S>,
    {
        self.shared.insert(key, self.layer.layer(service), weight);
    }

    /// Removes the endpoint with `key`; whether there was one.
    ///
    /// ```
    /// # use bulwark_balance::Balance;
    /// # use tower::service_fn;
    /// let lb = Balance::new([(1, service_fn(|()| async { Ok::<_, std::convert::Infallible>(()) }))]);
    /// assert!(lb.handle().remove(&1));
    /// assert!(!lb.handle().remove(&1));
    /// ```
    pub fn remove(&self, key: &K) -> bool {
        self.shared.remove(key)
    }

    /// Sets the weight of the endpoint with `key`; whether there was one.
    ///
    /// ```
    /// # use bulwark_balance::Balance;
    /// # use tower::service_fn;
    /// let lb = Balance::new([(1, service_fn(|()| async { Ok::<_, std::convert::Infallible>(()) }))]);
    /// assert!(lb.handle().set_weight(&1, 4));
    /// assert!(!lb.handle().set_weight(&9, 4));
    /// ```
    pub fn set_weight(&self, key: &K, weight: u32) -> bool {
        self.shared.set_weight(key, weight)
    }
}

impl<K, S, L: Clone> Clone for BalanceHandle<K, S, L> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<K: fmt::Debug, S, L> fmt::Debug for BalanceHandle<K, S, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BalanceHandle")
            .field("shared", &self.shared)
            .finish()
    }
}

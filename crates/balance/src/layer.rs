//! The balancer's configuration, and the layer that builds a balancer from a `Discover`.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};

use bulwark_policy::{BoxError, ErrorsAsFailures, Hook, Rng, SharedHook};
use tokio::time::Instant;
use tower::discover::Discover;
use tower_layer::{Identity, Layer};

use crate::avoid::NoLastEndpoint;
use crate::discover::ErasedDiscover;
use crate::endpoint::{Cluster, Shared};
use crate::outlier::OutlierDetection;
use crate::strategy::Strategy;
use crate::{Balance, BalanceHandle};

/// The configuration of a balancer, and a [`Layer`] that builds one from a
/// [`Discover`] stream.
///
/// A balancer is a leaf of a stack, not a wrapper: it takes endpoints, not one inner service.
/// So the layer turns a `Discover` into a [`Balance`], and [`endpoints`](Self::endpoints)
/// turns a fixed list into one. Each call of either builds a new, independent balancer.
///
/// - `C`: the [`Classify`](bulwark_policy::Classify) that feeds outlier detection;
/// - `A`: the [`LastEndpointAccess`](crate::LastEndpointAccess) that lets a retry avoid the
///   endpoint that just failed it;
/// - `L`: the layer applied to every endpoint as it is added (a breaker in backpressure mode,
///   a timeout).
///
/// ```
/// use std::convert::Infallible;
/// use bulwark_balance::{BalanceLayer, Strategy};
/// use tower::{service_fn, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = BalanceLayer::builder().strategy(Strategy::RoundRobin).seed(7).name("db").build();
/// let mut lb = layer.endpoints((0..2).map(|i| {
///     (i, service_fn(move |()| async move { Ok::<_, Infallible>(i) }))
/// }));
/// let first = lb.ready().await.unwrap().call(()).await.unwrap();
/// let second = lb.ready().await.unwrap().call(()).await.unwrap();
/// assert_ne!(first, second);
/// # }
/// ```
#[derive(Clone)]
pub struct BalanceLayer<C = ErrorsAsFailures, A = NoLastEndpoint, L = Identity> {
    strategy: Strategy,
    outlier: Option<OutlierDetection>,
    seed: Option<u64>,
    name: Arc<str>,
    hook: SharedHook,
    classify: C,
    access: A,
    endpoint_layer: L,
}

/// Builds a [`BalanceLayer`]; every setting has a default.
///
/// ```
/// use bulwark_balance::{BalanceLayer, OutlierDetection, Strategy};
///
/// let layer = BalanceLayer::builder()
///     .strategy(Strategy::P2cPending)
///     .outlier_detection(OutlierDetection::default())
///     .name("upstream")
///     .build();
/// assert_eq!(layer.get_name(), "upstream");
/// ```
#[derive(Clone)]
pub struct BalanceBuilder<C = ErrorsAsFailures, A = NoLastEndpoint, L = Identity> {
    layer: BalanceLayer<C, A, L>,
}

impl Default for BalanceLayer {
    fn default() -> Self {
        Self {
            strategy: Strategy::default(),
            outlier: None,
            seed: None,
            name: Arc::from("balance"),
            hook: SharedHook::none(),
            classify: ErrorsAsFailures,
            access: NoLastEndpoint,
            endpoint_layer: Identity::new(),
        }
    }
}

impl BalanceLayer {
    /// The defaults: p2c by pending requests, no outlier detection, every `Err` a failure,
    /// no avoidance of the last endpoint, seeded from entropy, named `"balance"`.
    ///
    /// ```
    /// use bulwark_balance::{BalanceLayer, Strategy};
    /// assert_eq!(BalanceLayer::new().get_strategy(), &Strategy::P2cPending);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder starting from the defaults.
    ///
    /// ```
    /// let layer = bulwark_balance::BalanceLayer::builder().seed(1).build();
    /// assert_eq!(layer.get_name(), "balance");
    /// ```
    pub fn builder() -> BalanceBuilder {
        BalanceBuilder {
            layer: Self::default(),
        }
    }
}

impl<C, A, L> BalanceBuilder<C, A, L> {
    /// How endpoints are chosen. Default: [`Strategy::P2cPending`].
    ///
    /// ```
    /// use bulwark_balance::{BalanceLayer, PeakEwma, Strategy};
    /// let s = Strategy::P2cPeakEwma(PeakEwma::default());
    /// assert_eq!(BalanceLayer::builder().strategy(s.clone()).build().get_strategy(), &s);
    /// ```
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.layer.strategy = strategy;
        self
    }

    /// Ejects failing endpoints for a while. Off by default.
    ///
    /// ```
    /// use bulwark_balance::{BalanceLayer, OutlierDetection};
    /// let layer = BalanceLayer::builder().outlier_detection(OutlierDetection::default()).build();
    /// assert!(layer.get_outlier_detection().is_some());
    /// ```
    pub fn outlier_detection(mut self, outlier: OutlierDetection) -> Self {
        self.layer.outlier = Some(outlier);
        self
    }

    /// Fixes the seed of every random choice (picks and ejection jitter), for tests.
    ///
    /// ```
    /// let layer = bulwark_balance::BalanceLayer::builder().seed(42).build();
    /// # let _ = layer;
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.layer.seed = Some(seed);
        self
    }

    /// Names the balancer in its events.
    ///
    /// ```
    /// let layer = bulwark_balance::BalanceLayer::builder().name("users-db").build();
    /// assert_eq!(layer.get_name(), "users-db");
    /// ```
    pub fn name(mut self, name: impl AsRef<str>) -> Self {
        self.layer.name = Arc::from(name.as_ref());
        self
    }

    /// Reports ejections, restorations and requests with no endpoint to `hook`.
    ///
    /// ```
    /// use bulwark_policy::TracingHook;
    /// let layer = bulwark_balance::BalanceLayer::builder().hook(TracingHook::new()).build();
    /// # let _ = layer;
    /// ```
    pub fn hook(mut self, hook: impl Hook) -> Self {
        self.layer.hook = SharedHook::new(hook);
        self
    }

    /// Reports to an already shared hook.
    ///
    /// ```
    /// use bulwark_policy::SharedHook;
    /// let layer = bulwark_balance::BalanceLayer::builder().shared_hook(SharedHook::none()).build();
    /// # let _ = layer;
    /// ```
    pub fn shared_hook(mut self, hook: SharedHook) -> Self {
        self.layer.hook = hook;
        self
    }

    /// Decides which results count against an endpoint. Default: [`ErrorsAsFailures`].
    ///
    /// ```
    /// use bulwark_policy::{Failure, FailureKind, Outcome};
    /// let layer = bulwark_balance::BalanceLayer::builder()
    ///     .classify(|r: &Result<u16, std::io::Error>| match r {
    ///         Ok(s) if *s < 500 => Outcome::Success,
    ///         _ => Outcome::Failure(Failure::new(FailureKind::Status)),
    ///     })
    ///     .build();
    /// # let _ = layer;
    /// ```
    pub fn classify<C2>(self, classify: C2) -> BalanceBuilder<C2, A, L> {
        let l = self.layer;
        BalanceBuilder {
            layer: BalanceLayer {
                strategy: l.strategy,
                outlier: l.outlier,
                seed: l.seed,
                name: l.name,
                hook: l.hook,
                classify,
                access: l.access,
                endpoint_layer: l.endpoint_layer,
            },
        }
    }

    /// Where requests carry their [`LastEndpoint`](crate::LastEndpoint), so that a retry goes
    /// to another endpoint: [`ExtensionsLastEndpoint`](crate::ExtensionsLastEndpoint) for
    /// `http::Request`s. Default: [`NoLastEndpoint`].
    ///
    /// ```
    /// use bulwark_balance::{BalanceLayer, ExtensionsLastEndpoint};
    /// let layer = BalanceLayer::builder().last_endpoint(ExtensionsLastEndpoint).build();
    /// # let _ = layer;
    /// ```
    pub fn last_endpoint<A2>(self, access: A2) -> BalanceBuilder<C, A2, L> {
        let l = self.layer;
        BalanceBuilder {
            layer: BalanceLayer {
                strategy: l.strategy,
                outlier: l.outlier,
                seed: l.seed,
                name: l.name,
                hook: l.hook,
                classify: l.classify,
                access,
                endpoint_layer: l.endpoint_layer,
            },
        }
    }

    /// Wraps every endpoint in `layer` as it is added, from the list or from discovery.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_balance::BalanceLayer;
    /// use tower::{service_fn, timeout::TimeoutLayer};
    ///
    /// let layer = BalanceLayer::builder()
    ///     .endpoint_layer(TimeoutLayer::new(Duration::from_secs(1)))
    ///     .build();
    /// let lb = layer.endpoints([(1, service_fn(|()| async { Ok::<_, std::convert::Infallible>(()) }))]);
    /// assert_eq!(lb.handle().len(), 1);
    /// ```
    pub fn endpoint_layer<L2>(self, layer: L2) -> BalanceBuilder<C, A, L2> {
        let l = self.layer;
        BalanceBuilder {
            layer: BalanceLayer {
                strategy: l.strategy,
                outlier: l.outlier,
                seed: l.seed,
                name: l.name,
                hook: l.hook,
                classify: l.classify,
                access: l.access,
                endpoint_layer: layer,
            },
        }
    }

    /// The layer. Every part was validated when it was made ([`OutlierDetection`],
    /// [`PeakEwma`](crate::PeakEwma)), so this cannot fail.
    ///
    /// ```
    /// let layer = bulwark_balance::BalanceLayer::builder().build();
    /// # let _ = layer;
    /// ```
    pub fn build(self) -> BalanceLayer<C, A, L> {
        self.layer
    }
}

impl<C, A, L> BalanceLayer<C, A, L> {
    /// The strategy.
    ///
    /// ```
    /// use bulwark_balance::{BalanceLayer, Strategy};
    /// assert_eq!(BalanceLayer::new().get_strategy(), &Strategy::P2cPending);
    /// ```
    pub fn get_strategy(&self) -> &Strategy {
        &self.strategy
    }

    /// The outlier detection settings, if it is on.
    ///
    /// ```
    /// assert!(bulwark_balance::BalanceLayer::new().get_outlier_detection().is_none());
    /// ```
    pub fn get_outlier_detection(&self) -> Option<&OutlierDetection> {
        self.outlier.as_ref()
    }

    /// The name used in events.
    ///
    /// ```
    /// assert_eq!(bulwark_balance::BalanceLayer::new().get_name(), "balance");
    /// ```
    pub fn get_name(&self) -> &str {
        &self.name
    }

    fn shared<K, S>(&self, discover: Option<ErasedDiscover<K, S>>) -> Arc<Shared<K, S>> {
        let seed = self.seed.unwrap_or_else(|| Rng::from_entropy().next_u64());
        let cluster = Cluster {
            name: self.name.clone(),
            hook: self.hook.clone(),
            epoch: Instant::now(),
            outlier: self.outlier.clone(),
            ejected: AtomicUsize::new(0),
            total: AtomicUsize::new(0),
            next_expiry: AtomicU64::new(u64::MAX),
            rng: Mutex::new(Rng::new(!seed)),
        };
        Arc::new(Shared::new(cluster, self.strategy.clone(), seed, discover))
    }

    /// A balancer over a fixed list of keyed endpoints, each with weight 1. The keys name the
    /// endpoints in events and in the [`BalanceHandle`](crate::BalanceHandle).
    ///
    /// ```
    /// use bulwark_balance::BalanceLayer;
    /// use tower::service_fn;
    ///
    /// let lb = BalanceLayer::new().endpoints(["10.0.0.1:80", "10.0.0.2:80"].map(|addr| {
    ///     (addr, service_fn(move |()| async move { Ok::<_, std::convert::Infallible>(addr) }))
    /// }));
    /// assert_eq!(lb.handle().len(), 2);
    /// ```
    pub fn endpoints<K, S, I>(&self, endpoints: I) -> Balance<K, L::Service, C, A>
    where
        I: IntoIterator<Item = (K, S)>,
        K: PartialEq,
        L: Layer<S>,
        C: Clone,
        A: Clone,
    {
        self.weighted_endpoints(endpoints.into_iter().map(|(k, s)| (k, s, 1)))
    }

    /// A balancer over a fixed list of keyed endpoints with weights, for weighted round robin.
    ///
    /// ```
    /// use bulwark_balance::{BalanceLayer, Strategy};
    /// use tower::service_fn;
    ///
    /// let ok = |()| async { Ok::<_, std::convert::Infallible>(()) };
    /// let lb = BalanceLayer::builder()
    ///     .strategy(Strategy::WeightedRoundRobin)
    ///     .build()
    ///     .weighted_endpoints([("big", service_fn(ok), 3), ("small", service_fn(ok), 1)]);
    /// assert_eq!(lb.handle().endpoints()[0].weight, 3);
    /// ```
    pub fn weighted_endpoints<K, S, I>(&self, endpoints: I) -> Balance<K, L::Service, C, A>
    where
        I: IntoIterator<Item = (K, S, u32)>,
        K: PartialEq,
        L: Layer<S>,
        C: Clone,
        A: Clone,
    {
        let shared = self.shared(None);
        for (key, svc, weight) in endpoints {
            shared.insert(key, self.endpoint_layer.layer(svc), weight);
        }
        Balance::from_shared(shared, self.classify.clone(), self.access.clone())
    }

    /// A balancer whose endpoints come from a [`Discover`] stream; the same as
    /// [`Layer::layer`].
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use bulwark_balance::BalanceLayer;
    /// use tower::discover::Change;
    /// use tower::{service_fn, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let svc = service_fn(|()| async { Ok::<_, Infallible>("up") });
    /// let changes = futures_util::stream::iter([Ok::<_, Infallible>(Change::Insert("a", svc))]);
    /// let mut lb = BalanceLayer::new().discover(changes);
    /// assert_eq!(lb.ready().await.unwrap().call(()).await.unwrap(), "up");
    /// # }
    /// ```
    pub fn discover<D>(&self, discover: D) -> Balance<D::Key, L::Service, C, A>
    where
        D: Discover + Send + 'static,
        D::Key: PartialEq,
        D::Error: Into<BoxError>,
        L: Layer<D::Service> + Clone + Send + 'static,
        C: Clone,
        A: Clone,
    {
        let erased = ErasedDiscover::new(discover, self.endpoint_layer.clone());
        let shared = self.shared(Some(erased));
        Balance::from_shared(shared, self.classify.clone(), self.access.clone())
    }
}

impl<C, A, L: Clone> BalanceLayer<C, A, L> {
    /// A handle to `balance` that wraps every endpoint it adds in this layer's per-endpoint
    /// layer, as the endpoints from the list and from discovery were.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use bulwark_balance::BalanceLayer;
    /// use tower::util::MapResponseLayer;
    /// use tower::{service_fn, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let layer = BalanceLayer::builder()
    ///     .endpoint_layer(MapResponseLayer::new(|n: u32| n * 10))
    ///     .build();
    /// let answer = |n: u32| service_fn(move |()| async move { Ok::<_, Infallible>(n) });
    /// let mut lb = layer.endpoints([("a", answer(1))]);
    /// let handle = layer.handle(&lb);
    /// handle.insert("b", answer(2));
    /// handle.remove(&"a");
    /// assert_eq!(lb.ready().await.unwrap().call(()).await.unwrap(), 20);
    /// # }
    /// ```
    pub fn handle<K, S, C2, A2>(&self, balance: &Balance<K, S, C2, A2>) -> BalanceHandle<K, S, L> {
        BalanceHandle::new(balance.shared().clone(), self.endpoint_layer.clone())
    }
}

impl<D, C, A, L> Layer<D> for BalanceLayer<C, A, L>
where
    D: Discover + Send + 'static,
    D::Key: PartialEq,
    D::Error: Into<BoxError>,
    L: Layer<D::Service> + Clone + Send + 'static,
    C: Clone,
    A: Clone,
{
    type Service = Balance<D::Key, L::Service, C, A>;

    fn layer(&self, discover: D) -> Self::Service {
        self.discover(discover)
    }
}

impl<C, A, L> fmt::Debug for BalanceLayer<C, A, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BalanceLayer")
            .field("strategy", &self.strategy)
            .field("outlier", &self.outlier)
            .field("seed", &self.seed)
            .field("name", &self.name)
            .field("hook", &self.hook)
            .finish_non_exhaustive()
    }
}

impl<C, A, L> fmt::Debug for BalanceBuilder<C, A, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BalanceBuilder")
            .field("layer", &self.layer)
            .finish()
    }
}

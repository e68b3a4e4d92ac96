//! [`BreakerLayer`], its builder, and the keyed variant.

use std::borrow::Cow;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use bulwark_policy::{Backoff, ConfigError, ErrorsAsFailures, Hook, SharedHook};
use tower_layer::Layer;

use crate::config::{BreakerConfig, Mode};
use crate::handle::{BreakerHandle, KeyedHandle};
use crate::service::keyed::{KeyMap, KeyedBreaker};
use crate::service::Breaker;
use crate::state::{Identity, Shared};

/// One circuit breaker, as a tower layer.
///
/// The layer *is* the breaker: every service it wraps and every clone of those services share
/// it, so a router that clones the service per request still has one breaker. Two independent
/// breakers need two layers, or [`BreakerLayer::keyed`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use bulwark_breaker::BreakerLayer;
/// use tower::{service_fn, BoxError, ServiceBuilder, ServiceExt};
///
/// let layer = BreakerLayer::builder().consecutive_failures(3).name("upstream").build().unwrap();
/// let svc = ServiceBuilder::new()
///     .layer(layer.clone())
///     .service(service_fn(|n: u32| async move { Ok::<_, BoxError>(n * 2) }));
/// assert_eq!(svc.oneshot(21).await.unwrap(), 42);
/// assert!(!layer.handle().state().rejects());
/// # }
/// ```
#[derive(Clone)]
pub struct BreakerLayer<C = ErrorsAsFailures> {
    shared: Arc<Shared>,
    classify: C,
}

impl<C> fmt::Debug for BreakerLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BreakerLayer").field(&self.shared).finish()
    }
}

impl BreakerLayer {
    /// A builder, starting from [`BreakerConfig::default`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_breaker::BreakerLayer;
    ///
    /// let layer = BreakerLayer::builder()
    ///     .failure_rate(0.5)
    ///     .count_window(100)
    ///     .min_calls(20)
    ///     .slow_calls(Duration::from_secs(2), 0.8)
    ///     .build()
    ///     .unwrap();
    /// # drop(layer);
    /// ```
    pub fn builder() -> BreakerBuilder {
        BreakerBuilder {
            config: BreakerConfig::default(),
            id: Identity {
                name: Cow::Borrowed("breaker"),
                hook: SharedHook::none(),
                seed: None,
            },
            classify: ErrorsAsFailures,
            max_keys: DEFAULT_MAX_KEYS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }

    /// A breaker with `config`.
    ///
    /// ```
    /// use bulwark_breaker::{BreakerConfig, BreakerLayer};
    ///
    /// assert!(BreakerLayer::new(BreakerConfig::default()).is_ok());
    /// assert!(BreakerLayer::new(BreakerConfig { min_calls: 0, half_open_probes: 0, ..Default::default() }).is_err());
    /// ```
    pub fn new(config: BreakerConfig) -> Result<Self, ConfigError> {
        Self::builder().config(config).build()
    }

    /// One breaker per key, with the default config: `key` picks the key of each request (a
    /// host, a route). See [`KeyedBreakerLayer`]; [`BreakerBuilder::build_keyed`] sets the
    /// config.
    ///
    /// ```
    /// use bulwark_breaker::BreakerLayer;
    ///
    /// let layer = BreakerLayer::keyed(|req: &http::Request<()>| req.uri().host().unwrap_or_default().to_owned());
    /// # drop(layer);
    /// ```
    pub fn keyed<Req, K, F>(key: F) -> KeyedBreakerLayer<K, F>
    where
        F: Fn(&Req) -> K,
        K: Clone + Hash + Eq + fmt::Display + Send + Sync + 'static,
    {
        match Self::builder().build_keyed(key) {
            Ok(layer) => layer,
            Err(_) => unreachable!("the default config is valid"),
        }
    }
}

impl<C> BreakerLayer<C> {
    /// A handle on the breaker: its state, transitions, counts and config.
    ///
    /// ```
    /// use bulwark_breaker::BreakerLayer;
    ///
    /// let layer = BreakerLayer::builder().build().unwrap();
    /// layer.handle().force_open();
    /// assert!(layer.handle().state().rejects());
    /// ```
    pub fn handle(&self) -> BreakerHandle {
        BreakerHandle::new(self.shared.clone())
    }
}

impl<S, C: Clone> Layer<S> for BreakerLayer<C> {
    type Service = Breaker<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        Breaker::new(inner, self.shared.clone(), self.classify.clone())
    }
}

/// The keys a keyed breaker keeps before it evicts the idlest.
const DEFAULT_MAX_KEYS: usize = 1024;
/// How long a key may stay unused before it is evicted.
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// Builds a [`BreakerLayer`] or a [`KeyedBreakerLayer`]; see [`BreakerConfig`] for what each
/// setting means and its default.
///
/// ```
/// use std::time::Duration;
/// use bulwark_breaker::BreakerLayer;
/// use bulwark_policy::{Backoff, TracingHook};
///
/// let layer = BreakerLayer::builder()
///     .consecutive_failures(5)
///     .failure_rate(0.25)
///     .time_window(Duration::from_secs(30))
///     .open_for(Backoff::exponential(Duration::from_secs(1)).max_delay(Duration::from_secs(30)))
///     .half_open_probes(3)
///     .half_open_successes(3)
///     .name("inventory")
///     .hook(TracingHook::new())
///     .build()
///     .unwrap();
/// # drop(layer);
/// ```
#[derive(Debug, Clone)]
pub struct BreakerBuilder<C = ErrorsAsFailures> {
    config: BreakerConfig,
    id: Identity,
    classify: C,
    max_keys: usize,
    idle_timeout: Duration,
}

impl<C> BreakerBuilder<C> {
    /// Starts over from `config`.
    ///
    /// ```
    /// use bulwark_breaker::{BreakerConfig, BreakerLayer};
    ///
    /// let b = BreakerLayer::builder().config(BreakerConfig { half_open_probes: 2, ..Default::default() });
    /// assert!(b.build().is_ok());
    /// ```
    pub fn config(mut self, config: BreakerConfig) -> Self {
        self.config = config;
        self
    }

    /// Trips after `n` failures in a row.
    ///
    /// ```
    /// assert!(bulwark_breaker::BreakerLayer::builder().consecutive_failures(0).build().is_err());
    /// ```
    pub fn consecutive_failures(mut self, n: u32) -> Self {
        self.config.consecutive_failures = Some(n);
        self
    }

    /// Turns the consecutive-failure policy off, for a breaker that judges rates only.
    ///
    /// ```
    /// # use bulwark_breaker::BreakerLayer;
    /// assert!(BreakerLayer::builder().no_consecutive_failures().build().is_err(), "nothing would trip it");
    /// assert!(BreakerLayer::builder().no_consecutive_failures().failure_rate(0.5).count_window(10).build().is_ok());
    /// ```
    pub fn no_consecutive_failures(mut self) -> Self {
        self.config.consecutive_failures = None;
        self
    }

    /// Trips when at least `rate` (`0..=1`) of the calls in a window failed.
    ///
    /// ```
    /// # use bulwark_breaker::BreakerLayer;
    /// assert!(BreakerLayer::builder().failure_rate(1.2).count_window(10).build().is_err());
    /// ```
    pub fn failure_rate(mut self, rate: f64) -> Self {
        self.config.failure_rate = Some(rate);
        self
    }

    /// Trips when at least `rate` of the calls in a window ran longer than `threshold`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use bulwark_breaker::BreakerLayer;
    /// let b = BreakerLayer::builder().slow_calls(Duration::from_millis(500), 0.5).count_window(50);
    /// assert!(b.build().is_ok());
    /// ```
    pub fn slow_calls(mut self, threshold: Duration, rate: f64) -> Self {
        self.config.slow_call_threshold = Some(threshold);
        self.config.slow_call_rate = Some(rate);
        self
    }

    /// Judges the rates over the last `n` calls.
    ///
    /// ```
    /// # use bulwark_breaker::BreakerLayer;
    /// assert!(BreakerLayer::builder().failure_rate(0.5).count_window(0).build().is_err());
    /// ```
    pub fn count_window(mut self, n: u32) -> Self {
        self.config.count_window = Some(n);
        self
    }

    /// Judges the rates over the calls of the last `length` of time.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use bulwark_breaker::BreakerLayer;
    /// assert!(BreakerLayer::builder().failure_rate(0.5).time_window(Duration::ZERO).build().is_err());
    /// ```
    pub fn time_window(mut self, length: Duration) -> Self {
        self.config.time_window = Some(length);
        self
    }

    /// Cuts the time window into `n` rolling buckets (default 10).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use bulwark_breaker::BreakerLayer;
    /// let b = BreakerLayer::builder().failure_rate(0.5).time_window(Duration::from_secs(60)).time_window_buckets(60);
    /// assert!(b.build().is_ok());
    /// ```
    pub fn time_window_buckets(mut self, n: u32) -> Self {
        self.config.time_window_buckets = n;
        self
    }

    /// Judges no rate before a window holds `n` calls (default 10).
    ///
    /// ```
    /// # use bulwark_breaker::BreakerLayer;
    /// assert!(BreakerLayer::builder().failure_rate(0.5).count_window(10).min_calls(11).build().is_err());
    /// ```
    pub fn min_calls(mut self, n: u32) -> Self {
        self.config.min_calls = n;
        self
    }

    /// How long each trip keeps the breaker open; the attempt number is the trips in a row,
    /// from 0, reset when it closes.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use bulwark_breaker::BreakerLayer;
    /// use bulwark_policy::Backoff;
    /// let b = BreakerLayer::builder().open_for(Backoff::constant(Duration::from_secs(30)));
    /// assert!(b.build().is_ok());
    /// ```
    pub fn open_for(mut self, backoff: Backoff) -> Self {
        self.config.open_for = backoff;
        self
    }

    /// At most `n` probes in flight while half-open (default 1).
    ///
    /// ```
    /// assert!(bulwark_breaker::BreakerLayer::builder().half_open_probes(0).build().is_err());
    /// ```
    pub fn half_open_probes(mut self, n: u32) -> Self {
        self.config.half_open_probes = n;
        self
    }

    /// `k` successful probes close the breaker (default 1).
    ///
    /// ```
    /// assert!(bulwark_breaker::BreakerLayer::builder().half_open_successes(3).build().is_ok());
    /// ```
    pub fn half_open_successes(mut self, k: u32) -> Self {
        self.config.half_open_successes = k;
        self
    }

    /// Re-opens when half-open has not closed within `max`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert!(bulwark_breaker::BreakerLayer::builder().half_open_max_wait(Duration::from_secs(10)).build().is_ok());
    /// ```
    pub fn half_open_max_wait(mut self, max: Duration) -> Self {
        self.config.half_open_max_wait = Some(max);
        self
    }

    /// What `poll_ready` does while calls are rejected.
    ///
    /// ```
    /// use bulwark_breaker::{BreakerLayer, Mode};
    /// assert!(BreakerLayer::builder().mode(Mode::Backpressure).build().is_ok());
    /// ```
    pub fn mode(mut self, mode: Mode) -> Self {
        self.config.mode = mode;
        self
    }

    /// The same as `.mode(Mode::Backpressure)`.
    ///
    /// ```
    /// let layer = bulwark_breaker::BreakerLayer::builder().backpressure().build().unwrap();
    /// assert_eq!(layer.handle().config().mode, bulwark_breaker::Mode::Backpressure);
    /// ```
    pub fn backpressure(self) -> Self {
        self.mode(Mode::Backpressure)
    }

    /// Names the instance in its events (default `"breaker"`).
    ///
    /// ```
    /// let layer = bulwark_breaker::BreakerLayer::builder().name("db").build().unwrap();
    /// assert_eq!(layer.handle().name(), "db");
    /// ```
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.id.name = name.into();
        self
    }

    /// Reports every recorded call, rejection and transition to `hook`.
    ///
    /// ```
    /// use bulwark_policy::TracingHook;
    /// assert!(bulwark_breaker::BreakerLayer::builder().hook(TracingHook::new()).build().is_ok());
    /// ```
    pub fn hook(mut self, hook: impl Hook) -> Self {
        self.id.hook = SharedHook::new(hook);
        self
    }

    /// Reports to an already shared hook, so that several layers report through one `Arc`
    /// instead of wrapping it again. Replaces any [`hook`](Self::hook) set before.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use bulwark_breaker::BreakerLayer;
    /// use bulwark_policy::{Event, EventKind, FnHook, SharedHook};
    /// use tower::{service_fn, BoxError, Layer, ServiceExt};
    ///
    /// let calls = Arc::new(AtomicU32::new(0));
    /// let counter = calls.clone();
    /// let hook = SharedHook::new(FnHook::new(move |e: &Event<'_>| {
    ///     if matches!(e.kind(), EventKind::BreakerCall { .. }) {
    ///         counter.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// }));
    /// // Two breakers, one hook.
    /// for name in ["users", "orders"] {
    ///     let layer = BreakerLayer::builder().name(name).shared_hook(hook.clone()).build().unwrap();
    ///     let svc = layer.layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
    ///     assert_eq!(svc.oneshot(1).await.unwrap(), 1);
    /// }
    /// assert_eq!(calls.load(Ordering::Relaxed), 2);
    /// # }
    /// ```
    pub fn shared_hook(mut self, hook: SharedHook) -> Self {
        self.id.hook = hook;
        self
    }

    /// Seeds the jitter of the open period, so a test sees the same periods every run.
    ///
    /// ```
    /// assert!(bulwark_breaker::BreakerLayer::builder().seed(7).build().is_ok());
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.id.seed = Some(seed);
        self
    }

    /// Decides what counts as a failure; the default is
    /// [`ErrorsAsFailures`](bulwark_policy::ErrorsAsFailures).
    ///
    /// ```
    /// use bulwark_breaker::BreakerLayer;
    /// use bulwark_policy::{Failure, FailureKind, Outcome};
    ///
    /// // A 4xx says nothing about the upstream's health; a 5xx is a failure.
    /// let layer = BreakerLayer::builder()
    ///     .classify(|r: &Result<u16, std::io::Error>| match r {
    ///         Ok(s) if *s >= 500 => Outcome::Failure(Failure::new(FailureKind::Status)),
    ///         Ok(s) if *s >= 400 => Outcome::Ignore,
    ///         Ok(_) => Outcome::Success,
    ///         Err(_) => Outcome::Failure(Failure::new(FailureKind::Error)),
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # drop(layer);
    /// ```
    pub fn classify<C2>(self, classify: C2) -> BreakerBuilder<C2> {
        BreakerBuilder {
            config: self.config,
            id: self.id,
            classify,
            max_keys: self.max_keys,
            idle_timeout: self.idle_timeout,
        }
    }

    /// For a keyed breaker: at most `n` keys (default 1024). A new key beyond that evicts the
    /// closed key idle the longest; if every key must be kept (see
    /// [`KeyedBreakerLayer`]), the new key's calls share the overflow breaker.
    ///
    /// ```
    /// let b = bulwark_breaker::BreakerLayer::builder().max_keys(0);
    /// assert!(b.build_keyed(|k: &u8| *k).is_err());
    /// ```
    pub fn max_keys(mut self, n: usize) -> Self {
        self.max_keys = n;
        self
    }

    /// For a keyed breaker: closed keys unused for `idle` are evicted when a new key arrives
    /// (default 10 minutes).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = bulwark_breaker::BreakerLayer::builder().idle_timeout(Duration::from_secs(60));
    /// assert!(b.build_keyed(|k: &u8| *k).is_ok());
    /// ```
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// Validates and builds the layer.
    ///
    /// ```
    /// use bulwark_breaker::BreakerLayer;
    ///
    /// let err = BreakerLayer::builder().failure_rate(0.5).build().unwrap_err();
    /// assert_eq!(err.field(), "count_window");
    /// ```
    pub fn build(self) -> Result<BreakerLayer<C>, ConfigError> {
        self.config.validate()?;
        Ok(BreakerLayer {
            shared: Shared::new(self.config, &self.id, None),
            classify: self.classify,
        })
    }

    /// Validates and builds a layer with one breaker per key, each with this config; `key`
    /// picks the key of each request.
    ///
    /// ```
    /// use bulwark_breaker::BreakerLayer;
    ///
    /// let layer = BreakerLayer::builder()
    ///     .consecutive_failures(3)
    ///     .max_keys(100)
    ///     .build_keyed(|req: &http::Request<()>| req.uri().authority().map(|a| a.to_string()).unwrap_or_default())
    ///     .unwrap();
    /// assert!(layer.handle().is_empty());
    /// ```
    pub fn build_keyed<Req, K, F>(self, key: F) -> Result<KeyedBreakerLayer<K, F, C>, ConfigError>
    where
        F: Fn(&Req) -> K,
        K: Clone + Hash + Eq + fmt::Display + Send + Sync + 'static,
    {
        self.config.validate()?;
        if self.max_keys == 0 {
            return Err(ConfigError::new("max_keys", "must be at least 1"));
        }
        let keys = KeyMap::new(self.config, self.id, self.max_keys, self.idle_timeout);
        Ok(KeyedBreakerLayer {
            keys: Arc::new(keys),
            key,
            classify: self.classify,
        })
    }
}

/// One breaker per key — per host, per route — as a tower layer.
///
/// The breakers live in a bounded map shared by every service the layer wraps, of at most
/// [`max_keys`](BreakerBuilder::max_keys) keys. Only a key that remembers nothing worth keeping
/// is ever evicted: its breaker is closed (not open, half-open, or set by hand through its
/// handle) and no call of it is in flight. Such a key unused for the
/// [idle timeout](BreakerBuilder::idle_timeout) is evicted when a new key arrives, and when the
/// map is full the idlest such key makes room. So a host that is down stays known to be down.
///
/// When the map is full of keys it must keep, a new key is not stored: its calls go through
/// one shared *overflow* breaker ([`KeyedHandle::overflow`]), whose events carry the key
/// `<overflow>`, until a stored key can make room; the map looks for room at most once every
/// 100 ms, so these calls take only the read lock in between. Memory stays bounded by `max_keys + 1`
/// breakers whatever the keys, and a flood of new keys that fail trips the overflow breaker, not
/// the stored ones. Events carry the key ([`Event::key`](bulwark_policy::Event::key)), and
/// [`handle`](Self::handle) reaches each key's breaker.
///
/// A keyed breaker only knows the key once it sees the request, so it always fails fast: its
/// `poll_ready` is the inner service's, and `call` rejects a request whose key is open.
///
/// Cost: a call finds its key's breaker under the map's read lock, and reads the clock to mark
/// the key used; it takes no other lock. A new key takes the write lock and looks over the map
/// for a key to evict.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use bulwark_breaker::BreakerLayer;
/// use tower::{service_fn, BoxError, Layer, ServiceExt};
///
/// let layer = BreakerLayer::keyed(|(host, _): &(&'static str, u32)| *host);
/// let svc = layer.layer(service_fn(|(_, n): (&str, u32)| async move { Ok::<_, BoxError>(n) }));
/// assert_eq!(svc.clone().oneshot(("a", 1)).await.unwrap(), 1);
/// assert_eq!(svc.oneshot(("b", 2)).await.unwrap(), 2);
/// let mut keys = layer.handle().keys();
/// keys.sort();
/// assert_eq!(keys, ["a", "b"]);
/// # }
/// ```
pub struct KeyedBreakerLayer<K, F, C = ErrorsAsFailures> {
    keys: Arc<KeyMap<K>>,
    key: F,
    classify: C,
}

impl<K, F: Clone, C: Clone> Clone for KeyedBreakerLayer<K, F, C> {
    fn clone(&self) -> Self {
        Self {
            keys: self.keys.clone(),
            key: self.key.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<K, F, C> fmt::Debug for KeyedBreakerLayer<K, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBreakerLayer").finish_non_exhaustive()
    }
}

impl<K, F, C> KeyedBreakerLayer<K, F, C> {
    /// A handle on every key's breaker.
    ///
    /// ```
    /// let layer = bulwark_breaker::BreakerLayer::keyed(|k: &u8| *k);
    /// assert_eq!(layer.handle().len(), 0);
    /// ```
    pub fn handle(&self) -> KeyedHandle<K> {
        KeyedHandle::new(self.keys.clone())
    }
}

impl<S, K, F: Clone, C: Clone> Layer<S> for KeyedBreakerLayer<K, F, C> {
    type Service = KeyedBreaker<S, K, F, C>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedBreaker::new(
            inner,
            self.keys.clone(),
            self.key.clone(),
            self.classify.clone(),
        )
    }
}

//! Handles: reading, steering and reconfiguring a running breaker.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use bulwark_policy::{BreakerState, ConfigError};
use tokio::sync::watch;

use crate::config::BreakerConfig;
use crate::service::keyed::KeyMap;
use crate::state::Shared;
use crate::window::Counts;

/// What a window holds at the moment of a [`Snapshot`].
///
/// ```
/// use bulwark_breaker::WindowCounts;
///
/// let w = WindowCounts { calls: 10, failures: 5, slow_calls: 1 };
/// assert_eq!(w.failure_rate(), 0.5);
/// assert_eq!(w.slow_call_rate(), 0.1);
/// assert_eq!(WindowCounts::default().failure_rate(), 0.0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowCounts {
    /// Calls recorded (ignored calls are not).
    pub calls: u64,
    /// Of those, the failures.
    pub failures: u64,
    /// Of those, the slow ones.
    pub slow_calls: u64,
}

impl WindowCounts {
    /// `failures / calls`, or 0 with no calls.
    ///
    /// ```
    /// let w = bulwark_breaker::WindowCounts { calls: 4, failures: 1, slow_calls: 0 };
    /// assert_eq!(w.failure_rate(), 0.25);
    /// ```
    pub fn failure_rate(&self) -> f64 {
        ratio(self.failures, self.calls)
    }

    /// `slow_calls / calls`, or 0 with no calls.
    ///
    /// ```
    /// let w = bulwark_breaker::WindowCounts { calls: 4, failures: 0, slow_calls: 2 };
    /// assert_eq!(w.slow_call_rate(), 0.5);
    /// ```
    pub fn slow_call_rate(&self) -> f64 {
        ratio(self.slow_calls, self.calls)
    }
}

fn ratio(n: u64, d: u64) -> f64 {
    if d == 0 {
        0.0
    } else {
        n as f64 / d as f64
    }
}

impl From<Counts> for WindowCounts {
    fn from(c: Counts) -> Self {
        Self {
            calls: c.calls,
            failures: c.failures,
            slow_calls: c.slow,
        }
    }
}

/// A breaker's state and counts at one moment.
///
/// ```
/// # use bulwark_breaker::BreakerLayer;
/// use bulwark_policy::BreakerState;
///
/// let layer = BreakerLayer::builder().failure_rate(0.5).count_window(20).build().unwrap();
/// let snapshot = layer.handle().snapshot();
/// assert_eq!(snapshot.state, BreakerState::Closed);
/// assert_eq!(snapshot.count_window.unwrap().calls, 0);
/// assert_eq!(snapshot.time_window, None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The current state.
    pub state: BreakerState,
    /// Failures in a row, as the consecutive-failure policy counts them.
    pub consecutive_failures: u32,
    /// Trips since the breaker last closed; the open period grows with it.
    pub trips: u32,
    /// The count window, if configured.
    pub count_window: Option<WindowCounts>,
    /// The time window, if configured.
    pub time_window: Option<WindowCounts>,
}

/// Reads and steers one breaker: its state, its transitions, its counts and its config.
///
/// Obtained from [`BreakerLayer::handle`](crate::BreakerLayer::handle) or, for one key of a keyed
/// breaker, from [`KeyedHandle::get`]. Cheap to clone; every clone steers the same breaker.
///
/// The forced states hold until [`reset`](Self::reset), which closes the breaker with empty
/// windows and a fresh open period.
///
/// ```
/// use bulwark_breaker::BreakerLayer;
/// use bulwark_policy::BreakerState;
///
/// let layer = BreakerLayer::builder().build().unwrap();
/// let handle = layer.handle();
/// let mut changes = handle.subscribe();
/// handle.force_open();
/// assert_eq!(handle.state(), BreakerState::ForcedOpen);
/// assert_eq!(*changes.borrow_and_update(), BreakerState::ForcedOpen);
/// handle.reset();
/// assert_eq!(handle.state(), BreakerState::Closed);
/// ```
#[derive(Clone)]
pub struct BreakerHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for BreakerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BreakerHandle").field(&self.shared).finish()
    }
}

impl BreakerHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// The current state.
    ///
    /// ```
    /// # let handle = bulwark_breaker::BreakerLayer::builder().build().unwrap().handle();
    /// assert!(!handle.state().rejects());
    /// ```
    pub fn state(&self) -> BreakerState {
        self.shared.engine().state.state()
    }

    /// The instance's name, as given to [`name`](crate::BreakerBuilder::name).
    ///
    /// ```
    /// # use bulwark_breaker::BreakerLayer;
    /// let layer = BreakerLayer::builder().name("payments").build().unwrap();
    /// assert_eq!(layer.handle().name(), "payments");
    /// ```
    pub fn name(&self) -> String {
        self.shared.engine().state.name().to_owned()
    }

    /// A receiver that sees every transition. The channel is written only on transitions, never
    /// on the call path.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let handle = bulwark_breaker::BreakerLayer::builder().build().unwrap().handle();
    /// use bulwark_policy::BreakerState;
    ///
    /// let mut rx = handle.subscribe();
    /// handle.disable();
    /// rx.changed().await.unwrap();
    /// assert_eq!(*rx.borrow(), BreakerState::Disabled);
    /// # }
    /// ```
    pub fn subscribe(&self) -> watch::Receiver<BreakerState> {
        self.shared.engine().state.subscribe()
    }

    /// Rejects every call until [`reset`](Self::reset).
    ///
    /// ```
    /// # let handle = bulwark_breaker::BreakerLayer::builder().build().unwrap().handle();
    /// handle.force_open();
    /// assert!(handle.state().rejects());
    /// ```
    pub fn force_open(&self) {
        self.shared.engine().force(BreakerState::ForcedOpen);
    }

    /// Lets every call through and records nothing until [`reset`](Self::reset); hooks still
    /// see the calls.
    ///
    /// ```
    /// # let handle = bulwark_breaker::BreakerLayer::builder().build().unwrap().handle();
    /// handle.force_closed();
    /// assert_eq!(handle.state(), bulwark_policy::BreakerState::ForcedClosed);
    /// ```
    pub fn force_closed(&self) {
        self.shared.engine().force(BreakerState::ForcedClosed);
    }

    /// Turns the breaker off: every call flows, nothing is recorded and no event is sent.
    ///
    /// ```
    /// # let handle = bulwark_breaker::BreakerLayer::builder().build().unwrap().handle();
    /// handle.disable();
    /// assert_eq!(handle.state(), bulwark_policy::BreakerState::Disabled);
    /// ```
    pub fn disable(&self) {
        self.shared.engine().force(BreakerState::Disabled);
    }

    /// Every call flows; outcomes are recorded in the windows and reported, but never trip it.
    /// A way to try a configuration on live traffic.
    ///
    /// ```
    /// # let handle = bulwark_breaker::BreakerLayer::builder().build().unwrap().handle();
    /// handle.metrics_only();
    /// assert_eq!(handle.state(), bulwark_policy::BreakerState::MetricsOnly);
    /// ```
    pub fn metrics_only(&self) {
        self.shared.engine().force(BreakerState::MetricsOnly);
    }

    /// Closes the breaker, empties its windows and forgets its trips, from any state.
    ///
    /// ```
    /// # let handle = bulwark_breaker::BreakerLayer::builder().build().unwrap().handle();
    /// handle.metrics_only();
    /// handle.reset();
    /// assert_eq!(handle.state(), bulwark_policy::BreakerState::Closed);
    /// ```
    pub fn reset(&self) {
        self.shared.engine().force(BreakerState::Closed);
    }

    /// The state and the counts now.
    ///
    /// ```
    /// # let handle = bulwark_breaker::BreakerLayer::builder().build().unwrap().handle();
    /// assert_eq!(handle.snapshot().consecutive_failures, 0);
    /// ```
    pub fn snapshot(&self) -> Snapshot {
        self.shared.engine().snapshot()
    }

    /// The config in force.
    ///
    /// ```
    /// # let handle = bulwark_breaker::BreakerLayer::builder().build().unwrap().handle();
    /// assert_eq!(handle.config().consecutive_failures, Some(5));
    /// ```
    pub fn config(&self) -> BreakerConfig {
        self.shared.engine().config().clone()
    }

    /// Replaces the config at run time, after validating it.
    ///
    /// The state, the trip count and the consecutive failures carry over; the windows start
    /// empty. Calls already in flight finish under the config they started with.
    ///
    /// ```
    /// use bulwark_breaker::{BreakerConfig, BreakerLayer};
    ///
    /// let handle = BreakerLayer::builder().build().unwrap().handle();
    /// let config = BreakerConfig { consecutive_failures: Some(3), ..handle.config() };
    /// handle.reconfigure(config).unwrap();
    /// assert_eq!(handle.config().consecutive_failures, Some(3));
    /// let nonsense = BreakerConfig { half_open_probes: 0, ..handle.config() };
    /// assert!(handle.reconfigure(nonsense).is_err());
    /// ```
    pub fn reconfigure(&self, config: BreakerConfig) -> Result<(), ConfigError> {
        self.shared.reconfigure(config)
    }
}

/// Reads and steers the breakers of a keyed layer, one per key.
///
/// ```
/// use bulwark_breaker::BreakerLayer;
///
/// let layer = BreakerLayer::keyed(|host: &&'static str| *host);
/// let handle = layer.handle();
/// assert!(handle.is_empty());
/// assert!(handle.get(&"db-1").is_none());
/// ```
pub struct KeyedHandle<K> {
    keys: Arc<KeyMap<K>>,
}

impl<K> Clone for KeyedHandle<K> {
    fn clone(&self) -> Self {
        Self {
            keys: self.keys.clone(),
        }
    }
}

impl<K> fmt::Debug for KeyedHandle<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedHandle").finish_non_exhaustive()
    }
}

impl<K> KeyedHandle<K> {
    pub(crate) fn new(keys: Arc<KeyMap<K>>) -> Self {
        Self { keys }
    }
}

impl<K: Clone + Hash + Eq> KeyedHandle<K> {
    /// The keys that have a breaker now.
    ///
    /// ```
    /// # let handle = bulwark_breaker::BreakerLayer::keyed(|k: &u8| *k).handle();
    /// assert!(handle.keys().is_empty());
    /// ```
    pub fn keys(&self) -> Vec<K> {
        self.keys.keys()
    }

    /// How many keys have a breaker.
    ///
    /// ```
    /// # let handle = bulwark_breaker::BreakerLayer::keyed(|k: &u8| *k).handle();
    /// assert_eq!(handle.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key has a breaker.
    ///
    /// ```
    /// # let handle = bulwark_breaker::BreakerLayer::keyed(|k: &u8| *k).handle();
    /// assert!(handle.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The handle of `key`'s breaker, if it has one. A handle kept after its key was evicted
    /// steers a breaker that calls no longer use; a key set by hand is never evicted.
    ///
    /// ```
    /// # let handle = bulwark_breaker::BreakerLayer::keyed(|k: &u8| *k).handle();
    /// assert!(handle.get(&7).is_none());
    /// ```
    pub fn get(&self, key: &K) -> Option<BreakerHandle> {
        self.keys.get(key).map(BreakerHandle::new)
    }

    /// The overflow breaker: the one shared by the calls whose key found the map full of keys
    /// it must keep (open, half-open, set by hand, or with a call in flight). Its events carry
    /// the key `<overflow>`.
    ///
    /// ```
    /// # let handle = bulwark_breaker::BreakerLayer::keyed(|k: &u8| *k).handle();
    /// assert_eq!(handle.overflow().state(), bulwark_policy::BreakerState::Closed);
    /// ```
    pub fn overflow(&self) -> BreakerHandle {
        BreakerHandle::new(self.keys.overflow())
    }

    /// Replaces the config of every key's breaker, of the overflow breaker, and of those created
    /// from now on.
    ///
    /// ```
    /// use bulwark_breaker::BreakerConfig;
    /// # let handle = bulwark_breaker::BreakerLayer::keyed(|k: &u8| *k).handle();
    /// handle.reconfigure(BreakerConfig { consecutive_failures: Some(2), ..BreakerConfig::default() }).unwrap();
    /// ```
    pub fn reconfigure(&self, config: BreakerConfig) -> Result<(), ConfigError> {
        self.keys.reconfigure(config)
    }
}

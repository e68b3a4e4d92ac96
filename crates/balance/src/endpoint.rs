//! The state every clone of one balancer shares: the endpoint list and each endpoint's counters.
//!
//! The list is an `Arc<Vec<..>>` replaced whole on every change, with a version number beside
//! it. A balancer clone keeps its own copy of the `Arc` and looks at the version (one atomic
//! load) before each pick, so the mutex around the list is taken only when the list changed,
//! and never across a call.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Wake, Waker};

use bulwark_policy::{Rng, SharedHook};
use tokio::time::Instant;

use crate::discover::ErasedDiscover;
use crate::outlier::{Health, OutlierDetection};
use crate::strategy::{Ewma, Strategy};

/// One endpoint: its key, the service every balancer clone copies, and its shared counters.
pub(crate) struct Endpoint<K, S> {
    /// Unique within one balancer, never 0; what [`LastEndpoint`](crate::LastEndpoint) records.
    pub(crate) id: u64,
    pub(crate) key: K,
    pub(crate) service: S,
    pub(crate) cluster: Arc<Cluster>,
    /// Requests sent and not yet answered or dropped.
    pub(crate) pending: AtomicUsize,
    pub(crate) weight: AtomicU32,
    /// Smooth weighted round robin's running weight; only touched under `Shared::wrr`.
    pub(crate) current_weight: AtomicI64,
    pub(crate) removed: AtomicBool,
    pub(crate) ewma: Ewma,
    pub(crate) health: Health,
}

impl<K: fmt::Debug, S> fmt::Debug for Endpoint<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("key", &self.key)
            .field("pending", &self.pending.load(Ordering::Relaxed))
            .field("weight", &self.weight.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<K, S> Endpoint<K, S> {
    #[inline]
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Relaxed)
    }
}

/// What the endpoints of one balancer share that does not depend on their type: the
/// configuration, the hook, the clock's origin and the ejection count.
pub(crate) struct Cluster {
    pub(crate) name: Arc<str>,
    pub(crate) hook: SharedHook,
    pub(crate) epoch: Instant,
    pub(crate) outlier: Option<OutlierDetection>,
    /// How many endpoints are ejected now.
    pub(crate) ejected: AtomicUsize,
    /// How many endpoints the list holds.
    pub(crate) total: AtomicUsize,
    /// The earliest instant (nanoseconds since `epoch`) an ejection may end.
    pub(crate) next_expiry: AtomicU64,
    /// Jitter for ejection times; taken only when an endpoint is ejected.
    pub(crate) rng: Mutex<Rng>,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("name", &self.name)
            .field("ejected", &self.ejected.load(Ordering::Relaxed))
            .field("total", &self.total.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Nanoseconds since the balancer was built, on tokio's clock.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        nanos(Instant::now().saturating_duration_since(self.epoch))
    }
}

pub(crate) fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) type List<K, S> = Arc<Vec<Arc<Endpoint<K, S>>>>;

/// The tasks of balancer clones waiting for the endpoint list to change.
///
/// The discovery stream is polled with a waker made from this list, so an item wakes every
/// waiting clone, not only the one that happened to poll the stream last (which may be gone).
#[derive(Debug, Default)]
pub(crate) struct Waiters(Mutex<Vec<Waker>>);

impl Waiters {
    pub(crate) fn register(&self, waker: &Waker) {
        let mut waiters = lock(&self.0);
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
        }
    }

    pub(crate) fn wake_all(&self) {
        let waiters = std::mem::take(&mut *lock(&self.0));
        for w in waiters {
            w.wake();
        }
    }
}

impl Wake for Waiters {
    fn wake(self: Arc<Self>) {
        self.wake_all();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_all();
    }
}

/// One balancer, shared by all its clones and handles.
pub(crate) struct Shared<K, S> {
    pub(crate) cluster: Arc<Cluster>,
    pub(crate) strategy: Strategy,
    list: Mutex<List<K, S>>,
    version: AtomicU64,
    /// Round robin's position.
    pub(crate) cursor: AtomicUsize,
    /// Serialises smooth weighted round robin's O(n) update, held for one pick only.
    pub(crate) wrr: Mutex<()>,
    next_id: AtomicU64,
    seed: u64,
    clones: AtomicU64,
    pub(crate) discover: Option<Mutex<Option<ErasedDiscover<K, S>>>>,
    pub(crate) waiters: Arc<Waiters>,
    /// Wakes every waiter; what the discovery stream is polled with.
    pub(crate) discover_waker: Waker,
}

impl<K: fmt::Debug, S> fmt::Debug for Shared<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("cluster", &self.cluster)
            .field("strategy", &self.strategy)
            .field("endpoints", &*lock(&self.list))
            .finish_non_exhaustive()
    }
}

impl<K, S> Shared<K, S> {
    pub(crate) fn new(
        cluster: Cluster,
        strategy: Strategy,
        seed: u64,
        discover: Option<ErasedDiscover<K, S>>,
    ) -> Self {
        let waiters = Arc::new(Waiters::default());
        Self {
            cluster: Arc::new(cluster),
            strategy,
            list: Mutex::new(Arc::new(Vec::new())),
            version: AtomicU64::new(0),
            cursor: AtomicUsize::new(0),
            wrr: Mutex::new(()),
            next_id: AtomicU64::new(1),
            seed,
            clones: AtomicU64::new(0),
            discover: discover.map(|d| Mutex::new(Some(d))),
            discover_waker: Waker::from(waiters.clone()),
            waiters,
        }
    }

    /// The version of the list; it changes whenever the list does.
    #[inline]
    pub(crate) fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The list and its version, read together.
    pub(crate) fn snapshot(&self) -> (List<K, S>, u64) {
        let list = lock(&self.list);
        (list.clone(), self.version.load(Ordering::Acquire))
    }

    /// A generator for a new balancer clone: distinct per clone, the same across runs for one
    /// seed and one order of cloning.
    pub(crate) fn clone_rng(&self) -> Rng {
        let n = self.clones.fetch_add(1, Ordering::Relaxed);
        let mut mix = Rng::new(self.seed ^ n.rotate_left(32));
        Rng::new(mix.next_u64() ^ n)
    }

    fn change(&self, f: impl FnOnce(&mut Vec<Arc<Endpoint<K, S>>>) -> bool) -> bool {
        let mut list = lock(&self.list);
        let mut next = Vec::clone(&list);
        if !f(&mut next) {
            return false;
        }
        self.cluster.total.store(next.len(), Ordering::Relaxed);
        *list = Arc::new(next);
        self.version.fetch_add(1, Ordering::Release);
        drop(list);
        self.waiters.wake_all();
        true
    }

    fn retire(&self, ep: &Endpoint<K, S>) {
        ep.removed.store(true, Ordering::Relaxed);
        if ep.health.clear_ejection() {
            self.cluster.ejected.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl<K: PartialEq, S> Shared<K, S> {
    /// Adds an endpoint, replacing any with the same key.
    pub(crate) fn insert(&self, key: K, service: S, weight: u32) {
        let ep = Arc::new(Endpoint {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            key,
            service,
            cluster: self.cluster.clone(),
            pending: AtomicUsize::new(0),
            weight: AtomicU32::new(weight),
            current_weight: AtomicI64::new(0),
            removed: AtomicBool::new(false),
            ewma: Ewma::new(&self.strategy),
            health: Health::new(),
        });
        self.change(|list| {
            if let Some(i) = list.iter().position(|e| e.key == ep.key) {
                self.retire(&list[i]);
                list[i] = ep;
            } else {
                list.push(ep);
            }
            true
        });
    }

    /// Removes the endpoint with `key`; whether there was one.
    pub(crate) fn remove(&self, key: &K) -> bool {
        self.change(|list| match list.iter().position(|e| e.key == *key) {
            Some(i) => {
                self.retire(&list.remove(i));
                true
            }
            None => false,
        })
    }

    /// Removes this very endpoint, if it is still listed (its `poll_ready` failed).
    pub(crate) fn remove_endpoint(&self, id: u64) -> bool {
        self.change(|list| match list.iter().position(|e| e.id == id) {
            Some(i) => {
                self.retire(&list.remove(i));
                true
            }
            None => false,
        })
    }

    pub(crate) fn set_weight(&self, key: &K, weight: u32) -> bool {
        let list = lock(&self.list);
        match list.iter().find(|e| e.key == *key) {
            Some(ep) => {
                ep.weight.store(weight, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }
}

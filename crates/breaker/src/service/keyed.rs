//! [`KeyedBreaker`] and the bounded map of per-key breakers behind it.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::atomic::Ordering::Acquire;
use std::sync::{Arc, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bulwark_policy::{BoxError, BreakerState, Classify, ConfigError};
use tokio::time::Instant;
use tower_service::Service;

use crate::config::BreakerConfig;
use crate::future::ResponseFuture;
use crate::handle::KeyedHandle;
use crate::state::{Engine, Identity, Shared};
use crate::sync::{fence, Mutex, RwLock};

/// What a keyed breaker's events carry as their key when the call went to the overflow
/// breaker.
pub(crate) const OVERFLOW_KEY: &str = "<overflow>";

/// How long a map found full of keys it must keep sends new keys straight to the overflow
/// breaker, under the read lock, before a call looks for room again under the write lock.
const FULL_RECHECK: Duration = Duration::from_millis(100);

/// One key's breaker, with its current engine cached so that a call takes no lock but the map's
/// read lock. A reconfiguration through a handle makes the cache stale; the next call for the
/// key refreshes it under the write lock.
struct Entry {
    shared: Arc<Shared>,
    engine: Arc<Engine>,
}

impl Entry {
    fn new(shared: Arc<Shared>) -> Self {
        let engine = shared.engine();
        Self { shared, engine }
    }

    fn refresh(&mut self) -> &Arc<Engine> {
        if self.engine.is_stale() {
            self.engine = self.shared.engine();
        }
        &self.engine
    }

    /// Whether forgetting this key loses nothing worth keeping: its breaker is plainly closed
    /// (not open, half-open or set by hand) and no call holds or is about to take its engine.
    /// Called with the map's write lock held, so no call can find the engine meanwhile. (A call
    /// admitted before the key was reconfigured holds the engine it replaced, and is not seen.)
    fn evictable(&mut self) -> bool {
        let engine = self.refresh().clone();
        if engine.state.state() != BreakerState::Closed {
            return false;
        }
        // The engine's references: `engine` above, this entry's cache and the breaker's own;
        // any more is a call between finding the engine and making its ticket (or a handle).
        if Arc::strong_count(&engine) > 3 {
            return false;
        }
        // Pairs with the release of the reference a finished call dropped, so that the ticket
        // it made before is seen too.
        fence(Acquire);
        engine.no_call_in_flight()
    }
}

/// The map proper: the keys' breakers, and the overflow breaker for keys that found no room.
struct Keys<K> {
    entries: HashMap<K, Entry>,
    overflow: Entry,
    /// Set when the map was last found full of keys it must keep: until then, a key that is
    /// not in the map goes to the overflow breaker without taking the write lock.
    full_until: Option<Instant>,
}

/// The breakers of a keyed layer, one per key, at most `max_keys` of them, and one overflow
/// breaker for the keys that find the map full of keys it must keep.
pub(crate) struct KeyMap<K> {
    map: RwLock<Keys<K>>,
    config: Mutex<BreakerConfig>,
    id: Identity,
    max_keys: usize,
    idle_timeout: Duration,
}

impl<K> KeyMap<K> {
    pub(crate) fn new(
        config: BreakerConfig,
        id: Identity,
        max_keys: usize,
        idle_timeout: Duration,
    ) -> Self {
        let overflow = Shared::new(config.clone(), &id, Some(Box::new(OVERFLOW_KEY)));
        Self {
            map: RwLock::new(Keys {
                entries: HashMap::new(),
                overflow: Entry::new(overflow),
                full_until: None,
            }),
            config: Mutex::new(config),
            id,
            max_keys,
            idle_timeout,
        }
    }

    pub(crate) fn overflow(&self) -> Arc<Shared> {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .overflow
            .shared
            .clone()
    }
}

impl<K: Clone + Hash + Eq> KeyMap<K> {
    pub(crate) fn keys(&self) -> Vec<K> {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .keys()
            .cloned()
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .len()
    }

    pub(crate) fn get(&self, key: &K) -> Option<Arc<Shared>> {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .get(key)
            .map(|e| e.shared.clone())
    }

    pub(crate) fn reconfigure(&self, config: BreakerConfig) -> Result<(), ConfigError> {
        config.validate()?;
        let mut template = self.config.lock().unwrap_or_else(PoisonError::into_inner);
        let mut keys = self.map.write().unwrap_or_else(PoisonError::into_inner);
        for entry in keys.entries.values_mut() {
            entry.shared.reconfigure(config.clone())?;
            entry.refresh();
        }
        keys.overflow.shared.reconfigure(config.clone())?;
        keys.overflow.refresh();
        keys.full_until = None;
        *template = config;
        Ok(())
    }
}

impl<K: Clone + Hash + Eq + fmt::Display + Send + Sync + 'static> KeyMap<K> {
    /// The engine of `key`'s breaker, made if it has none; marks the key as used. The usual
    /// path takes the map's read lock and nothing else: for a key in the map, and for a key
    /// that is not while the map is known to be full of keys it must keep.
    fn engine(&self, key: K, now: Instant) -> Arc<Engine> {
        let found = {
            let keys = self.map.read().unwrap_or_else(PoisonError::into_inner);
            let entry = match keys.entries.get(&key) {
                Some(entry) => Some(entry),
                None if keys.full_until.is_some_and(|until| now < until) => Some(&keys.overflow),
                None => None,
            };
            entry
                .filter(|e| !e.engine.is_stale())
                .map(|e| e.engine.clone())
        };
        let engine = found.unwrap_or_else(|| self.insert(key, now));
        engine.state.touch(now);
        engine
    }

    /// Under the write lock: refreshes a stale entry, or makes room and adds the key. Only keys
    /// that [`Entry::evictable`] allows are evicted: those idle past the timeout, then, if the
    /// map is still full, the idlest. With no room to make, the call goes to the overflow
    /// breaker and the key is not stored, and so do the calls of keys not in the map for the
    /// next [`FULL_RECHECK`].
    #[cold]
    fn insert(&self, key: K, now: Instant) -> Arc<Engine> {
        let config = self
            .config
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut keys = self.map.write().unwrap_or_else(PoisonError::into_inner);
        let keys = &mut *keys;
        if let Some(entry) = keys.entries.get_mut(&key) {
            return entry.refresh().clone();
        }
        let map = &mut keys.entries;
        let idle = |e: &Entry| e.engine.state.idle_for(now);
        map.retain(|_, e| idle(e) < self.idle_timeout || !e.evictable());
        if map.len() >= self.max_keys {
            let idlest = map
                .iter_mut()
                .filter_map(|(k, e)| e.evictable().then(|| (idle(e), k)))
                .max_by_key(|(idle, _)| *idle)
                .map(|(_, k)| k.clone());
            match idlest {
                Some(k) => {
                    map.remove(&k);
                }
                None => {
                    keys.full_until = Some(now + FULL_RECHECK);
                    return keys.overflow.refresh().clone();
                }
            }
        }
        keys.full_until = None;
        let entry = Entry::new(Shared::new(config, &self.id, Some(Box::new(key.clone()))));
        let engine = entry.engine.clone();
        map.insert(key, entry);
        engine
    }
}

/// A service guarded by one circuit breaker per key; made by
/// [`KeyedBreakerLayer`](crate::KeyedBreakerLayer).
///
/// Its `poll_ready` is the inner service's: the key is known only in `call`, which rejects at
/// once when that key's breaker is open. A call finds its key's breaker under the map's read
/// lock, and reads the clock to mark the key used.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use bulwark_breaker::{BreakerLayer, Rejected};
/// use tower::{service_fn, BoxError, Layer, ServiceExt};
///
/// let layer = BreakerLayer::keyed(|host: &&'static str| *host);
/// let svc = layer.layer(service_fn(|host: &'static str| async move { Ok::<_, BoxError>(host.len()) }));
/// svc.clone().oneshot("a.example").await.unwrap();
/// layer.handle().get(&"a.example").unwrap().force_open();
/// assert!(svc.clone().oneshot("a.example").await.unwrap_err().is::<Rejected>());
/// assert_eq!(svc.oneshot("b.example").await.unwrap(), 9);
/// # }
/// ```
pub struct KeyedBreaker<S, K, F, C> {
    inner: S,
    keys: Arc<KeyMap<K>>,
    key: F,
    classify: C,
}

impl<S, K, F, C> KeyedBreaker<S, K, F, C> {
    pub(crate) fn new(inner: S, keys: Arc<KeyMap<K>>, key: F, classify: C) -> Self {
        Self {
            inner,
            keys,
            key,
            classify,
        }
    }

    /// A handle on every key's breaker.
    ///
    /// ```
    /// # use tower::Layer;
    /// let svc = bulwark_breaker::BreakerLayer::keyed(|k: &u8| *k).layer(());
    /// assert!(svc.handle().is_empty());
    /// ```
    pub fn handle(&self) -> KeyedHandle<K> {
        KeyedHandle::new(self.keys.clone())
    }

    /// The inner service.
    ///
    /// ```
    /// # use tower::Layer;
    /// let svc = bulwark_breaker::BreakerLayer::keyed(|k: &u8| *k).layer(5u8);
    /// assert_eq!(*svc.get_ref(), 5);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// # use tower::Layer;
    /// let mut svc = bulwark_breaker::BreakerLayer::keyed(|k: &u8| *k).layer(5u8);
    /// *svc.get_mut() = 6;
    /// assert_eq!(*svc.get_ref(), 6);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    ///
    /// ```
    /// # use tower::Layer;
    /// let svc = bulwark_breaker::BreakerLayer::keyed(|k: &u8| *k).layer(5u8);
    /// assert_eq!(svc.into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, K, F: Clone, C: Clone> Clone for KeyedBreaker<S, K, F, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            keys: self.keys.clone(),
            key: self.key.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<S: fmt::Debug, K, F, C> fmt::Debug for KeyedBreaker<S, K, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBreaker")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, K, F, C, Req> Service<Req> for KeyedBreaker<S, K, F, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    K: Clone + Hash + Eq + fmt::Display + Send + Sync + 'static,
    F: Fn(&Req) -> K,
    C: Classify<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let engine = self.keys.engine((self.key)(&req), Instant::now());
        let admit = engine.admit(None);
        super::respond(
            &engine,
            admit,
            || self.inner.call(req),
            self.classify.clone(),
        )
    }
}

//! [`KeyedBreaker`] and the bounded map of per-key breakers behind it.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bulwark_policy::{BoxError, Classify, ConfigError};
use tokio::time::Instant;
use tower_service::Service;

use crate::config::BreakerConfig;
use crate::future::ResponseFuture;
use crate::handle::KeyedHandle;
use crate::state::{Admit, Engine, Identity, Shared};

/// The breakers of a keyed layer, one per key, at most `max_keys` of them.
pub(crate) struct KeyMap<K> {
    map: RwLock<HashMap<K, Arc<Shared>>>,
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
        Self {
            map: RwLock::default(),
            config: Mutex::new(config),
            id,
            max_keys,
            idle_timeout,
        }
    }
}

impl<K: Clone + Hash + Eq> KeyMap<K> {
    pub(crate) fn keys(&self) -> Vec<K> {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub(crate) fn get(&self, key: &K) -> Option<Arc<Shared>> {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    pub(crate) fn reconfigure(&self, config: BreakerConfig) -> Result<(), ConfigError> {
        config.validate()?;
        let mut template = self.config.lock().unwrap_or_else(PoisonError::into_inner);
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        for shared in map.values() {
            shared.reconfigure(config.clone())?;
        }
        *template = config;
        Ok(())
    }
}

impl<K: Clone + Hash + Eq + fmt::Display + Send + Sync + 'static> KeyMap<K> {
    /// The engine of `key`'s breaker, made if it has none; marks the key as used.
    fn engine(&self, key: K, now: Instant) -> Arc<Engine> {
        let found = self
            .map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        let engine = found.unwrap_or_else(|| self.insert(key, now)).engine();
        engine.state.touch(now);
        engine
    }

    #[cold]
    fn insert(&self, key: K, now: Instant) -> Arc<Shared> {
        let config = self
            .config
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(shared) = map.get(&key) {
            return shared.clone();
        }
        let idle = |s: &Arc<Shared>| s.engine().state.idle_for(now);
        map.retain(|_, s| idle(s) < self.idle_timeout);
        if map.len() >= self.max_keys {
            let idlest = map
                .iter()
                .max_by_key(|(_, s)| idle(s))
                .map(|(k, _)| k.clone());
            if let Some(k) = idlest {
                map.remove(&k);
            }
        }
        let shared = Shared::new(config, &self.id, Some(Box::new(key.clone())));
        map.insert(key, shared.clone());
        shared
    }
}

/// A service guarded by one circuit breaker per key; made by
/// [`KeyedBreakerLayer`](crate::KeyedBreakerLayer).
///
/// Its `poll_ready` is the inner service's: the key is known only in `call`, which rejects at
/// once when that key's breaker is open.
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
        match engine.admit(None) {
            Admit::Closed(word) => {
                let ticket = engine.ticket(word);
                ResponseFuture::called(self.inner.call(req), Some(ticket), self.classify.clone())
            }
            Admit::Probe(mut ticket) => {
                ticket.start();
                ResponseFuture::called(self.inner.call(req), Some(ticket), self.classify.clone())
            }
            Admit::Untracked => {
                ResponseFuture::called(self.inner.call(req), None, self.classify.clone())
            }
            // Not answered by `admit`, which takes the permit; refused, like a lost race.
            Admit::Free(_) => {
                engine.state.emit_rejected(None);
                ResponseFuture::rejected(None, self.classify.clone())
            }
            Admit::Reject(refusal) => {
                engine.state.emit_rejected(refusal.retry_after);
                ResponseFuture::rejected(refusal.retry_after, self.classify.clone())
            }
        }
    }
}

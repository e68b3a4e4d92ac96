//! Endpoints from a [`tower::discover::Discover`] stream.
//!
//! The stream is shared by every clone of the balancer, behind a mutex that is only ever
//! *tried*: whichever clone gets it in `poll_ready` drains the changes that are ready, and the
//! others go on with the list as it is, so discovery never makes a request wait. The stream is
//! polled with a waker that wakes every clone waiting for the list to change, so a clone that
//! is pending (no endpoint yet, or none ready) hears of a new endpoint at once.
//!
//! While the list is empty and the stream has not ended, `poll_ready` waits for discovery
//! rather than failing with `NoEndpoint`: at start-up, the first requests wait for the first
//! endpoints. Put a timeout around the balancer to bound that wait.
//!
//! `Insert` of a key already present replaces that endpoint; `Remove` takes it out of
//! rotation at once, while requests already sent to it finish normally. A discovery error
//! ends discovery (it is logged with `tracing`), and the endpoints found so far stay.

use std::fmt::Display;
use std::task::{Context, Poll};

use bulwark_policy::BoxError;
use tower::discover::{Change, Discover};
use tower_layer::Layer;

use crate::endpoint::Shared;

type PollChange<K, S> =
    dyn FnMut(&mut Context<'_>) -> Poll<Option<Result<Change<K, S>, BoxError>>> + Send;

/// A discovery stream with its service type mapped through the per-endpoint layer and its
/// type erased, so that the balancer's type does not name the stream's.
pub(crate) struct ErasedDiscover<K, S>(Box<PollChange<K, S>>);

impl<K, S> ErasedDiscover<K, S> {
    pub(crate) fn new<D, L>(discover: D, layer: L) -> Self
    where
        D: Discover<Key = K> + Send + 'static,
        D::Error: Into<BoxError>,
        L: Layer<D::Service, Service = S> + Send + 'static,
    {
        let mut discover = Box::pin(discover);
        Self(Box::new(move |cx| {
            discover.as_mut().poll_discover(cx).map(|change| {
                change.map(|r| {
                    r.map_err(Into::into).map(|c| match c {
                        Change::Insert(k, s) => Change::Insert(k, layer.layer(s)),
                        Change::Remove(k) => Change::Remove(k),
                    })
                })
            })
        }))
    }
}

impl<K: PartialEq + Display, S> Shared<K, S> {
    /// Applies every change the stream has ready, unless another clone is doing so; whether
    /// discovery may still bring endpoints.
    ///
    /// The stream is polled with the waiters' waker, so whatever it yields next wakes every
    /// clone that waits for the list to change.
    pub(crate) fn poll_discover(&self) -> bool {
        let Some(slot) = &self.discover else {
            return false;
        };
        let Ok(mut guard) = slot.try_lock() else {
            return true;
        };
        let mut cx = Context::from_waker(&self.discover_waker);
        while let Some(d) = guard.as_mut() {
            match (d.0)(&mut cx) {
                Poll::Pending => return true,
                Poll::Ready(Some(Ok(Change::Insert(key, svc)))) => self.insert(key, svc, 1),
                Poll::Ready(Some(Ok(Change::Remove(key)))) => {
                    self.remove(&key);
                }
                Poll::Ready(Some(Err(err))) => {
                    tracing::warn!(
                        balancer = %self.cluster.name,
                        error = %err,
                        "endpoint discovery failed; keeping the endpoints found so far"
                    );
                    *guard = None;
                }
                Poll::Ready(None) => *guard = None,
            }
        }
        false
    }
}

impl<K, S> std::fmt::Debug for ErasedDiscover<K, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ErasedDiscover")
    }
}

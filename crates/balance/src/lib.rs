//! `BalanceLayer`: spread requests over a set of endpoints, and take the sick ones out of
//! rotation.
//!
//! # Why another balancer
//!
//! tower's `p2c::Balance` is not `Clone`, so every user puts it behind a `Buffer` (a worker
//! task, plus a channel message and a semaphore permit per request); it has no outlier detection; and it keeps the index of
//! the endpoint it found ready across calls, which goes stale when discovery removes an
//! endpoint in between (tower#856). tonic's balanced `Channel` reports a load of 0 for every
//! endpoint, so its p2c degrades to random. This crate is a balancer that is `Clone` by
//! design, ejects outliers as Envoy and Finagle do, and is fed by the same
//! [`Classify`](bulwark_policy::Classify) as the rest of bulwark.
//!
//! # Choosing
//!
//! The default [`Strategy`] is the power of two choices: draw two endpoints at random and send
//! to the less loaded. Mitzenmacher's *The Power of Two Choices in Randomized Load Balancing*
//! (IEEE TPDS, 2001) shows that the second draw cuts the maximum load exponentially compared
//! with one random draw, while needing no global view that could go stale. Load is the number
//! of requests in flight, or a peak-EWMA latency estimate times it (Finagle's and Linkerd's
//! choice). Round robin, smooth weighted round robin and uniform random are there too. Every
//! random draw comes from a seedable [`Rng`](bulwark_policy::Rng).
//!
//! # Outlier detection
//!
//! See [`OutlierDetection`]: ejection after consecutive failures or a failure percentage over
//! an interval, ejection times that grow with each repeated ejection, a maximum ejection
//! percentage and a panic threshold, with the semantics of Envoy's outlier detection and
//! Finagle's failure accrual. Ejections and restorations are reported as
//! [`EndpointEjected`](bulwark_policy::EventKind::EndpointEjected) and
//! [`EndpointRestored`](bulwark_policy::EventKind::EndpointRestored) with the endpoint's key.
//!
//! # How clones share one balancer
//!
//! Every clone of a [`Balance`] shares the endpoint list and each endpoint's counters through
//! an `Arc`, so axum cloning the service per request or tonic per connection loses nothing.
//!
//! - **The list** is an `Arc<Vec<..>>` replaced whole when it changes, with a version beside
//!   it. A clone checks the version with one atomic load before each pick and takes the list's
//!   mutex only when it changed. No lock is held across a call; a pick takes none (smooth
//!   weighted round robin holds a short one for its O(n) update).
//! - **Per-endpoint counters** (requests in flight, latency estimate, outlier counts) are
//!   atomics. The response future holds the endpoint's pending count up and releases it when
//!   it finishes *or is dropped*.
//! - **Endpoint services must be `Clone`.** `poll_ready` picks an endpoint, clones its
//!   service and polls that clone; `call` sends on it. hyper clients and tonic `Channel`s are
//!   built to be cloned like this, and it is what lets clones of the balancer run without a
//!   `Buffer`. A pick, a call and the response make no heap allocation.
//!
//! # Readiness
//!
//! - `poll_ready` picks among endpoints that are listed, not ejected, and not already known to
//!   be unready. An endpoint clone that answers `Pending` is parked (its waker stays
//!   registered) and the pick moves on, so one slow endpoint never holds up a request another
//!   could take. If every endpoint is pending, so is the balancer, and whichever wakes first
//!   takes the call; so does a change to the endpoint list (a handle's insert, a discovered
//!   endpoint), which wakes every waiting clone.
//! - An endpoint whose `poll_ready` returns an error is removed from the balancer.
//! - While the list is empty and a `Discover` stream may still add endpoints, `poll_ready`
//!   waits for it.
//! - When no endpoint can take the call (none is listed, or every one is ejected with panic
//!   mode off), `poll_ready` still returns `Ready(Ok)` and the call fails
//!   at once with [`NoEndpoint`] (and a [`NoEndpoint`](bulwark_policy::EventKind::NoEndpoint)
//!   event), like `load_shed`: an `Err` from `poll_ready` would tell the caller to discard the
//!   balancer for good.
//! - What `poll_ready` found is kept as the endpoint itself, never as an index, so a list that
//!   changes between `poll_ready` and `call` cannot send the request elsewhere (tower#856).
//!
//! # Retries that avoid the endpoint that failed
//!
//! A request may carry a [`LastEndpoint`] cell shared by all its copies. The balancer records
//! each attempt's endpoint in it and, when the next attempt would land on the same endpoint,
//! sends it to another one that is ready at once. Put [`LastEndpointLayer`] outside the retry
//! layer and configure the balancer with [`ExtensionsLastEndpoint`] for `http::Request`s;
//! other request types implement [`LastEndpointAccess`].
//!
//! # Per-endpoint stacks
//!
//! [`BalanceBuilder::endpoint_layer`] wraps every endpoint as it is added, from the list, from
//! discovery, or through [`BalanceLayer::handle`]: a breaker in backpressure mode makes an
//! open endpoint unready, so the balancer routes around it; a timeout bounds each endpoint's
//! calls.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use std::time::Duration;
//! use bulwark_balance::{BalanceLayer, OutlierDetection, Strategy};
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let outlier = OutlierDetection::builder()
//!     .consecutive_failures(Some(5))
//!     .base_ejection_time(Duration::from_secs(10))
//!     .build()
//!     .unwrap();
//! let lb = BalanceLayer::builder()
//!     .strategy(Strategy::P2cPending)
//!     .outlier_detection(outlier)
//!     .name("backends")
//!     .build()
//!     .endpoints((0..3).map(|i| {
//!         (format!("10.0.0.{i}:8080"), service_fn(move |req: u32| async move {
//!             Ok::<_, Infallible>(req + i)
//!         }))
//!     }));
//! let mut svc = ServiceBuilder::new().concurrency_limit(64).service(lb);
//! let answer = svc.ready().await.unwrap().call(40).await.unwrap();
//! assert!((40..43).contains(&answer));
//! # }
//! ```
//!
//! # Features
//!
//! - `serde`: `Deserialize` for [`OutlierDetection`], with durations written like `"30s"`.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod avoid;
mod discover;
mod endpoint;
pub mod error;
pub mod future;
mod handle;
mod layer;
mod outlier;
mod service;
mod strategy;

pub use avoid::{
    ExtensionsLastEndpoint, LastEndpoint, LastEndpointAccess, LastEndpointLayer, NoLastEndpoint,
    TrackLastEndpoint,
};
pub use error::NoEndpoint;
pub use handle::{BalanceHandle, EndpointInfo};
pub use layer::{BalanceBuilder, BalanceLayer};
pub use outlier::{OutlierDetection, OutlierDetectionBuilder};
pub use service::Balance;
pub use strategy::{PeakEwma, Strategy};

//! Fault injection for tower stacks: [`ChaosLayer`].
//!
//! Resilience code that has never seen a failure has never been tested. A `ChaosLayer` around a
//! service makes it fail on purpose, at rates you choose and reproducibly under a seed, so that
//! the layers above it — retry, timeout, breaker, fallback, balance — can be watched doing
//! their work: in unit tests, in bulwark's demo and benchmarks, and in chaos drills against a
//! staging system.
//!
//! It injects, each at its own rate:
//! - **errors**, from a closure ([`ChaosBuilder::error_with`]), or [`Injected`] by default;
//! - **latency**, fixed or uniform in a range ([`Latency`]), before the inner service is called;
//! - **chosen responses** in place of the real one ([`ChaosBuilder::response_with`]), such as
//!   a 503 with `Retry-After`;
//! - **outages** on a schedule ([`OutageWindow`]): from one time to another after the layer
//!   starts, every call fails and the inner service is not called.
//!
//! A [`ChaosHandle`] switches it on and off and changes the rates and the latency while it
//! runs; [`ChaosStats`] counts what it did; every fault is reported to the layer's hook as an
//! [`EventKind::FaultInjected`](bulwark_policy::EventKind::FaultInjected).
//!
//! # Example
//!
//! A replica that answers 503 to one call in ten, and is dark for ten seconds after its first
//! minute:
//!
//! ```
//! use std::time::Duration;
//! use bulwark_chaos::ChaosLayer;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let chaos = ChaosLayer::builder()
//!     .seed(2024)
//!     .name("replica-b")
//!     .response_rate(0.1)
//!     .response_with(|| {
//!         http::Response::builder().status(503).header("retry-after", "1").body(()).unwrap()
//!     })
//!     .outage(Duration::from_secs(60), Duration::from_secs(70))
//!     .build()
//!     .unwrap();
//! let svc = ServiceBuilder::new()
//!     .layer(chaos.clone())
//!     .service(service_fn(|_req: http::Request<()>| async {
//!         Ok::<_, std::io::Error>(http::Response::new(()))
//!     }));
//!
//! let mut unavailable = 0;
//! for _ in 0..1_000 {
//!     let res = svc.clone().oneshot(http::Request::new(())).await.unwrap();
//!     unavailable += usize::from(res.status() == 503);
//! }
//! assert!((50..150).contains(&unavailable));
//!
//! tokio::time::sleep(Duration::from_secs(60)).await;
//! assert!(svc.oneshot(http::Request::new(())).await.is_err());
//! assert_eq!(chaos.handle().stats().outages, 1);
//! # }
//! ```
//!
//! # What a call gets
//!
//! Each call's fate is decided when `call` is made:
//! 1. If the layer is disabled, the inner service is called, and nothing is counted.
//! 2. In an outage window, the call is answered at once, with the injected error or, with
//!    [`OutageAnswer::Response`], the chosen response. The inner service is not called.
//! 3. Otherwise, with probability `latency_rate`, the call waits first.
//! 4. Then, with probability `error_rate`, it gets the injected error; otherwise, with
//!    probability `response_rate`, the chosen response; otherwise the inner service is called.
//!    Errors and responses split one draw, so both rates hold exactly while their sum is at
//!    most 1.
//!
//! # Errors
//!
//! The wrapped service's error type is `E`, chosen by the error closure: [`BoxError`] with
//! the default [`Injected`], or the type [`ChaosBuilder::error_with`]'s closure returns. The
//! inner service's errors are converted with `Into<E>`, so a closure that makes the inner
//! service's own error type passes it through unboxed, with no change to the stack's types;
//! one that makes any other error works as long as the inner error converts into it. Many
//! client errors (hyper's among them) cannot be built outside their crate, which is why the
//! default is a boxed [`Injected`], the way bulwark's other layers add their errors. Boxing
//! `Injected` does not allocate: it has no size.
//!
//! For a stack whose error type is fixed — `Infallible` under axum's `Router::layer` —
//! [`ChaosBuilder::without_errors`] chooses any `E` the inner error converts into and injects
//! only delays and responses.
//!
//! The closures take no arguments: a fault does not depend on the request. They are called
//! once per injected answer.
//!
//! # Readiness
//!
//! `poll_ready` forwards to the inner service and never fails for a reason of its own, so the
//! chaos layer never changes the back-pressure a caller sees, even during an outage. When a
//! fault replaces the call, the inner service's readiness was reserved for nothing: it stays
//! reserved, unused, and the next call uses it. Reserving readiness only for calls that will
//! reach the inner service would mean deciding the fault in `poll_ready`, before the request
//! exists, and a call made just after an outage ended would then have no ready service to
//! go to.
//!
//! A delayed call takes the ready inner service into its response future and calls it when
//! the delay ends, leaving a fresh clone to be polled for the next call (tower's
//! `mem::replace` pattern); that is why the inner service must be `Clone`. Dropping the future
//! during the delay drops that clone, and whatever readiness it held, without calling it.
//!
//! # Determinism
//!
//! Each call takes the next number from a counter shared by the whole instance, and draws its
//! randomness from a generator seeded with that number mixed into the layer's seed. So under
//! one seed, the k-th call through an instance always gets the same fault, with no lock and no
//! generator state shared between threads. Every call makes the same draws whatever the rates,
//! so changing a rate at run time does not shift other decisions. Calls made while disabled
//! do not take a number.
//!
//! Which request is the k-th is up to the order calls arrive: fixed in a single task,
//! scheduling-dependent across threads. Outage windows follow tokio's clock, so
//! `tokio::time::pause` makes them exact in tests.
//!
//! # Cost
//!
//! A call that gets no fault allocates nothing and takes no lock: one atomic load when
//! disabled; otherwise one counter increment, a few atomic loads and four SplitMix64 steps
//! on the stack, plus a clock read only when outage windows are configured.
//!
//! # Features
//!
//! - `serde`: `Deserialize` for [`ChaosConfig`], [`Latency`], [`OutageWindow`] and
//!   [`OutageAnswer`], with durations written like `"250ms"`, validated as
//!   [`ChaosBuilder::build`] validates them.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod config;
mod error;
mod future;
mod handle;
mod layer;
mod service;

pub use builder::ChaosBuilder;
pub use bulwark_policy::BoxError;
pub use config::{ChaosConfig, Latency, OutageAnswer, OutageWindow};
pub use error::Injected;
pub use future::ResponseFuture;
pub use handle::{ChaosHandle, ChaosStats};
pub use layer::ChaosLayer;
pub use service::Chaos;

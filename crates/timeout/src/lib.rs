//! Timeouts for tower services that honour, and propagate, the request's deadline.
//!
//! A timeout bounds how long a caller waits. On its own, though, it does not know what the
//! callers further out are willing to wait: a server given 300 ms by its client gains nothing
//! by spending 2 s on a call to its database. So [`TimeoutLayer`] works with the request's
//! [`Deadline`](bulwark_policy::Deadline), the instant by which the whole request must be
//! answered:
//!
//! - it enforces the **earlier** of its own timeout and the deadline already on the request;
//! - it puts that earlier deadline back **on the request**, so every layer inside sees it: a
//!   retry does not start an attempt that cannot finish in time, an inner timeout does not wait
//!   past it, and a gRPC client can send what is left of it as `grpc-timeout`;
//! - a caller can choose another timeout for one request with a
//!   [`TimeoutOverride`](bulwark_policy::TimeoutOverride) extension; the deadline still applies
//!   if it is earlier;
//! - its error is [`Elapsed`], returned as a [`BoxError`] to downcast, which the default
//!   classifier treats as a retryable failure of kind
//!   [`Timeout`](bulwark_policy::FailureKind::Timeout), and each one is reported to the layer's
//!   hook as [`EventKind::TimeoutElapsed`](bulwark_policy::EventKind::TimeoutElapsed).
//!
//! `tower::timeout` has neither the override nor the deadline, and its error is opaque.
//!
//! ```
//! use std::time::Duration;
//! use bulwark_policy::{Deadline, TimeoutOverride};
//! use bulwark_timeout::{Elapsed, TimeoutLayer};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! // A service that answers after 500 ms, and reports the deadline it was given.
//! let inner = service_fn(|req: http::Request<()>| async move {
//!     tokio::time::sleep(Duration::from_millis(500)).await;
//!     Ok::<_, std::io::Error>(req.extensions().get::<Deadline>().copied())
//! });
//! let layer = TimeoutLayer::new(Duration::from_secs(1));
//!
//! // Its own timeout, 1 s, is enough, and the service sees the deadline it set.
//! let start = tokio::time::Instant::now();
//! let seen = layer.layer(inner.clone()).oneshot(http::Request::new(())).await.unwrap();
//! assert_eq!(seen, Some(Deadline::at(start + Duration::from_secs(1))));
//!
//! // A deadline 200 ms away is earlier, so it applies.
//! let mut req = http::Request::new(());
//! req.extensions_mut().insert(Deadline::after(Duration::from_millis(200)));
//! let err = layer.layer(inner.clone()).oneshot(req).await.unwrap_err();
//! assert!(err.is::<Elapsed>());
//!
//! // So does a per-request override of 100 ms.
//! let mut req = http::Request::new(());
//! req.extensions_mut().insert(TimeoutOverride(Duration::from_millis(100)));
//! assert!(layer.layer(inner).oneshot(req).await.unwrap_err().is::<Elapsed>());
//! # }
//! ```
//!
//! # Placement: total or per-attempt
//!
//! Where the layer sits decides what it bounds.
//!
//! - **Outside a retry layer it is a total timeout.** It bounds the first attempt, every retry
//!   and every backoff sleep together; when it elapses the retries stop, and the caller gets
//!   [`Elapsed`]. Its deadline is on the request, so the retry layer does not start an attempt
//!   that cannot finish before it.
//! - **Inside a retry layer it is a per-attempt timeout.** It bounds each attempt on its own;
//!   an attempt that takes too long fails with [`Elapsed`], which the default classifier calls
//!   retryable, so the retry layer tries again.
//!
//! A client usually wants both, listed from the outside in: a total timeout, then the retry
//! layer, then a per-attempt timeout, then the service.
//!
//! ```
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//! use std::time::Duration;
//! use bulwark_policy::{Backoff, Deadline};
//! use bulwark_retry::RetryLayer;
//! use bulwark_timeout::{Elapsed, TimeoutLayer};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! // Its first call hangs; later calls answer at once.
//! let calls = Arc::new(AtomicU32::new(0));
//! let counter = calls.clone();
//! let upstream = service_fn(move |_req: http::Request<()>| {
//!     let call = counter.fetch_add(1, Ordering::Relaxed);
//!     async move {
//!         if call == 0 {
//!             std::future::pending::<()>().await;
//!         }
//!         Ok::<_, std::io::Error>("answer")
//!     }
//! });
//! let client = ServiceBuilder::new()
//!     .layer(TimeoutLayer::new(Duration::from_secs(2)).name("total"))
//!     .layer(
//!         RetryLayer::builder()
//!             .backoff(Backoff::constant(Duration::from_millis(10)))
//!             .build()
//!             .unwrap(),
//!     )
//!     .layer(TimeoutLayer::new(Duration::from_millis(300)).name("per-attempt"))
//!     .service(upstream);
//!
//! // The first attempt is cut at 300 ms and retried; the second answers.
//! let start = tokio::time::Instant::now();
//! assert_eq!(client.clone().oneshot(http::Request::new(())).await.unwrap(), "answer");
//! assert_eq!(start.elapsed(), Duration::from_millis(310));
//! assert_eq!(calls.load(Ordering::Relaxed), 2);
//!
//! // A caller's deadline of 200 ms, earlier than both, bounds the whole exchange.
//! calls.store(0, Ordering::Relaxed);
//! let mut req = http::Request::new(());
//! req.extensions_mut().insert(Deadline::after(Duration::from_millis(200)));
//! let err = client.oneshot(req).await.unwrap_err();
//! assert!(err.is::<Elapsed>());
//! assert_eq!(calls.load(Ordering::Relaxed), 1);
//! # }
//! ```
//!
//! # Semantics
//!
//! - **Which bound applies**: the earlier of the layer's timeout (or the request's
//!   [`TimeoutOverride`](bulwark_policy::TimeoutOverride), in its place) counted from the
//!   call, and the request's deadline.
//! - **The boundary**: the deadline instant itself counts as passed, as
//!   [`Deadline::is_expired`](bulwark_policy::Deadline::is_expired) says. A call still pending
//!   one nanosecond before it is pending; at it, the call fails with [`Elapsed`]. tokio's timer
//!   has a resolution of one millisecond, so a deadline between two ticks fires at the later.
//! - **A deadline already passed** fails the call at once, through its future, without calling
//!   the inner service. `poll_ready` never fails for a reason of this layer's own.
//! - **An answer and the timer at once**: the inner future is polled first, so an answer ready
//!   when the deadline passes is returned.
//! - **Cancellation**: dropping the [`ResponseFuture`] drops the inner future and the timer;
//!   nothing is left behind.
//! - **Sharing**: the layer holds no state but its name and hook, which every service it wraps,
//!   and every clone of those, shares.
//!
//! # Cost
//!
//! The layer never allocates on its own, and builds no event unless a hook is set.
//!
//! - **No timer for an answer that is ready at once.** The `Sleep` is created only when the
//!   inner future first returns `Pending`.
//! - **The clock is read only when it must be.** With
//!   [`IgnoreDeadline`](bulwark_policy::IgnoreDeadline) there is nothing to check or propagate
//!   in `call`, so the clock is first read when the inner future first returns `Pending`, and
//!   the timeout counts from there; an answer ready at once never reads it. A call can only
//!   time out while it is pending, so this moves the start only by the time the first poll of
//!   the inner future spends working. With a deadline accessor such as the default
//!   [`ExtensionsDeadline`](bulwark_policy::ExtensionsDeadline), `call` reads the clock once:
//!   it needs the time to tell whether the request's deadline has passed, and to compute the
//!   deadline it puts on the request.
//! - **Writing the deadline into `http::Extensions` may allocate**; that is `http`'s map, not
//!   this layer. A request with no extensions at all costs three allocations (the map, its
//!   table, the boxed deadline); one that already has other extensions costs one. A later
//!   deadline already on the request is overwritten in place, and an equal or earlier one is
//!   left untouched: neither costs anything.
//!
//! # Features
//!
//! - `serde`: `Deserialize` for [`TimeoutConfig`], with the timeout written like `"250ms"`.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod error;
pub mod future;
mod layer;
mod service;

pub use error::{BoxError, Elapsed};
pub use future::ResponseFuture;
pub use layer::{TimeoutConfig, TimeoutLayer};
pub use service::Timeout;

//! Retries for tower that honour the server, respect a budget and replay real requests.
//!
//! [`RetryLayer`] sends a failed request again — after a backoff, or after the delay the
//! server asked for — while the attempts, the retry budget and the request's deadline allow.
//! It decides what failed with the shared [`Classify`](bulwark_policy::Classify) of
//! [`bulwark_policy`], so the verdict that makes the breaker count a failure is the one that
//! makes this layer retry it.
//!
//! ```
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//! use std::time::Duration;
//! use bulwark_policy::{Backoff, IgnoreDeadline};
//! use bulwark_retry::RetryLayer;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Fails twice, then answers.
//! let calls = Arc::new(AtomicU32::new(0));
//! let counter = calls.clone();
//! let flaky = service_fn(move |n: u32| {
//!     let call = counter.fetch_add(1, Ordering::Relaxed);
//!     async move { if call < 2 { Err("unavailable") } else { Ok(n * 2) } }
//! });
//!
//! let svc = ServiceBuilder::new()
//!     .layer(
//!         RetryLayer::builder()
//!             .max_attempts(3)
//!             .backoff(Backoff::exponential(Duration::from_millis(50)))
//!             .deadline(IgnoreDeadline) // a u32 carries no deadline
//!             .build()?,
//!     )
//!     .service(flaky);
//! assert_eq!(svc.oneshot(21).await?, 42);
//! assert_eq!(calls.load(Ordering::Relaxed), 3);
//! # Ok(()) }
//! ```
//!
//! # Why a budget, and not only a number of attempts
//!
//! A bare attempt count multiplies load exactly when the downstream can least take it: three
//! attempts at each of four layers of a call chain turn one user request into 3⁴ = 81 calls
//! at the bottom while it is failing — a retry storm that keeps it down. A
//! [`RetryBudget`](bulwark_policy::RetryBudget) caps retries at a share of the live traffic
//! instead (20% by default, plus a small floor), so a failing downstream sees at most 1.2
//! times its normal load from this layer, however many attempts each request was allowed. Its
//! docs give the whole argument. The budget is on by default; `max_attempts` still bounds a
//! single request.
//!
//! # Defaults, and why
//!
//! | Setting | Default | Why |
//! |---|---|---|
//! | [`max_attempts`](RetryBuilder::max_attempts) | 3 | One call and two retries: enough to ride out a blip, small enough to bound one request's latency. |
//! | [`backoff`](RetryBuilder::backoff) | exponential from 100 ms, ×2, at most 10 s, full jitter | Full jitter spreads clients that failed together the most (the AWS analysis). |
//! | [`budget`](RetryBuilder::budget) | 20% extra load, 10 retries/s floor, TTL 10 s | The defaults of Finagle, Envoy and reqwest. |
//! | [`honor_retry_after`](RetryBuilder::honor_retry_after) | up to 30 s | The server knows best when it will recover; the cap stops a hint from parking a request for minutes. |
//! | [`classify`](RetryBuilder::classify) | [`ErrorsAsFailures`](bulwark_policy::ErrorsAsFailures) | Every `Err` is retryable except a breaker's rejection, which carries its own wait. |
//! | [`retry_if_request`](RetryBuilder::retry_if_request) | every request | The layer cannot know a request type's semantics; use [`IdempotentMethods`] for HTTP. |
//! | [`replay`](RetryBuilder::replay) | `CloneReplay` | Any `Req: Clone` works with no setup. |
//! | [`deadline`](RetryBuilder::deadline) | `ExtensionsDeadline` | Where hyper, axum and tonic requests carry a `Deadline`. **Other request types need `IgnoreDeadline` or their own `DeadlineAccess`.** |
//! | [`name`](RetryBuilder::name) | `"retry"` | |
//!
//! # What each retry decision checks, in order
//!
//! After an attempt, its result is classified. Anything but a retryable failure comes back as
//! it is. A retryable failure is retried unless, checked in this order:
//!
//! 1. the request was not to be retried: the [`RetryPredicate`] refused it, or it could not
//!    be replayed;
//! 2. the attempts are used up: [`RetriesExhausted`](bulwark_policy::EventKind::RetriesExhausted);
//! 3. the delay plus the time the failed attempt took would reach the request's `Deadline`:
//!    [`DeadlineTooNear`](bulwark_policy::EventKind::DeadlineTooNear). The delay is the
//!    backoff's, or the failure's `retry_after` in its place, cut to the cap;
//! 4. no copy of the request can be made: [`NotReplayable`](bulwark_policy::EventKind::NotReplayable);
//! 5. the budget has no token: [`BudgetExhausted`](bulwark_policy::EventKind::BudgetExhausted).
//!
//! In each case the **last real result** comes back — the upstream's 503 response or its
//! error — never an error of this layer's own, so the service's error type is the inner one's.
//! Otherwise a [`RetryAttempt`](bulwark_policy::EventKind::RetryAttempt) event reports the
//! attempt number, the delay and the failure, the future sleeps, polls its own clone of the
//! service ready, and sends the copy. If that `poll_ready` fails, its error is the result.
//!
//! Every request deposits into the budget once, when it is first sent, whether it may be
//! retried or not: it is load on the downstream all the same. Each retry withdraws once, when
//! it is decided.
//!
//! # Replaying the request
//!
//! The layer keeps the original request and sends copies made by a
//! [`Replay`](bulwark_policy::Replay). If no copy can be made for the first attempt, the
//! original itself is sent, once, with a `NotReplayable` event: a request is never failed, nor
//! dropped silently, for being unreplayable.
//!
//! # Changing settings at run time
//!
//! [`RetryLayer::handle`] gives a [`RetryHandle`] that reads and replaces the attempts and the
//! backoff of every service the layer made, validated as the builder validates them; the
//! backoff sits behind a lock that only a retry decision reads.
//!
//! # With a timeout
//!
//! Put a `TimeoutLayer` *outside* this layer and it bounds the whole exchange, retries and
//! sleeps included; put it *inside* and it bounds each attempt, and its `Elapsed` error is a
//! retryable failure. A timeout layer also writes its deadline onto the request, so this
//! layer does not start a sleep or an attempt it expects to be cut off.
//!
//! # Cost
//!
//! A first attempt that succeeds makes no heap allocation when replaying the request is free
//! (a `Clone` of a small value), and takes no lock: one budget deposit (a clock read and an
//! atomic add) and one reference count, to the layer's shared state. The response future
//! needs that state once an attempt fails, it may outlive the service (as under `oneshot`),
//! and the handle can change the settings in it while requests are in flight. What only a
//! retried request needs (the attempt count, the jitter generator and the backoff's timer) is
//! made in one allocation when the request is first retried, which keeps the future small for
//! the calls that never retry. Sleeps use tokio's timer, so a retry with a delay needs a tokio
//! runtime with time enabled.
//!
//! # Readiness and cancellation
//!
//! `poll_ready` is the inner service's, and never fails for a reason of this layer's. `call`
//! hands the ready service to the response future and keeps a fresh clone, which must be
//! polled ready again. Dropping a [`ResponseFuture`] at any point drops the request, its copy,
//! the service clone and any pending sleep; the budget is never charged twice.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod config;
mod future;
mod handle;
mod layer;
mod predicate;
mod service;

pub use builder::RetryBuilder;
pub use config::RetryConfig;
pub use future::ResponseFuture;
pub use handle::RetryHandle;
pub use layer::RetryLayer;
pub use predicate::{AnyRequest, IdempotentMethods, RetryPredicate};
pub use service::Retry;

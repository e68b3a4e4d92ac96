//! A circuit breaker for tower: [`BreakerLayer`].
//!
//! # Why a breaker
//!
//! A retry helps with a failure that passes; it makes a failure that stays worse. When a
//! downstream is down or drowning, every caller keeps sending it work, each request waits for
//! its timeout, and the callers' own threads, connections and queues fill with requests that
//! cannot succeed. A circuit breaker watches the outcomes of calls and, once they show the
//! downstream is unhealthy, *opens*: it refuses calls at once for a while, so callers fail fast
//! (or fall back) and the downstream gets air. Then it lets a few *probe* calls through
//! (*half-open*); if they succeed it closes, and if one fails it opens again, for longer.
//!
//! # What trips it
//!
//! Any configured policy can trip it (see [`BreakerConfig`]):
//!
//! - **consecutive failures**, the simplest signal and the default (5);
//! - the **failure rate** over a **count window** — a true ring of the last N calls, so that a
//!   breaker which has seen a million successes still opens when the last N calls go bad —
//!   or over a **time window** of rolling buckets;
//! - the **slow-call rate**: a call longer than a threshold is slow, and a downstream that
//!   answers everything slowly is as unhealthy as one that fails;
//! - no rate is judged before a window holds `min_calls` calls, so three calls at start-up
//!   cannot open it.
//!
//! What counts as a failure is decided by the shared [`Classify`](bulwark_policy::Classify),
//! [`ErrorsAsFailures`](bulwark_policy::ErrorsAsFailures) by default, so a breaker, a retry and a
//! fallback in one stack agree. An [`Outcome::Ignore`](bulwark_policy::Outcome::Ignore) (a 4xx,
//! a cancelled call) counts for nothing.
//!
//! The open period comes from a [`Backoff`](bulwark_policy::Backoff): trips in a row can make
//! it grow, jitter keeps a fleet of clients from probing in step, and closing resets it.
//!
//! # Cost
//!
//! While closed, a call takes no lock and allocates nothing: it reads the state word in
//! `poll_ready`, again in `call`, and when it finishes, and holds the breaker through one of
//! eight reference counts, picked by thread, so that threads calling at once do not fight over
//! one cache line.
//! A failure bumps a counter; a count window adds one shared atomic increment and one swap per
//! call, and a time window one or two shared increments. The clock is read only when a time
//! window, slow-call detection or a hook needs it. Open, half-open and every transition take a
//! mutex — they are rare, and the lock keeps the probe count exact.
//!
//! A [keyed](BreakerLayer::keyed) breaker adds, per call, a read lock on its map of keys and a
//! clock read (to know which keys sit idle); a new key takes the map's write lock. When the
//! map is full of keys it must keep (not closed, or with a call in flight), keys that are not
//! in it share one overflow breaker under the read lock alone, and look for room again under
//! the write lock at most once every 100 ms.
//!
//! # Semantics
//!
//! Mature breakers disagree on these; here is what this one does.
//!
//! | Question | Choice |
//! |---|---|
//! | Does a rate trip at `>=` or `>` its threshold? | At `>=`: 5 failures in 10 calls trip a rate of 0.5. A rate needs at least one failing (or slow) call, so a rate of 0 means "any failure". |
//! | Is the rate judged after every outcome, or only after failures? | Only after a failure or a slow call. A success never opens the breaker, so a window that reaches `min_calls` with a success waits for the next failure. |
//! | Does the open period end at its deadline, or strictly after? | At it: the first call at `opened + open_for` or later is admitted as a probe. |
//! | What does an `Ignore` do to a half-open permit? | Gives it back without counting: another probe may go. |
//! | Does a call begun while closed and finished after the breaker opened count? | No. Every call belongs to the state it was admitted in; one finishing after any transition is stale and changes nothing (its `BreakerCall` event is still sent). |
//! | Does a time window drop a call at exactly `age == window`? | Yes. The window is the current bucket and the `buckets - 1` before it, so a call counts for between `window - window / buckets` and `window`, and never at `window`. |
//! | Is a slow probe a success? | No: a probe slower than the slow-call threshold re-opens the breaker. |
//! | Does `poll_ready` reserve a half-open probe permit? | No. It answers `Ready` while a permit is free and reserves nothing, so a clone polled ready and never called (axum and tonic make them) keeps no one out. `call` takes the permit; a call that lost the race to another is refused at once with `Rejected { retry_after: None }`, in both modes, as `call` cannot wait. |
//! | Does an admission from `poll_ready` survive a transition before `call`? | No. `call` re-reads the state word: unchanged and closed, the admission stands (one atomic load); otherwise `call` asks the breaker again, and a breaker that opened meanwhile refuses the call without sending it. |
//! | Is a refusal from `poll_ready` final? | No. `call` asks the breaker again. If it now admits, the inner service, which was not polled while the breaker refused, is asked for readiness once, without waiting (a no-op waker); ready, the call is sent, otherwise it is refused and any permit taken for it is given back. |
//!
//! A dropped response future is a cancellation: nothing is recorded, and a probe's permit is
//! given back. Half-open admits at most `half_open_probes` calls at once; `half_open_successes`
//! successes close it; any failure re-opens it, and so does `half_open_max_wait` passing first.
//!
//! Only a probe call in flight holds a permit, so half-open can stall only on a probe whose
//! future is neither finished nor dropped. `half_open_max_wait` is off by default: a finite
//! default would re-open a breaker that needs several successes before a quiet client has sent
//! them, again and again. Put a timeout below the breaker (a timed-out probe is a failed probe),
//! or set `half_open_max_wait`, to bound a hung probe.
//!
//! # Modes
//!
//! - [`Mode::FailFast`] (the default): while the breaker rejects, `poll_ready` is `Ready`
//!   without polling the inner service, and the response future is [`Rejected`] at once,
//!   carrying the time left in the open period as `retry_after` (`None` when forced open or
//!   when every probe permit is taken).
//! - [`Mode::Backpressure`]: `poll_ready` is `Pending` while the breaker rejects and wakes when
//!   it half-opens (or a probe permit comes free), so a balancer picks another endpoint. Every
//!   waiter is woken, so when several wait for one probe permit, the calls that lose the race
//!   for it are still refused, with `Rejected { retry_after: None }`.
//!
//! `poll_ready` never returns an error for a policy reason: tower reads that as "discard this
//! service".
//!
//! # One instance, handles and keys
//!
//! The layer value is one breaker: every service it wraps and every clone share it, so axum's
//! clone-per-request keeps one breaker. [`BreakerLayer::handle`] reads the state, subscribes
//! to transitions (a `tokio::sync::watch`), forces it open or closed, disables it or sets it to
//! record only, resets it, snapshots its counts and reconfigures it at run time.
//! [`BreakerLayer::keyed`] keeps one breaker per key (host, route) in a bounded map.
//!
//! Every recorded call, rejection and transition is an [`Event`](bulwark_policy::Event) to the
//! layer's [`hook`](BreakerBuilder::hook), named with [`name`](BreakerBuilder::name) (default
//! `"breaker"`) and, when keyed, carrying the key.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::time::Duration;
//! use bulwark_breaker::{BreakerLayer, Rejected};
//! use bulwark_policy::{Backoff, BoxError, BreakerState};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! let layer = BreakerLayer::builder()
//!     .consecutive_failures(2)
//!     .open_for(Backoff::constant(Duration::from_secs(30)))
//!     .build()
//!     .unwrap();
//! let svc = layer.layer(service_fn(|fail: bool| async move {
//!     if fail { Err(BoxError::from("down")) } else { Ok("up") }
//! }));
//!
//! assert!(svc.clone().oneshot(true).await.is_err());
//! assert!(svc.clone().oneshot(true).await.is_err());
//! assert_eq!(layer.handle().state(), BreakerState::Open);
//!
//! let err = svc.oneshot(false).await.unwrap_err();
//! let rejected = err.downcast_ref::<Rejected>().unwrap();
//! assert!(rejected.retry_after().unwrap() <= Duration::from_secs(30));
//! # }
//! ```
//!
//! # Features
//!
//! - `serde`: `Deserialize` for [`BreakerConfig`] and [`Mode`], durations written like `"250ms"`.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod error;
mod future;
mod handle;
mod layer;
mod service;
mod state;
mod sync;
mod window;

pub use config::{BreakerConfig, Mode};
pub use error::Rejected;
pub use future::ResponseFuture;
pub use handle::{BreakerHandle, KeyedHandle, Snapshot, WindowCounts};
pub use layer::{BreakerBuilder, BreakerLayer, KeyedBreakerLayer};
pub use service::keyed::KeyedBreaker;
pub use service::Breaker;

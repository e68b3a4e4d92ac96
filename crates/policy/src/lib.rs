//! The shared vocabulary of bulwark.
//!
//! Every bulwark layer — retry, timeout, breaker, fallback and balance — makes its decisions in
//! the terms this crate defines, so that one classification of a call drives all of them and one
//! hook observes all of them:
//!
//! - [`Outcome`] and [`Classify`]: what a finished call means. Retry decides what to retry from
//!   it, the breaker what counts as a failure, fallback when to step in, balance which endpoint
//!   to eject. [`ErrorsAsFailures`] is the default classifier.
//! - [`Backoff`] and [`Jitter`]: how long to wait between attempts, or how long a breaker stays
//!   open, deterministic under a seeded [`Rng`].
//! - [`RetryBudget`]: a token bucket that caps retries as a share of live traffic, so retries
//!   cannot multiply an outage.
//! - [`Deadline`]: the instant by which a request must be answered, carried on the request.
//! - [`Replay`]: how a layer gets another copy of a request to send again.
//! - [`Hook`] and [`Event`]: one observer for every decision, with [`TracingHook`],
//!   `MetricsHook` (feature `metrics`), [`FnHook`] and [`FanOut`] adapters.
//! - The small error types the layers add: [`Rejected`], [`Elapsed`] and [`NoEndpoint`], and
//!   [`ConfigError`] for configuration that makes no sense.
//!
//! # Example
//!
//! A classifier that treats an `Err` as a retryable failure and a negative answer as a
//! non-retryable one:
//!
//! ```
//! use bulwark_policy::{Classify, Failure, FailureKind, Outcome};
//!
//! let classify = |result: &Result<i32, std::io::Error>| match result {
//!     Ok(n) if *n >= 0 => Outcome::Success,
//!     Ok(_) => Outcome::Failure(Failure::new(FailureKind::Status)),
//!     Err(_) => Outcome::Failure(Failure::new(FailureKind::Error).retryable(true)),
//! };
//! assert!(classify.classify(&Ok(1)).is_success());
//! assert!(!classify.classify(&Ok(-1)).is_retryable());
//! ```
//!
//! # Features
//!
//! - `metrics`: [`MetricsHook`](crate::hook::MetricsHook), for the `metrics` facade.
//! - `serde`: `Deserialize` for [`Backoff`] and [`BudgetConfig`], with durations written like
//!   `"250ms"`, validated as the builders validate.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backoff;
mod budget;
mod deadline;
mod error;
pub mod hook;
mod outcome;
mod replay;
mod rng;
#[cfg(feature = "serde")]
pub mod serde_duration;

pub use backoff::{Backoff, BackoffKind, Jitter};
pub use budget::{BudgetConfig, RetryBudget};
pub use deadline::{Deadline, DeadlineAccess, ExtensionsDeadline, IgnoreDeadline, TimeoutOverride};
pub use error::{BoxError, ConfigError, Elapsed, NoEndpoint, Rejected};
pub use hook::{
    BreakerState, Event, EventKind, FanOut, Fault, FnHook, Hook, KeyRef, SharedHook, TracingHook,
};
pub use outcome::{classify_error, Classify, ErrorsAsFailures, Failure, FailureKind, Outcome};
pub use replay::{CloneReplay, Replay};
pub use rng::Rng;

//! bulwark: fault-tolerance middleware for tower.
//!
//! This is the facade crate. It re-exports every bulwark crate as a module, behind a feature
//! of its own, and adds what only makes sense with all of them together:
//!
//! - a [`prelude`] with the types a stack is written with;
//! - [`ServiceBuilderExt`], so a `ServiceBuilder` reads `.retry_with(..)`, `.breaker(..)`,
//!   `.timeout_with(..)` and `.fallback(..)`;
//! - [`preset`]s that put the layers in the right order by construction:
//!   [`standard_client()`](preset::standard_client) (total timeout → retry with a budget →
//!   breaker → per-attempt timeout) and [`standard_server()`](preset::standard_server)
//!   (load shedding, a concurrency limit and a timeout), with HTTP and gRPC variants under
//!   the feature `http`.
//!
//! ```
//! use std::time::Duration;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_bulwark::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let client = preset::standard_client()
//!     .total_timeout(Duration::from_secs(2))
//!     .attempt_timeout(Duration::from_millis(500))
//!     .max_attempts(3)
//!     .deadline(IgnoreDeadline) // a u32 carries no deadline; http::Requests do
//!     .name("users")
//!     .build()?;
//! let breaker = client.breaker_handle();
//!
//! let svc = ServiceBuilder::new()
//!     .layer(client)
//!     .service(service_fn(|id: u32| async move { Ok::<_, BoxError>(format!("user {id}")) }));
//! assert_eq!(svc.oneshot(7).await?, "user 7");
//! assert!(!breaker.state().rejects());
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! | feature | what it adds | default |
//! |---|---|---|
//! | `retry` | [`retry`]: `RetryLayer` | yes |
//! | `timeout` | [`timeout`]: `TimeoutLayer`; [`preset::standard_server`] | yes |
//! | `breaker` | [`breaker`]: `BreakerLayer` | yes |
//! | `fallback` | [`fallback`]: `FallbackLayer` | yes |
//! | `balance` | [`balance`]: `BalanceLayer` | |
//! | `http` | [`http`]: HTTP and gRPC classifiers, `ReplayBody`, errors as responses; the HTTP and gRPC presets | |
//! | `chaos` | [`chaos`]: `ChaosLayer` | |
//! | `tonic` | `http`, with `tonic::Status` from bulwark's errors and the gRPC classifier on tonic's results | |
//! | `metrics` | `MetricsHook` in [`policy::hook`], for the `metrics` facade | |
//! | `serde` | `Deserialize` for every enabled layer's config | |
//! | `full` | all of the above | |
//!
//! [`preset::standard_client`] needs `retry`, `timeout` and `breaker`, all on by default.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod ext;
pub mod prelude;
#[cfg(feature = "timeout")]
#[cfg_attr(docsrs, doc(cfg(feature = "timeout")))]
pub mod preset;

pub use bulwark_policy as policy;
pub use ext::ServiceBuilderExt;

/// Retries that honour Retry-After and deadlines, within a retry budget: [`bulwark_retry`].
#[cfg(feature = "retry")]
#[cfg_attr(docsrs, doc(cfg(feature = "retry")))]
pub use bulwark_retry as retry;

/// Total and per-attempt timeouts that honour and propagate deadlines: [`bulwark_timeout`].
#[cfg(feature = "timeout")]
#[cfg_attr(docsrs, doc(cfg(feature = "timeout")))]
pub use bulwark_timeout as timeout;

/// A circuit breaker with sliding windows, bounded half-open probes and keys:
/// [`bulwark_breaker`].
#[cfg(feature = "breaker")]
#[cfg_attr(docsrs, doc(cfg(feature = "breaker")))]
pub use bulwark_breaker as breaker;

/// Answers with a value, a function or a standby service when a call fails:
/// [`bulwark_fallback`].
#[cfg(feature = "fallback")]
#[cfg_attr(docsrs, doc(cfg(feature = "fallback")))]
pub use bulwark_fallback as fallback;

/// Load balancing with outlier ejection: [`bulwark_balance`].
#[cfg(feature = "balance")]
#[cfg_attr(docsrs, doc(cfg(feature = "balance")))]
pub use bulwark_balance as balance;

/// HTTP and gRPC: classifiers, replayable bodies, header parsers, errors as responses:
/// [`bulwark_http`].
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use bulwark_http as http;

/// Injected errors, latency, responses and outages, at seeded rates: [`bulwark_chaos`].
#[cfg(feature = "chaos")]
#[cfg_attr(docsrs, doc(cfg(feature = "chaos")))]
pub use bulwark_chaos as chaos;

// The README's examples run as doctests, so the front page cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

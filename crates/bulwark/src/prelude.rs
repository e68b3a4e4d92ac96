//! The types a stack is written with, in one import.
//!
//! `use tower_bulwark::prelude::*;` brings the enabled layers and their builders, the shared
//! vocabulary ([`Outcome`], [`Classify`], [`Backoff`], [`RetryBudget`], [`Deadline`],
//! [`Hook`]), the error types a caller downcasts to, [`ServiceBuilderExt`], and the
//! [`preset`] module.
//!
//! ```
//! use std::time::Duration;
//! use tower_bulwark::prelude::*;
//!
//! let backoff = Backoff::exponential(Duration::from_millis(50)).max_delay(Duration::from_secs(1));
//! let retry = RetryLayer::builder().backoff(backoff).deadline(IgnoreDeadline).build().unwrap();
//! let err: BoxError = Elapsed::new().into();
//! assert_eq!(classify_error(&err).kind, FailureKind::Timeout);
//! # let _ = retry;
//! ```

pub use crate::ServiceBuilderExt;
pub use bulwark_policy::{
    classify_error, Backoff, BoxError, BreakerState, BudgetConfig, Classify, CloneReplay,
    ConfigError, Deadline, DeadlineAccess, Elapsed, ErrorsAsFailures, Event, EventKind,
    ExtensionsDeadline, Failure, FailureKind, FanOut, FnHook, Hook, IgnoreDeadline, Jitter,
    NoEndpoint, Outcome, Rejected, Replay, RetryBudget, TimeoutOverride, TracingHook,
};

#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub use bulwark_policy::hook::MetricsHook;

#[cfg(feature = "retry")]
#[cfg_attr(docsrs, doc(cfg(feature = "retry")))]
pub use bulwark_retry::{IdempotentMethods, RetryBuilder, RetryHandle, RetryLayer};

#[cfg(feature = "timeout")]
#[cfg_attr(docsrs, doc(cfg(feature = "timeout")))]
pub use bulwark_timeout::TimeoutLayer;

#[cfg(feature = "breaker")]
#[cfg_attr(docsrs, doc(cfg(feature = "breaker")))]
pub use bulwark_breaker::{BreakerBuilder, BreakerConfig, BreakerHandle, BreakerLayer};

#[cfg(feature = "fallback")]
#[cfg_attr(docsrs, doc(cfg(feature = "fallback")))]
pub use bulwark_fallback::FallbackLayer;

#[cfg(feature = "balance")]
#[cfg_attr(docsrs, doc(cfg(feature = "balance")))]
pub use bulwark_balance::{BalanceHandle, BalanceLayer, OutlierDetection};

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use bulwark_http::{
    ErrorResponseLayer, GrpcClassifier, HttpClassifier, HttpReplay, ReplayBody, ReplayBodyLayer,
};

#[cfg(feature = "chaos")]
#[cfg_attr(docsrs, doc(cfg(feature = "chaos")))]
pub use bulwark_chaos::{ChaosHandle, ChaosLayer};

#[cfg(feature = "timeout")]
#[cfg_attr(docsrs, doc(cfg(feature = "timeout")))]
pub use crate::preset;

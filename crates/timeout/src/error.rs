//! The error a timeout adds.
//!
//! [`Elapsed`] is defined in [`bulwark_policy`] so that the default classifier,
//! [`ErrorsAsFailures`](bulwark_policy::ErrorsAsFailures), recognises it as a retryable
//! [`FailureKind::Timeout`](bulwark_policy::FailureKind::Timeout). It is re-exported here, and a
//! [`Timeout`](crate::Timeout) returns it boxed, as a [`BoxError`], for callers to downcast.
//!
//! ```
//! use bulwark_policy::{classify_error, FailureKind};
//! use bulwark_timeout::{BoxError, Elapsed};
//!
//! let err: BoxError = Elapsed::new().into();
//! assert!(err.is::<Elapsed>());
//! let failure = classify_error(&err);
//! assert_eq!(failure.kind, FailureKind::Timeout);
//! assert!(failure.retryable);
//! ```

pub use bulwark_policy::{BoxError, Elapsed};

//! The error a fallback returns when the fallback itself fails.

use std::error::Error;
use std::fmt;

use bulwark_policy::{BoxError, Failure};

/// The fallback stepped in and failed too.
///
/// The fallbacks that can fail — [`FallbackLayer::from_fn`](crate::FallbackLayer::from_fn) and
/// [`FallbackLayer::service`](crate::FallbackLayer::service) — return this, boxed, when their
/// own answer is an error. It carries:
///
/// - [`reason`](Self::reason): how the primary service failed, as the classifier saw it;
/// - [`source`](Error::source): the fallback's own error, which
///   [`into_fallback_error`](Self::into_fallback_error) hands back boxed.
///
/// A primary error that the fallback did not handle is never wrapped in it, so a caller tells
/// "the standby failed too" from "the primary failed and no fallback applied" by downcasting.
/// Because the fallback's error is its `source`,
/// [`classify_error`](bulwark_policy::classify_error) still sees a backup's own
/// [`Rejected`](bulwark_policy::Rejected) or [`Elapsed`](bulwark_policy::Elapsed) through it.
///
/// ```
/// use bulwark_fallback::FallbackFailed;
/// use bulwark_policy::{BoxError, Failure, FailureKind};
///
/// let err: BoxError = FallbackFailed::new(Failure::new(FailureKind::Rejected), "standby down".into()).into();
/// let failed = err.downcast_ref::<FallbackFailed>().unwrap();
/// assert_eq!(failed.reason().kind, FailureKind::Rejected);
/// assert_eq!(failed.fallback_error().to_string(), "standby down");
/// assert_eq!(err.to_string(), "the fallback failed after a `rejected` failure");
/// ```
#[derive(Debug)]
pub struct FallbackFailed {
    reason: Failure,
    source: BoxError,
}

impl FallbackFailed {
    /// The fallback for a call that failed as `reason` itself failed with `source`.
    ///
    /// ```
    /// use bulwark_fallback::FallbackFailed;
    /// use bulwark_policy::{Failure, FailureKind};
    ///
    /// let failed = FallbackFailed::new(Failure::new(FailureKind::Timeout), "no cache".into());
    /// assert_eq!(failed.reason().kind, FailureKind::Timeout);
    /// ```
    pub fn new(reason: Failure, source: BoxError) -> Self {
        Self { reason, source }
    }

    /// How the primary call failed: the failure that called for the fallback.
    ///
    /// ```
    /// use bulwark_fallback::FallbackFailed;
    /// use bulwark_policy::{Failure, FailureKind};
    ///
    /// let reason = Failure::new(FailureKind::Error).retryable(true);
    /// assert_eq!(FallbackFailed::new(reason, "x".into()).reason(), reason);
    /// ```
    pub fn reason(&self) -> Failure {
        self.reason
    }

    /// The fallback's own error.
    ///
    /// ```
    /// use bulwark_fallback::FallbackFailed;
    /// use bulwark_policy::{Failure, FailureKind};
    ///
    /// let failed = FallbackFailed::new(Failure::new(FailureKind::Error), "cache miss".into());
    /// assert_eq!(failed.fallback_error().to_string(), "cache miss");
    /// ```
    pub fn fallback_error(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.source
    }

    /// Gives up the fallback's own error, to downcast it by value.
    ///
    /// ```
    /// use bulwark_fallback::FallbackFailed;
    /// use bulwark_policy::{Elapsed, Failure, FailureKind};
    ///
    /// let failed = FallbackFailed::new(Failure::new(FailureKind::Error), Elapsed::new().into());
    /// assert!(failed.into_fallback_error().downcast::<Elapsed>().is_ok());
    /// ```
    pub fn into_fallback_error(self) -> BoxError {
        self.source
    }
}

impl fmt::Display for FallbackFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the fallback failed after a `{}` failure",
            self.reason.kind
        )
    }
}

impl Error for FallbackFailed {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.source)
    }
}

/// Wraps a fallback's error; the fallback path only, so the box is no cost to successes.
pub(crate) fn failed(reason: Failure, err: impl Into<BoxError>) -> BoxError {
    Box::new(FallbackFailed::new(reason, err.into()))
}

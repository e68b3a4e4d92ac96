//! The error a breaker adds: [`Rejected`], shared with bulwark-policy so that every classifier
//! recognises it.

/// The call was refused without being sent, because the breaker is open (or half-open with
/// every probe permit taken).
///
/// It is [`bulwark_policy::Rejected`]: callers downcast the service's `BoxError` to it, and
/// [`ErrorsAsFailures`](bulwark_policy::ErrorsAsFailures) classifies it as a failure of kind
/// `Rejected` that is not retryable at once, with `retry_after` the time left in the open period.
///
/// ```
/// use std::time::Duration;
/// use bulwark_breaker::Rejected;
/// use bulwark_policy::BoxError;
///
/// let err: BoxError = Rejected::new(Some(Duration::from_secs(3))).into();
/// let rejected = err.downcast_ref::<Rejected>().unwrap();
/// assert_eq!(rejected.retry_after(), Some(Duration::from_secs(3)));
/// ```
pub use bulwark_policy::Rejected;

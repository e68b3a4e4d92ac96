//! The small error types that bulwark layers add, and the error for nonsense configuration.
//!
//! They live here rather than in their layers so that [`ErrorsAsFailures`](crate::ErrorsAsFailures)
//! can recognise them: every layer re-exports its own (`bulwark_breaker::Rejected` is this
//! [`Rejected`]), and users downcast a [`BoxError`] to them.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// The error type of layers that add failures of their own: any error, boxed.
///
/// ```
/// use bulwark_policy::{BoxError, Elapsed};
///
/// let err: BoxError = Elapsed::new().into();
/// assert!(err.is::<Elapsed>());
/// ```
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A circuit breaker refused the call without sending it.
///
/// It carries how long the breaker expects to stay open, when it knows. The default classifier
/// treats it as a failure that is not retryable at once, with that time as its `retry_after`.
///
/// ```
/// use std::time::Duration;
/// use bulwark_policy::Rejected;
///
/// let rejected = Rejected::new(Some(Duration::from_secs(5)));
/// assert_eq!(rejected.retry_after(), Some(Duration::from_secs(5)));
/// assert_eq!(rejected.to_string(), "circuit breaker is open");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    retry_after: Option<Duration>,
}

impl Rejected {
    /// A rejection that expects the breaker to admit calls again after `retry_after`.
    ///
    /// ```
    /// let r = bulwark_policy::Rejected::new(None);
    /// assert_eq!(r.retry_after(), None);
    /// ```
    pub const fn new(retry_after: Option<Duration>) -> Self {
        Self { retry_after }
    }

    /// How long until the breaker lets a probe through, when known.
    ///
    /// ```
    /// use std::time::Duration;
    /// let r = bulwark_policy::Rejected::new(Some(Duration::from_secs(1)));
    /// assert_eq!(r.retry_after(), Some(Duration::from_secs(1)));
    /// ```
    pub const fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("circuit breaker is open")
    }
}

impl std::error::Error for Rejected {}

/// A timeout elapsed before the inner service answered.
///
/// The default classifier treats it as a retryable failure of kind
/// [`FailureKind::Timeout`](crate::FailureKind::Timeout).
///
/// ```
/// use bulwark_policy::Elapsed;
///
/// assert_eq!(Elapsed::new().to_string(), "request timed out");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Elapsed(());

impl Elapsed {
    /// The timeout error.
    ///
    /// ```
    /// let err: bulwark_policy::BoxError = bulwark_policy::Elapsed::new().into();
    /// assert!(err.is::<bulwark_policy::Elapsed>());
    /// ```
    pub const fn new() -> Self {
        Self(())
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("request timed out")
    }
}

impl std::error::Error for Elapsed {}

/// A balancer had no endpoint that could take the request.
///
/// ```
/// use bulwark_policy::NoEndpoint;
///
/// assert_eq!(NoEndpoint::new().to_string(), "no endpoint available");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoEndpoint(());

impl NoEndpoint {
    /// The error.
    ///
    /// ```
    /// let err: bulwark_policy::BoxError = bulwark_policy::NoEndpoint::new().into();
    /// assert!(err.is::<bulwark_policy::NoEndpoint>());
    /// ```
    pub const fn new() -> Self {
        Self(())
    }
}

impl fmt::Display for NoEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("no endpoint available")
    }
}

impl std::error::Error for NoEndpoint {}

/// A configuration value that makes no sense, named with the reason.
///
/// Builders return it from `build()`; deserialising a config returns it as the serde error's
/// message.
///
/// ```
/// use bulwark_policy::ConfigError;
///
/// let err = ConfigError::new("max_attempts", "must be at least 1");
/// assert_eq!(err.field(), "max_attempts");
/// assert_eq!(err.to_string(), "invalid `max_attempts`: must be at least 1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    field: &'static str,
    reason: Cow<'static, str>,
}

impl ConfigError {
    /// A complaint about `field`.
    ///
    /// ```
    /// let err = bulwark_policy::ConfigError::new("ttl", format!("must be positive, got {}", 0));
    /// assert_eq!(err.reason(), "must be positive, got 0");
    /// ```
    pub fn new(field: &'static str, reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }

    /// The name of the offending setting.
    ///
    /// ```
    /// assert_eq!(bulwark_policy::ConfigError::new("rate", "too high").field(), "rate");
    /// ```
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// Why it was refused.
    ///
    /// ```
    /// assert_eq!(bulwark_policy::ConfigError::new("rate", "too high").reason(), "too high");
    /// ```
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid `{}`: {}", self.field, self.reason)
    }
}

impl std::error::Error for ConfigError {}

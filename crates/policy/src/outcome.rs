//! What a finished call means, and the classifiers that decide it.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::time::Duration;

use crate::error::{BoxError, Elapsed, NoEndpoint, Rejected};

/// The verdict on one finished call, shared by every layer.
///
/// - retry retries retryable failures;
/// - the breaker counts failures against successes;
/// - fallback steps in on failures;
/// - balance ejects endpoints that fail;
/// - hooks count all three.
///
/// [`Outcome::Ignore`] says the call tells nothing about the health of the service: a 4xx answer
/// caused by the caller, or a call the caller cancelled. It counts neither as a success nor as a
/// failure.
///
/// ```
/// use bulwark_policy::{Failure, FailureKind, Outcome};
///
/// let outcome = Outcome::Failure(Failure::new(FailureKind::Timeout).retryable(true));
/// assert!(outcome.is_failure());
/// assert!(outcome.is_retryable());
/// assert_eq!(outcome.as_str(), "failure");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The call succeeded.
    Success,
    /// The call failed, as described.
    Failure(Failure),
    /// The call says nothing about the service's health.
    Ignore,
}

impl Outcome {
    /// Whether this is [`Outcome::Success`].
    ///
    /// ```
    /// assert!(bulwark_policy::Outcome::Success.is_success());
    /// ```
    pub const fn is_success(&self) -> bool {
        matches!(self, Outcome::Success)
    }

    /// Whether this is [`Outcome::Failure`].
    ///
    /// ```
    /// assert!(!bulwark_policy::Outcome::Ignore.is_failure());
    /// ```
    pub const fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failure(_))
    }

    /// Whether this is a failure that may be retried.
    ///
    /// ```
    /// use bulwark_policy::{Failure, FailureKind, Outcome};
    ///
    /// assert!(!Outcome::Failure(Failure::new(FailureKind::Status)).is_retryable());
    /// ```
    pub const fn is_retryable(&self) -> bool {
        matches!(self, Outcome::Failure(f) if f.retryable)
    }

    /// The failure, if this is one.
    ///
    /// ```
    /// use bulwark_policy::{Failure, FailureKind, Outcome};
    ///
    /// let failure = Failure::new(FailureKind::Overloaded);
    /// assert_eq!(Outcome::Failure(failure).failure(), Some(failure));
    /// assert_eq!(Outcome::Success.failure(), None);
    /// ```
    pub const fn failure(&self) -> Option<Failure> {
        match self {
            Outcome::Failure(f) => Some(*f),
            _ => None,
        }
    }

    /// A stable lower-case name, for labels: `success`, `failure` or `ignore`.
    ///
    /// ```
    /// assert_eq!(bulwark_policy::Outcome::Ignore.as_str(), "ignore");
    /// ```
    pub const fn as_str(&self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure(_) => "failure",
            Outcome::Ignore => "ignore",
        }
    }
}

/// What kind of failure a call ended in.
///
/// ```
/// use bulwark_policy::FailureKind;
///
/// assert_eq!(FailureKind::Timeout.as_str(), "timeout");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The service returned an error: a transport error, a refused connection.
    Error,
    /// A timeout elapsed.
    Timeout,
    /// The service said it is overloaded: HTTP 429 or 503, gRPC RESOURCE_EXHAUSTED.
    Overloaded,
    /// The service answered with a status that means failure, such as HTTP 500.
    Status,
    /// A circuit breaker refused the call without sending it.
    Rejected,
    /// A balancer had no endpoint for the call.
    NoEndpoint,
}

impl FailureKind {
    /// A stable lower-case name, for labels.
    ///
    /// ```
    /// assert_eq!(bulwark_policy::FailureKind::NoEndpoint.as_str(), "no_endpoint");
    /// ```
    pub const fn as_str(&self) -> &'static str {
        match self {
            FailureKind::Error => "error",
            FailureKind::Timeout => "timeout",
            FailureKind::Overloaded => "overloaded",
            FailureKind::Status => "status",
            FailureKind::Rejected => "rejected",
            FailureKind::NoEndpoint => "no_endpoint",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A failed call: its kind, whether it may be retried, and how long the server asked us to wait.
///
/// ```
/// use std::time::Duration;
/// use bulwark_policy::{Failure, FailureKind};
///
/// let failure = Failure::new(FailureKind::Overloaded)
///     .retryable(true)
///     .retry_after(Some(Duration::from_secs(2)));
/// assert_eq!(failure.kind, FailureKind::Overloaded);
/// assert!(failure.retryable);
/// assert_eq!(failure.retry_after, Some(Duration::from_secs(2)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failure {
    /// What went wrong.
    pub kind: FailureKind,
    /// Whether sending the request again may succeed.
    pub retryable: bool,
    /// How long the server (Retry-After, grpc-retry-pushback-ms) or a breaker asked callers to
    /// wait before trying again.
    pub retry_after: Option<Duration>,
}

impl Failure {
    /// A failure of `kind`, not retryable, with no `retry_after`.
    ///
    /// ```
    /// use bulwark_policy::{Failure, FailureKind};
    /// let f = Failure::new(FailureKind::Status);
    /// assert!(!f.retryable && f.retry_after.is_none());
    /// ```
    pub const fn new(kind: FailureKind) -> Self {
        Self {
            kind,
            retryable: false,
            retry_after: None,
        }
    }

    /// Sets whether it may be retried.
    ///
    /// ```
    /// use bulwark_policy::{Failure, FailureKind};
    /// assert!(Failure::new(FailureKind::Error).retryable(true).retryable);
    /// ```
    pub const fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// Sets how long the server asked callers to wait.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::{Failure, FailureKind};
    /// let f = Failure::new(FailureKind::Overloaded).retry_after(Some(Duration::from_secs(3)));
    /// assert_eq!(f.retry_after, Some(Duration::from_secs(3)));
    /// ```
    pub const fn retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }
}

/// Decides the [`Outcome`] of a finished call.
///
/// A classifier sees the whole result, answer and error alike, so an HTTP 503 answer can be a
/// failure and an error can be ignored. Any `Fn(&Result<Res, E>) -> Outcome` closure that is
/// `Clone + Send + Sync + 'static` is a classifier.
///
/// ```
/// use bulwark_policy::{Classify, ErrorsAsFailures, Outcome};
///
/// fn check<C: Classify<u16, ()>>(c: C) -> Outcome {
///     c.classify(&Ok(503))
/// }
/// assert!(check(ErrorsAsFailures).is_success());
/// assert!(check(|r: &Result<u16, ()>| match r {
///     Ok(s) if *s < 500 => Outcome::Success,
///     _ => Outcome::Failure(bulwark_policy::Failure::new(bulwark_policy::FailureKind::Status)),
/// })
/// .is_failure());
/// ```
pub trait Classify<Res, E>: Clone + Send + Sync + 'static {
    /// The verdict on `result`.
    fn classify(&self, result: &Result<Res, E>) -> Outcome;
}

impl<F, Res, E> Classify<Res, E> for F
where
    F: Fn(&Result<Res, E>) -> Outcome + Clone + Send + Sync + 'static,
{
    #[inline]
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        self(result)
    }
}

/// The default classifier: every `Ok` is a success, every `Err` a failure.
///
/// Errors are described by [`classify_error`]: bulwark's own errors keep their meaning (a
/// breaker's [`Rejected`] is not retryable at once and carries its `retry_after`; an
/// [`Elapsed`] timeout is a retryable [`FailureKind::Timeout`]), and any other error is a
/// retryable [`FailureKind::Error`].
///
/// ```
/// use bulwark_policy::{BoxError, Classify, ErrorsAsFailures, FailureKind, Outcome, Rejected};
///
/// let ok: Result<(), BoxError> = Ok(());
/// assert_eq!(ErrorsAsFailures.classify(&ok), Outcome::Success);
///
/// let rejected: Result<(), BoxError> = Err(Rejected::new(None).into());
/// let failure = ErrorsAsFailures.classify(&rejected).failure().unwrap();
/// assert_eq!(failure.kind, FailureKind::Rejected);
/// assert!(!failure.retryable);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorsAsFailures;

impl<Res, E: 'static> Classify<Res, E> for ErrorsAsFailures {
    #[inline]
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(e) => Outcome::Failure(classify_error(e)),
        }
    }
}

/// Describes an error as a [`Failure`], recognising bulwark's own error types.
///
/// It looks through a [`BoxError`] and along the chain of `source()`s, so a rejection wrapped by
/// another layer is still seen as a rejection:
///
/// - [`Rejected`]: kind `Rejected`, not retryable, `retry_after` from the breaker;
/// - [`Elapsed`]: kind `Timeout`, retryable;
/// - [`NoEndpoint`]: kind `NoEndpoint`, retryable;
/// - anything else: kind `Error`, retryable.
///
/// ```
/// use bulwark_policy::{classify_error, BoxError, Elapsed, FailureKind};
///
/// let err: BoxError = Elapsed::new().into();
/// assert_eq!(classify_error(&err).kind, FailureKind::Timeout);
/// assert_eq!(classify_error(&std::fmt::Error).kind, FailureKind::Error);
/// ```
pub fn classify_error<E: 'static>(err: &E) -> Failure {
    let any = err as &dyn Any;
    if let Some(boxed) = any.downcast_ref::<BoxError>() {
        return classify_dyn(&**boxed);
    }
    if let Some(boxed) = any.downcast_ref::<Box<dyn Error + Send>>() {
        return classify_dyn(&**boxed);
    }
    if let Some(boxed) = any.downcast_ref::<Box<dyn Error>>() {
        return classify_dyn(&**boxed);
    }
    known(any).unwrap_or(Failure::new(FailureKind::Error).retryable(true))
}

/// How many `source()` links are followed looking for a known error; guards against cycles.
const MAX_SOURCE_DEPTH: usize = 8;

fn classify_dyn(err: &(dyn Error + 'static)) -> Failure {
    let mut current = Some(err);
    for _ in 0..MAX_SOURCE_DEPTH {
        let Some(e) = current else { break };
        if let Some(failure) = known_dyn(e) {
            return failure;
        }
        current = e.source();
    }
    Failure::new(FailureKind::Error).retryable(true)
}

fn known_dyn(e: &(dyn Error + 'static)) -> Option<Failure> {
    if let Some(r) = e.downcast_ref::<Rejected>() {
        return Some(rejected(r));
    }
    if e.is::<Elapsed>() {
        return Some(Failure::new(FailureKind::Timeout).retryable(true));
    }
    if e.is::<NoEndpoint>() {
        return Some(Failure::new(FailureKind::NoEndpoint).retryable(true));
    }
    None
}

fn known(any: &dyn Any) -> Option<Failure> {
    if let Some(r) = any.downcast_ref::<Rejected>() {
        return Some(rejected(r));
    }
    if any.is::<Elapsed>() {
        return Some(Failure::new(FailureKind::Timeout).retryable(true));
    }
    if any.is::<NoEndpoint>() {
        return Some(Failure::new(FailureKind::NoEndpoint).retryable(true));
    }
    None
}

fn rejected(r: &Rejected) -> Failure {
    Failure::new(FailureKind::Rejected).retry_after(r.retry_after())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(BoxError);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("wrapped")
        }
    }
    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&*self.0)
        }
    }

    #[test]
    fn recognises_errors_through_boxes_and_sources() {
        let d = Duration::from_millis(750);
        let plain = Rejected::new(Some(d));
        assert_eq!(classify_error(&plain).retry_after, Some(d));
        let boxed: BoxError = Box::new(Wrapper(Box::new(plain)));
        let f = classify_error(&boxed);
        assert_eq!(f.kind, FailureKind::Rejected);
        assert!(!f.retryable);
        assert_eq!(f.retry_after, Some(d));

        let elapsed: BoxError = Box::new(Wrapper(Box::new(Elapsed::new())));
        let f = classify_error(&elapsed);
        assert_eq!((f.kind, f.retryable), (FailureKind::Timeout, true));

        assert_eq!(
            classify_error(&NoEndpoint::new()).kind,
            FailureKind::NoEndpoint
        );
        let io = std::io::Error::other("boom");
        assert_eq!(
            classify_error(&io),
            Failure::new(FailureKind::Error).retryable(true)
        );
    }

    #[test]
    fn closures_classify() {
        let c = |r: &Result<u8, ()>| {
            if r.is_ok() {
                Outcome::Ignore
            } else {
                Outcome::Success
            }
        };
        assert_eq!(c.classify(&Ok(1)), Outcome::Ignore);
        assert_eq!(
            ErrorsAsFailures.classify(&Err::<(), _>(())).as_str(),
            "failure"
        );
    }
}

//! The HTTP classifier: what an HTTP answer means for retry, the breaker and the rest.

use std::time::Duration;

use bulwark_policy::{classify_error, Classify, ConfigError, Failure, FailureKind, Outcome};
use http::StatusCode;

use crate::retry_after::retry_after;
use crate::StatusSet;

const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

fn default_failures() -> StatusSet {
    StatusSet::server_errors()
        .with(StatusCode::TOO_MANY_REQUESTS)
        .with(StatusCode::REQUEST_TIMEOUT)
}

/// Classifies HTTP answers and transport errors.
///
/// By default:
///
/// | result | outcome | kind | retryable | `retry_after` |
/// |---|---|---|---|---|
/// | 1xx, 2xx, 3xx | `Success` | | | |
/// | 429, 503 | `Failure` | `Overloaded` | yes | from `Retry-After`, capped |
/// | 408, every other 5xx | `Failure` | `Status` | yes | |
/// | every other 4xx | `Ignore` | | | |
/// | `Err(_)` | `Failure` | per [`classify_error`] | per [`classify_error`] | a breaker's |
///
/// A 4xx is the caller's mistake, so it says nothing about the server's health and retrying
/// it cannot help. 408 and 429 are the exceptions: the server timed out waiting, or is shedding
/// load. Errors go through [`classify_error`]: a transport error is a retryable
/// `Error`, and bulwark's own errors keep their meaning (a breaker's `Rejected` is not
/// retryable at once). `Retry-After` is read in both forms; a malformed one is ignored; the
/// wait is capped at one minute unless [`max_retry_after`](HttpClassifierBuilder::max_retry_after)
/// says otherwise.
///
/// Classifying reads the status and at most one header: it never allocates.
///
/// ```
/// use std::time::Duration;
/// use bulwark_policy::{Classify, FailureKind, Outcome};
/// use bulwark_http::HttpClassifier;
///
/// let classify = HttpClassifier::new();
/// let answer = |status: u16, retry_after: Option<&str>| {
///     let mut res = http::Response::builder().status(status);
///     if let Some(value) = retry_after {
///         res = res.header("retry-after", value);
///     }
///     Ok::<_, std::io::Error>(res.body(()).unwrap())
/// };
///
/// assert_eq!(classify.classify(&answer(200, None)), Outcome::Success);
/// assert_eq!(classify.classify(&answer(404, None)), Outcome::Ignore);
///
/// let busy = classify.classify(&answer(503, Some("2"))).failure().unwrap();
/// assert_eq!(busy.kind, FailureKind::Overloaded);
/// assert!(busy.retryable);
/// assert_eq!(busy.retry_after, Some(Duration::from_secs(2)));
///
/// let down = classify.classify(&Err::<http::Response<()>, _>(std::io::Error::other("refused")));
/// assert!(down.is_retryable());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct HttpClassifier {
    failures: StatusSet,
    retryable: StatusSet,
    max_retry_after: Duration,
}

impl HttpClassifier {
    /// The classifier with the defaults in the table above.
    ///
    /// ```
    /// use bulwark_policy::Classify;
    /// let res = http::Response::builder().status(500).body(()).unwrap();
    /// assert!(bulwark_http::HttpClassifier::new().classify(&Ok::<_, ()>(res)).is_retryable());
    /// ```
    pub fn new() -> Self {
        Self {
            failures: default_failures(),
            retryable: default_failures(),
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
        }
    }

    /// A builder, starting from the defaults.
    ///
    /// ```
    /// use http::StatusCode;
    /// use bulwark_http::{HttpClassifier, StatusSet};
    ///
    /// let classify = HttpClassifier::builder()
    ///     .retryable_statuses(
    ///         StatusSet::server_errors()
    ///             .with(StatusCode::TOO_MANY_REQUESTS)
    ///             .without(StatusCode::NOT_IMPLEMENTED),
    ///     )
    ///     .build()
    ///     .unwrap();
    /// # let _ = classify;
    /// ```
    pub fn builder() -> HttpClassifierBuilder {
        HttpClassifierBuilder {
            inner: Self::new(),
            retryable: None,
        }
    }

    /// The statuses that are failures.
    ///
    /// ```
    /// let c = bulwark_http::HttpClassifier::new();
    /// assert!(c.failure_statuses().contains(http::StatusCode::REQUEST_TIMEOUT));
    /// ```
    pub fn failure_statuses(&self) -> &StatusSet {
        &self.failures
    }

    /// The failure statuses that may be retried.
    ///
    /// ```
    /// let c = bulwark_http::HttpClassifier::new();
    /// assert!(c.retryable_statuses().contains(http::StatusCode::TOO_MANY_REQUESTS));
    /// ```
    pub fn retryable_statuses(&self) -> &StatusSet {
        &self.retryable
    }

    /// The most a `Retry-After` header may ask callers to wait.
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(bulwark_http::HttpClassifier::new().max_retry_after(), Duration::from_secs(60));
    /// ```
    pub fn max_retry_after(&self) -> Duration {
        self.max_retry_after
    }

    /// The outcome of an HTTP answer.
    ///
    /// ```
    /// use bulwark_http::HttpClassifier;
    /// let res = http::Response::builder().status(429).body(()).unwrap();
    /// assert!(HttpClassifier::new().classify_response(&res).is_retryable());
    /// ```
    pub fn classify_response<B>(&self, res: &http::Response<B>) -> Outcome {
        let status = res.status();
        if self.failures.contains(status) {
            let overloaded = matches!(
                status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            );
            let (kind, wait) = if overloaded {
                let wait = retry_after(res.headers(), self.max_retry_after);
                (FailureKind::Overloaded, wait)
            } else {
                (FailureKind::Status, None)
            };
            Outcome::Failure(
                Failure::new(kind)
                    .retryable(self.retryable.contains(status))
                    .retry_after(wait),
            )
        } else if status.is_client_error() {
            Outcome::Ignore
        } else {
            Outcome::Success
        }
    }
}

impl Default for HttpClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl<B, E: 'static> Classify<http::Response<B>, E> for HttpClassifier {
    #[inline]
    fn classify(&self, result: &Result<http::Response<B>, E>) -> Outcome {
        match result {
            Ok(res) => self.classify_response(res),
            Err(err) => Outcome::Failure(classify_error(err)),
        }
    }
}

/// Builds an [`HttpClassifier`]; see [`HttpClassifier::builder`].
///
/// ```
/// use std::time::Duration;
/// use bulwark_http::HttpClassifier;
///
/// let err = HttpClassifier::builder().max_retry_after(Duration::ZERO).build().unwrap_err();
/// assert_eq!(err.field(), "max_retry_after");
/// ```
#[derive(Debug, Clone)]
pub struct HttpClassifierBuilder {
    inner: HttpClassifier,
    retryable: Option<StatusSet>,
}

impl HttpClassifierBuilder {
    /// The statuses that are failures (default: 5xx, 429 and 408). 4xx statuses outside it are
    /// `Ignore`; the rest are `Success`. It may not hold a 1xx or 2xx status.
    ///
    /// ```
    /// use http::StatusCode;
    /// use bulwark_http::{HttpClassifier, StatusSet};
    ///
    /// // Count 409 Conflict as a failure, without retrying it.
    /// let failures = StatusSet::server_errors().with(StatusCode::CONFLICT);
    /// let c = HttpClassifier::builder().failure_statuses(failures).build().unwrap();
    /// assert!(c.failure_statuses().contains(StatusCode::CONFLICT));
    /// assert!(!c.retryable_statuses().contains(StatusCode::CONFLICT));
    /// ```
    pub fn failure_statuses(mut self, failures: StatusSet) -> Self {
        self.inner.failures = failures;
        self
    }

    /// The failure statuses that may be retried (default: those of 5xx, 429 and 408 that are
    /// failure statuses). It must be part of the failure statuses; statuses outside it are
    /// failures that are not retried.
    ///
    /// ```
    /// use http::StatusCode;
    /// use bulwark_http::{HttpClassifier, StatusSet};
    ///
    /// let only_busy = StatusSet::new().with(StatusCode::SERVICE_UNAVAILABLE);
    /// let c = HttpClassifier::builder().retryable_statuses(only_busy).build().unwrap();
    /// assert!(!c.retryable_statuses().contains(StatusCode::INTERNAL_SERVER_ERROR));
    /// ```
    pub fn retryable_statuses(mut self, retryable: StatusSet) -> Self {
        self.retryable = Some(retryable);
        self
    }

    /// The most a `Retry-After` header may ask callers to wait (default: one minute). Must be
    /// positive.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = bulwark_http::HttpClassifier::builder()
    ///     .max_retry_after(Duration::from_secs(5))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(c.max_retry_after(), Duration::from_secs(5));
    /// ```
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.inner.max_retry_after = max;
        self
    }

    /// The classifier, or the first setting that makes no sense.
    ///
    /// ```
    /// use http::StatusCode;
    /// use bulwark_http::{HttpClassifier, StatusSet};
    ///
    /// let err = HttpClassifier::builder()
    ///     .retryable_statuses(StatusSet::new().with(StatusCode::NOT_FOUND))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.field(), "retryable_statuses");
    /// ```
    pub fn build(self) -> Result<HttpClassifier, ConfigError> {
        let mut c = self.inner;
        c.retryable = self
            .retryable
            .unwrap_or_else(|| c.failures.intersection(default_failures()));
        if let Some(s) = c
            .failures
            .iter()
            .find(|s| s.is_informational() || s.is_success())
        {
            return Err(ConfigError::new(
                "failure_statuses",
                format!("{} is a success, not a failure", s.as_u16()),
            ));
        }
        if let Some(s) = c.retryable.iter().find(|s| !c.failures.contains(*s)) {
            return Err(ConfigError::new(
                "retryable_statuses",
                format!("{} is retryable but not a failure status", s.as_u16()),
            ));
        }
        if c.max_retry_after.is_zero() {
            return Err(ConfigError::new("max_retry_after", "must be positive"));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use bulwark_policy::{BoxError, Elapsed, Rejected};

    use super::*;

    fn answer(status: u16, headers: &[(&str, &str)]) -> Result<http::Response<()>, BoxError> {
        let mut res = http::Response::builder().status(status);
        for (name, value) in headers {
            res = res.header(*name, *value);
        }
        Ok(res.body(()).unwrap())
    }

    #[test]
    fn default_verdicts_by_status() {
        let c = HttpClassifier::new();
        for s in [100, 200, 204, 301, 304, 399] {
            assert_eq!(c.classify(&answer(s, &[])), Outcome::Success, "{s}");
        }
        for s in [400, 401, 404, 409, 499] {
            assert_eq!(c.classify(&answer(s, &[])), Outcome::Ignore, "{s}");
        }
        for s in [408, 500, 501, 502, 504, 599] {
            let f = c.classify(&answer(s, &[])).failure().unwrap();
            assert_eq!(
                (f.kind, f.retryable, f.retry_after),
                (FailureKind::Status, true, None)
            );
        }
        for s in [429, 503] {
            let f = c.classify(&answer(s, &[])).failure().unwrap();
            assert_eq!(
                (f.kind, f.retryable),
                (FailureKind::Overloaded, true),
                "{s}"
            );
        }
        assert_eq!(c.classify(&answer(600, &[])), Outcome::Success);
    }

    #[test]
    fn retry_after_is_read_on_429_and_503_only_and_capped() {
        let c = HttpClassifier::builder()
            .max_retry_after(Duration::from_secs(10))
            .build()
            .unwrap();
        let wait = |s, v| {
            c.classify(&answer(s, &[("retry-after", v)]))
                .failure()
                .unwrap()
                .retry_after
        };
        assert_eq!(wait(429, "3"), Some(Duration::from_secs(3)));
        assert_eq!(wait(503, "3600"), Some(Duration::from_secs(10)));
        assert_eq!(
            wait(503, "Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(
            wait(503, "Fri, 31 Dec 9999 23:59:59 GMT"),
            Some(Duration::from_secs(10))
        );
        assert_eq!(wait(500, "3"), None);
        assert_eq!(wait(503, "later"), None);
        let f = c
            .classify(&answer(503, &[("retry-after", "-3")]))
            .failure()
            .unwrap();
        assert!(
            f.retryable,
            "a malformed header does not change the verdict"
        );
    }

    #[test]
    fn errors_keep_their_meaning() {
        let c = HttpClassifier::new();
        let err = |e: BoxError| {
            c.classify(&Err::<http::Response<()>, _>(e))
                .failure()
                .unwrap()
        };
        let transport = err(std::io::Error::other("reset").into());
        assert_eq!(
            (transport.kind, transport.retryable),
            (FailureKind::Error, true)
        );
        let rejected = err(Rejected::new(Some(Duration::from_secs(4))).into());
        assert_eq!(rejected.kind, FailureKind::Rejected);
        assert!(!rejected.retryable);
        assert_eq!(rejected.retry_after, Some(Duration::from_secs(4)));
        assert_eq!(err(Elapsed::new().into()).kind, FailureKind::Timeout);
    }

    #[test]
    fn sets_are_configurable() {
        let c = HttpClassifier::builder()
            .failure_statuses(StatusSet::server_errors().with(StatusCode::CONFLICT))
            .retryable_statuses(StatusSet::new().with(StatusCode::BAD_GATEWAY))
            .build()
            .unwrap();
        let conflict = c.classify(&answer(409, &[])).failure().unwrap();
        assert!(!conflict.retryable);
        assert!(!c.classify(&answer(500, &[])).is_retryable());
        assert!(c.classify(&answer(502, &[])).is_retryable());
        assert_eq!(c.classify(&answer(429, &[])), Outcome::Ignore);

        // Unless set, the retryable statuses follow the failure statuses.
        let c = HttpClassifier::builder()
            .failure_statuses(
                StatusSet::new()
                    .with(StatusCode::BAD_GATEWAY)
                    .with(StatusCode::GONE),
            )
            .build()
            .unwrap();
        assert!(c.classify(&answer(502, &[])).is_retryable());
        assert!(!c.classify(&answer(410, &[])).is_retryable());
        assert_eq!(c.classify(&answer(500, &[])), Outcome::Success);
    }

    #[test]
    fn nonsense_is_refused() {
        let err = HttpClassifier::builder()
            .failure_statuses(StatusSet::new().with(StatusCode::OK))
            .retryable_statuses(StatusSet::new())
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "failure_statuses");
        let err = HttpClassifier::builder()
            .failure_statuses(StatusSet::new())
            .retryable_statuses(StatusSet::new().with(StatusCode::REQUEST_TIMEOUT))
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "retryable_statuses");
        assert!(err.reason().contains("408"), "{}", err.reason());
    }
}

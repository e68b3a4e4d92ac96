//! The gRPC classifier.

use std::time::Duration;

use bulwark_policy::{classify_error, Classify, ConfigError, Failure, FailureKind, Outcome};
use http::StatusCode;

use super::code::{Code, CodeSet, GRPC_STATUS};
use super::pushback::{pushback, Pushback};

pub(crate) const DEFAULT_MAX_PUSHBACK: Duration = Duration::from_secs(60);

/// The codes that say the server, not the caller, is in trouble.
const DEFAULT_FAILURES: CodeSet = CodeSet::new()
    .with(Code::Unknown)
    .with(Code::DeadlineExceeded)
    .with(Code::ResourceExhausted)
    .with(Code::Internal)
    .with(Code::Unavailable)
    .with(Code::DataLoss);

const DEFAULT_RETRYABLE: CodeSet = CodeSet::new().with(Code::Unavailable);

/// Classifies gRPC answers (`http::Response`s from a gRPC channel) and transport errors.
///
/// # What it can see, and what it cannot
///
/// A gRPC call's status travels in the **trailers**, after the response messages. A
/// classifier runs when the response *head* arrives, so it reads the status only from a
/// **trailers-only** response: one where the server failed before sending any message, and
/// put `grpc-status` in the headers. That is how servers report UNAVAILABLE,
/// RESOURCE_EXHAUSTED, UNIMPLEMENTED and most errors that retrying or a breaker cares about.
///
/// **It cannot see a status that arrives only in the trailers of a streaming body** — a call
/// that sent messages and then failed. It classifies such a response, like every HTTP 200
/// response with no `grpc-status` header, as a `Success`. (Neither can gRPC's own retry: once
/// a response has begun, a call is committed and is not retried.)
///
/// # Verdicts
///
/// - `grpc-status: 0`: `Success`.
/// - A code in the failure set (default: UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED,
///   INTERNAL, UNAVAILABLE, DATA_LOSS): `Failure`, of kind `Timeout` for DEADLINE_EXCEEDED,
///   `Overloaded` for UNAVAILABLE and RESOURCE_EXHAUSTED, `Status` otherwise.
/// - Any other code (the caller's mistakes, such as INVALID_ARGUMENT or NOT_FOUND, and
///   CANCELLED): `Ignore`.
/// - A `grpc-status` that is not a number: UNKNOWN, as gRPC clients read it.
/// - No `grpc-status` and an HTTP status other than 200: the code the gRPC spec maps that
///   status to ([`Code::from_http_status`]: 503 is UNAVAILABLE).
/// - `Err(_)`: as [`classify_error`] says (a transport error is a retryable `Error`).
///
/// A failure is retryable if its code is in the retryable set (default: UNAVAILABLE), or it is
/// RESOURCE_EXHAUSTED and the server sent a `grpc-retry-pushback-ms` wait (this can be turned
/// off). Following gRPC's retry design, a pushback is the server's word: a wait becomes the
/// failure's `retry_after` (capped, one minute by default), and a negative or malformed value
/// makes the failure not retryable whatever its code.
///
/// ```
/// use std::time::Duration;
/// use bulwark_policy::{Classify, FailureKind, Outcome};
/// use bulwark_http::GrpcClassifier;
///
/// let answer = |headers: &[(&str, &str)]| {
///     let mut res = http::Response::builder().header("content-type", "application/grpc");
///     for (name, value) in headers {
///         res = res.header(*name, *value);
///     }
///     Ok::<_, std::io::Error>(res.body(()).unwrap())
/// };
/// let classify = GrpcClassifier::new();
///
/// assert_eq!(classify.classify(&answer(&[])), Outcome::Success); // status in the trailers
/// assert_eq!(classify.classify(&answer(&[("grpc-status", "0")])), Outcome::Success);
/// assert_eq!(classify.classify(&answer(&[("grpc-status", "5")])), Outcome::Ignore); // NOT_FOUND
///
/// let unavailable = classify.classify(&answer(&[("grpc-status", "14")])).failure().unwrap();
/// assert_eq!((unavailable.kind, unavailable.retryable), (FailureKind::Overloaded, true));
///
/// let exhausted = answer(&[("grpc-status", "8"), ("grpc-retry-pushback-ms", "200")]);
/// let exhausted = classify.classify(&exhausted).failure().unwrap();
/// assert!(exhausted.retryable);
/// assert_eq!(exhausted.retry_after, Some(Duration::from_millis(200)));
///
/// let refused = answer(&[("grpc-status", "14"), ("grpc-retry-pushback-ms", "-1")]);
/// assert!(!classify.classify(&refused).is_retryable());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct GrpcClassifier {
    failures: CodeSet,
    retryable: CodeSet,
    exhausted_with_pushback: bool,
    max_pushback: Duration,
}

impl GrpcClassifier {
    /// The classifier with the defaults described above.
    ///
    /// ```
    /// use bulwark_policy::Classify;
    /// let res = http::Response::builder().header("grpc-status", "14").body(()).unwrap();
    /// assert!(bulwark_http::GrpcClassifier::new().classify(&Ok::<_, ()>(res)).is_retryable());
    /// ```
    pub const fn new() -> Self {
        Self {
            failures: DEFAULT_FAILURES,
            retryable: DEFAULT_RETRYABLE,
            exhausted_with_pushback: true,
            max_pushback: DEFAULT_MAX_PUSHBACK,
        }
    }

    /// A builder, starting from the defaults.
    ///
    /// ```
    /// use bulwark_http::{Code, CodeSet, GrpcClassifier};
    ///
    /// let classify = GrpcClassifier::builder()
    ///     .retryable_codes(CodeSet::new().with(Code::Unavailable).with(Code::Internal))
    ///     .build()
    ///     .unwrap();
    /// assert!(classify.retryable_codes().contains(Code::Internal));
    /// ```
    pub const fn builder() -> GrpcClassifierBuilder {
        GrpcClassifierBuilder { inner: Self::new() }
    }

    /// The codes that are failures.
    ///
    /// ```
    /// use bulwark_http::{Code, GrpcClassifier};
    /// assert!(!GrpcClassifier::new().failure_codes().contains(Code::NotFound));
    /// ```
    pub const fn failure_codes(&self) -> CodeSet {
        self.failures
    }

    /// The failure codes that may be retried.
    ///
    /// ```
    /// use bulwark_http::{Code, GrpcClassifier};
    /// assert!(GrpcClassifier::new().retryable_codes().contains(Code::Unavailable));
    /// ```
    pub const fn retryable_codes(&self) -> CodeSet {
        self.retryable
    }

    /// The most a pushback may ask callers to wait.
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(bulwark_http::GrpcClassifier::new().max_pushback(), Duration::from_secs(60));
    /// ```
    pub const fn max_pushback(&self) -> Duration {
        self.max_pushback
    }

    /// The gRPC code of an answer: from `grpc-status`, else from the HTTP status; `None` for
    /// an HTTP 200 with no `grpc-status`, whose status is still to come in the trailers.
    ///
    /// ```
    /// use bulwark_http::{Code, GrpcClassifier};
    ///
    /// let ok = http::Response::new(());
    /// assert_eq!(GrpcClassifier::code(&ok), None);
    /// let bad_gateway = http::Response::builder().status(502).body(()).unwrap();
    /// assert_eq!(GrpcClassifier::code(&bad_gateway), Some(Code::Unavailable));
    /// ```
    pub fn code<B>(res: &http::Response<B>) -> Option<Code> {
        match res.headers().get(GRPC_STATUS) {
            Some(value) => Some(Code::parse(value).unwrap_or(Code::Unknown)),
            None if res.status() == StatusCode::OK => None,
            None => Some(Code::from_http_status(res.status())),
        }
    }

    /// The outcome of a gRPC answer.
    ///
    /// ```
    /// use bulwark_http::GrpcClassifier;
    /// let res = http::Response::builder().header("grpc-status", "13").body(()).unwrap();
    /// assert!(GrpcClassifier::new().classify_response(&res).is_failure());
    /// ```
    pub fn classify_response<B>(&self, res: &http::Response<B>) -> Outcome {
        match Self::code(res) {
            None => Outcome::Success,
            Some(code) => self.classify_code(code, pushback(res.headers(), self.max_pushback)),
        }
    }

    /// The outcome of a call that ended with `code`, and the server's pushback if it sent one.
    pub(crate) fn classify_code(&self, code: Code, pushback: Option<Pushback>) -> Outcome {
        if code == Code::Ok {
            return Outcome::Success;
        }
        if !self.failures.contains(code) {
            return Outcome::Ignore;
        }
        let kind = match code {
            Code::DeadlineExceeded => FailureKind::Timeout,
            Code::Unavailable | Code::ResourceExhausted => FailureKind::Overloaded,
            _ => FailureKind::Status,
        };
        let (retryable, wait) = match pushback {
            Some(Pushback::DoNotRetry) => (false, None),
            Some(Pushback::RetryAfter(wait)) => {
                let exhausted = self.exhausted_with_pushback && code == Code::ResourceExhausted;
                (self.retryable.contains(code) || exhausted, Some(wait))
            }
            None => (self.retryable.contains(code), None),
        };
        Outcome::Failure(Failure::new(kind).retryable(retryable).retry_after(wait))
    }
}

impl Default for GrpcClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl<B, E: 'static> Classify<http::Response<B>, E> for GrpcClassifier {
    #[inline]
    fn classify(&self, result: &Result<http::Response<B>, E>) -> Outcome {
        match result {
            Ok(res) => self.classify_response(res),
            Err(err) => Outcome::Failure(classify_error(err)),
        }
    }
}

/// Builds a [`GrpcClassifier`]; see [`GrpcClassifier::builder`].
///
/// ```
/// use bulwark_http::{Code, CodeSet, GrpcClassifier};
///
/// let err = GrpcClassifier::builder().failure_codes(CodeSet::new().with(Code::Ok)).build();
/// assert_eq!(err.unwrap_err().field(), "failure_codes");
/// ```
#[derive(Debug, Clone)]
pub struct GrpcClassifierBuilder {
    inner: GrpcClassifier,
}

impl GrpcClassifierBuilder {
    /// The codes that are failures; other codes but OK are `Ignore`. It may not hold OK.
    ///
    /// ```
    /// use bulwark_http::{Code, CodeSet, GrpcClassifier};
    /// let c = GrpcClassifier::builder()
    ///     .failure_codes(CodeSet::new().with(Code::Unavailable).with(Code::Aborted))
    ///     .build()
    ///     .unwrap();
    /// assert!(c.failure_codes().contains(Code::Aborted));
    /// ```
    pub const fn failure_codes(mut self, failures: CodeSet) -> Self {
        self.inner.failures = failures;
        self
    }

    /// The failure codes that may be retried (default: UNAVAILABLE). It must be part of the
    /// failure codes.
    ///
    /// ```
    /// use bulwark_http::{CodeSet, GrpcClassifier};
    /// let never = GrpcClassifier::builder().retryable_codes(CodeSet::new()).build().unwrap();
    /// assert!(never.retryable_codes().iter().next().is_none());
    /// ```
    pub const fn retryable_codes(mut self, retryable: CodeSet) -> Self {
        self.inner.retryable = retryable;
        self
    }

    /// Whether RESOURCE_EXHAUSTED with a `grpc-retry-pushback-ms` wait is retryable even when
    /// it is not in the retryable codes (default: true).
    ///
    /// ```
    /// use bulwark_policy::Classify;
    /// use bulwark_http::GrpcClassifier;
    ///
    /// let c = GrpcClassifier::builder().retry_exhausted_with_pushback(false).build().unwrap();
    /// let res = http::Response::builder()
    ///     .header("grpc-status", "8")
    ///     .header("grpc-retry-pushback-ms", "10")
    ///     .body(())
    ///     .unwrap();
    /// assert!(!c.classify(&Ok::<_, ()>(res)).is_retryable());
    /// ```
    pub const fn retry_exhausted_with_pushback(mut self, retry: bool) -> Self {
        self.inner.exhausted_with_pushback = retry;
        self
    }

    /// The most a pushback may ask callers to wait (default: one minute). Must be positive.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = bulwark_http::GrpcClassifier::builder().max_pushback(Duration::from_secs(1)).build();
    /// assert!(c.is_ok());
    /// ```
    pub const fn max_pushback(mut self, max: Duration) -> Self {
        self.inner.max_pushback = max;
        self
    }

    /// The classifier, or the first setting that makes no sense.
    ///
    /// ```
    /// use bulwark_http::{Code, CodeSet, GrpcClassifier};
    /// let err = GrpcClassifier::builder()
    ///     .retryable_codes(CodeSet::new().with(Code::NotFound))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.field(), "retryable_codes");
    /// ```
    pub fn build(self) -> Result<GrpcClassifier, ConfigError> {
        let c = self.inner;
        if c.failures.contains(Code::Ok) {
            return Err(ConfigError::new("failure_codes", "OK is not a failure"));
        }
        if let Some(code) = c.retryable.iter().find(|&code| !c.failures.contains(code)) {
            return Err(ConfigError::new(
                "retryable_codes",
                format!("{code} is retryable but not a failure code"),
            ));
        }
        if c.max_pushback.is_zero() {
            return Err(ConfigError::new("max_pushback", "must be positive"));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use bulwark_policy::BoxError;

    use super::*;

    fn answer(status: u16, headers: &[(&str, &str)]) -> Result<http::Response<()>, BoxError> {
        let mut res = http::Response::builder().status(status);
        for (name, value) in headers {
            res = res.header(*name, *value);
        }
        Ok(res.body(()).unwrap())
    }

    fn grpc(code: &str, pushback: Option<&str>) -> Result<http::Response<()>, BoxError> {
        let mut headers = vec![("grpc-status", code)];
        headers.extend(pushback.map(|p| ("grpc-retry-pushback-ms", p)));
        answer(200, &headers)
    }

    #[test]
    fn every_code_by_default() {
        let c = GrpcClassifier::new();
        for n in 0..=17u32 {
            let code = Code::from_u32(n);
            let outcome = c.classify(&grpc(&n.to_string(), None));
            match code {
                Code::Ok => assert_eq!(outcome, Outcome::Success),
                Code::Unknown
                | Code::DeadlineExceeded
                | Code::ResourceExhausted
                | Code::Internal
                | Code::Unavailable
                | Code::DataLoss => {
                    let f = outcome.failure().unwrap();
                    assert_eq!(f.retryable, code == Code::Unavailable, "{code}");
                }
                _ => assert_eq!(outcome, Outcome::Ignore, "{code}"),
            }
        }
        let kind = |code| c.classify(&grpc(code, None)).failure().unwrap().kind;
        assert_eq!(kind("4"), FailureKind::Timeout);
        assert_eq!(kind("8"), FailureKind::Overloaded);
        assert_eq!(kind("14"), FailureKind::Overloaded);
        assert_eq!(kind("13"), FailureKind::Status);
        assert_eq!(kind("garbage"), FailureKind::Status);
    }

    #[test]
    fn pushback_decides_retrying() {
        let c = GrpcClassifier::builder()
            .max_pushback(Duration::from_secs(2))
            .build()
            .unwrap();
        let f = |code, p| c.classify(&grpc(code, p)).failure().unwrap();

        assert!(!f("8", None).retryable);
        let exhausted = f("8", Some("1500"));
        assert!(exhausted.retryable);
        assert_eq!(exhausted.retry_after, Some(Duration::from_millis(1500)));
        assert_eq!(
            f("14", Some("999999")).retry_after,
            Some(Duration::from_secs(2))
        );
        for refusal in ["-1", "soon", ""] {
            let refused = f("14", Some(refusal));
            assert!(!refused.retryable, "{refusal:?}");
            assert_eq!(refused.retry_after, None);
        }
        assert!(
            !f("13", Some("10")).retryable,
            "pushback alone does not make INTERNAL retryable"
        );
    }

    #[test]
    fn http_statuses_without_grpc_status_are_mapped() {
        let c = GrpcClassifier::new();
        assert_eq!(c.classify(&answer(200, &[])), Outcome::Success);
        assert!(c.classify(&answer(503, &[])).is_retryable());
        assert!(c.classify(&answer(429, &[])).is_retryable());
        assert_eq!(c.classify(&answer(404, &[])), Outcome::Ignore); // UNIMPLEMENTED
        assert!(c.classify(&answer(500, &[])).is_failure()); // UNKNOWN
                                                             // A grpc-status in the headers wins over the HTTP status.
        assert_eq!(
            c.classify(&answer(503, &[("grpc-status", "0")])),
            Outcome::Success
        );
    }

    #[test]
    fn transport_errors_are_retryable() {
        let err: Result<http::Response<()>, BoxError> = Err("connection reset".into());
        let f = GrpcClassifier::new().classify(&err).failure().unwrap();
        assert_eq!((f.kind, f.retryable), (FailureKind::Error, true));
    }

    #[test]
    fn nonsense_is_refused() {
        let zero = GrpcClassifier::builder()
            .max_pushback(Duration::ZERO)
            .build();
        assert_eq!(zero.unwrap_err().field(), "max_pushback");
    }
}

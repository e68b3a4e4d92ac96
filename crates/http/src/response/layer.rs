//! `ErrorResponseLayer` and the statuses it answers with.

use std::fmt;

use bulwark_policy::{classify_error, BoxError, ConfigError, Failure, FailureKind};
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderName, HeaderValue, StatusCode};
use tower_layer::Layer;

use super::ErrorResponse;
use crate::retry_after::retry_after_value;
use crate::{Code, GRPC_RETRY_PUSHBACK_MS, GRPC_STATUS};

const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");

/// Turns a service's errors into HTTP responses, so that a stack of bulwark layers is
/// infallible and axum needs no `HandleErrorLayer`.
///
/// Each error is recognised through its `source()` chain (by [`classify_error`]), so a
/// breaker's rejection wrapped by another layer is still a rejection:
///
/// | error | status (default) | headers |
/// |---|---|---|
/// | [`Rejected`](bulwark_policy::Rejected) (a breaker is open) | 503 | `Retry-After`, in seconds rounded up, when the breaker knows |
/// | [`Elapsed`](bulwark_policy::Elapsed) (a timeout) | 504 | |
/// | [`NoEndpoint`](bulwark_policy::NoEndpoint) (a balancer had none) | 503 | |
/// | anything else | 500 (or 502, a common choice for proxies) | |
///
/// The body is `B::default()`, an empty body for hyper, axum and http-body-util bodies. The
/// response's extensions hold the error's [`Failure`](bulwark_policy::Failure), so an outer
/// layer can tell a synthesised 503 from an upstream's.
///
/// ```
/// use std::time::Duration;
/// use http_body_util::Empty;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
/// use bulwark_policy::{BoxError, Rejected};
/// use bulwark_http::ErrorResponseLayer;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let svc = ServiceBuilder::new()
///     .layer(ErrorResponseLayer::new())
///     .service(service_fn(|_: http::Request<()>| async {
///         Err::<http::Response<Empty<bytes::Bytes>>, BoxError>(
///             Rejected::new(Some(Duration::from_millis(2500))).into(),
///         )
///     }));
/// let res = svc.oneshot(http::Request::new(())).await.unwrap(); // Infallible
/// assert_eq!(res.status(), 503);
/// assert_eq!(res.headers()["retry-after"], "3");
/// # }
/// ```
///
/// For gRPC servers, [`ErrorResponseLayer::grpc`] answers with gRPC statuses instead.
#[derive(Debug, Clone, Copy)]
pub struct ErrorResponseLayer {
    rejected: StatusCode,
    elapsed: StatusCode,
    no_endpoint: StatusCode,
    other: StatusCode,
    grpc: bool,
}

impl ErrorResponseLayer {
    /// The layer with the default statuses: 503, 504, 503 and 500.
    ///
    /// ```
    /// let layer = bulwark_http::ErrorResponseLayer::new();
    /// # let _ = layer;
    /// ```
    pub const fn new() -> Self {
        Self {
            rejected: StatusCode::SERVICE_UNAVAILABLE,
            elapsed: StatusCode::GATEWAY_TIMEOUT,
            no_endpoint: StatusCode::SERVICE_UNAVAILABLE,
            other: StatusCode::INTERNAL_SERVER_ERROR,
            grpc: false,
        }
    }

    /// The layer for gRPC servers: errors become trailers-only gRPC answers (HTTP 200, with
    /// `grpc-status` in the headers), which every gRPC client reads as the call's status:
    ///
    /// | error | `grpc-status` | also |
    /// |---|---|---|
    /// | [`Rejected`](bulwark_policy::Rejected) | 14 UNAVAILABLE | `grpc-retry-pushback-ms`, rounded up, when the breaker knows |
    /// | [`Elapsed`](bulwark_policy::Elapsed) | 4 DEADLINE_EXCEEDED | |
    /// | [`NoEndpoint`](bulwark_policy::NoEndpoint) | 14 UNAVAILABLE | |
    /// | anything else | 2 UNKNOWN | |
    ///
    /// bulwark's own errors are described in `grpc-message`; other errors' messages are not
    /// sent, as they may say more about the server than its clients should know.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::{BoxError, Rejected};
    /// use bulwark_http::ErrorResponseLayer;
    ///
    /// let err: BoxError = Rejected::new(Some(Duration::from_millis(1500))).into();
    /// let res: http::Response<()> = ErrorResponseLayer::grpc().response_for(&err);
    /// assert_eq!(res.status(), 200);
    /// assert_eq!(res.headers()["content-type"], "application/grpc");
    /// assert_eq!(res.headers()["grpc-status"], "14");
    /// assert_eq!(res.headers()["grpc-message"], "circuit breaker is open");
    /// assert_eq!(res.headers()["grpc-retry-pushback-ms"], "1500");
    /// ```
    pub const fn grpc() -> Self {
        let mut layer = Self::new();
        layer.grpc = true;
        layer
    }

    /// A builder, starting from the defaults.
    ///
    /// ```
    /// use http::StatusCode;
    /// let layer = bulwark_http::ErrorResponseLayer::builder()
    ///     .other(StatusCode::BAD_GATEWAY)
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub const fn builder() -> ErrorResponseBuilder {
        ErrorResponseBuilder { inner: Self::new() }
    }

    /// The response for `err`.
    ///
    /// ```
    /// use bulwark_policy::{BoxError, Elapsed};
    /// use bulwark_http::ErrorResponseLayer;
    ///
    /// let err: BoxError = Elapsed::new().into();
    /// let res: http::Response<()> = ErrorResponseLayer::new().response_for(&err);
    /// assert_eq!(res.status(), 504);
    /// ```
    pub fn response_for<B: Default>(&self, err: &BoxError) -> http::Response<B> {
        self.respond(classify_error(err), err)
    }

    /// The response for a `failure` found without an error, such as a request that a load
    /// shedder refused, with `message` as its gRPC `grpc-message`. The statuses are those of
    /// [`response_for`](Self::response_for); a [`FailureKind::Overloaded`] is answered with
    /// 503 (gRPC: 14 UNAVAILABLE). The response's extensions hold `failure`.
    ///
    /// ```
    /// use bulwark_policy::{Failure, FailureKind};
    /// use bulwark_http::ErrorResponseLayer;
    ///
    /// let shed = Failure::new(FailureKind::Overloaded).retryable(true);
    /// let res: http::Response<()> = ErrorResponseLayer::new().response_for_failure(shed, "server overloaded");
    /// assert_eq!(res.status(), 503);
    /// assert_eq!(res.extensions().get::<Failure>(), Some(&shed));
    ///
    /// let res: http::Response<()> = ErrorResponseLayer::grpc().response_for_failure(shed, "server overloaded");
    /// assert_eq!(res.status(), 200);
    /// assert_eq!(res.headers()["grpc-status"], "14");
    /// assert_eq!(res.headers()["grpc-message"], "server overloaded");
    /// ```
    pub fn response_for_failure<B: Default>(
        &self,
        failure: Failure,
        message: &str,
    ) -> http::Response<B> {
        self.respond(failure, &message)
    }

    fn respond<B: Default>(
        &self,
        failure: Failure,
        message: &dyn fmt::Display,
    ) -> http::Response<B> {
        if self.grpc {
            return grpc_response(failure, message);
        }
        let status = match failure.kind {
            FailureKind::Rejected => self.rejected,
            FailureKind::Timeout => self.elapsed,
            FailureKind::NoEndpoint => self.no_endpoint,
            FailureKind::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            _ => self.other,
        };
        let mut res = http::Response::new(B::default());
        *res.status_mut() = status;
        if failure.kind == FailureKind::Rejected {
            if let Some(wait) = failure.retry_after {
                res.headers_mut()
                    .insert(RETRY_AFTER, retry_after_value(wait));
            }
        }
        res.extensions_mut().insert(failure);
        res
    }
}

fn grpc_response<B: Default>(failure: Failure, message: &dyn fmt::Display) -> http::Response<B> {
    let code = match failure.kind {
        FailureKind::Rejected | FailureKind::NoEndpoint | FailureKind::Overloaded => {
            Code::Unavailable
        }
        FailureKind::Timeout => Code::DeadlineExceeded,
        _ => Code::Unknown,
    };
    let mut res = http::Response::new(B::default());
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(GRPC_STATUS, HeaderValue::from(u16::from(code as u8)));
    if code != Code::Unknown {
        if let Ok(message) = HeaderValue::try_from(percent_encode(&message.to_string())) {
            headers.insert(GRPC_MESSAGE, message);
        }
    }
    if let (FailureKind::Rejected, Some(wait)) = (failure.kind, failure.retry_after) {
        let ms = u64::try_from(wait.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
        headers.insert(GRPC_RETRY_PUSHBACK_MS, HeaderValue::from(ms));
    }
    res.extensions_mut().insert(failure);
    res
}

/// `grpc-message` is percent-encoded: every byte outside printable ASCII, and `%` itself.
pub(super) fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for &b in message.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Default for ErrorResponseLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for ErrorResponseLayer {
    type Service = ErrorResponse<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ErrorResponse::new(inner, *self)
    }
}

/// Builds an HTTP [`ErrorResponseLayer`]; every status must be a 4xx or a 5xx.
///
/// ```
/// use http::StatusCode;
/// let err = bulwark_http::ErrorResponseLayer::builder().elapsed(StatusCode::OK).build();
/// assert_eq!(err.unwrap_err().field(), "elapsed");
/// ```
#[derive(Debug, Clone)]
pub struct ErrorResponseBuilder {
    inner: ErrorResponseLayer,
}

impl ErrorResponseBuilder {
    /// The status for a breaker's rejection (default: 503).
    ///
    /// ```
    /// use http::StatusCode;
    /// let b = bulwark_http::ErrorResponseLayer::builder().rejected(StatusCode::TOO_MANY_REQUESTS);
    /// assert!(b.build().is_ok());
    /// ```
    pub const fn rejected(mut self, status: StatusCode) -> Self {
        self.inner.rejected = status;
        self
    }

    /// The status for an elapsed timeout (default: 504).
    ///
    /// ```
    /// use http::StatusCode;
    /// let b = bulwark_http::ErrorResponseLayer::builder().elapsed(StatusCode::REQUEST_TIMEOUT);
    /// assert!(b.build().is_ok());
    /// ```
    pub const fn elapsed(mut self, status: StatusCode) -> Self {
        self.inner.elapsed = status;
        self
    }

    /// The status when a balancer had no endpoint (default: 503).
    ///
    /// ```
    /// use http::StatusCode;
    /// let b = bulwark_http::ErrorResponseLayer::builder().no_endpoint(StatusCode::BAD_GATEWAY);
    /// assert!(b.build().is_ok());
    /// ```
    pub const fn no_endpoint(mut self, status: StatusCode) -> Self {
        self.inner.no_endpoint = status;
        self
    }

    /// The status for any other error (default: 500; 502 suits a proxy whose upstream failed).
    ///
    /// ```
    /// use http::StatusCode;
    /// let b = bulwark_http::ErrorResponseLayer::builder().other(StatusCode::BAD_GATEWAY);
    /// assert!(b.build().is_ok());
    /// ```
    pub const fn other(mut self, status: StatusCode) -> Self {
        self.inner.other = status;
        self
    }

    /// The layer, or the first status that is not an error status.
    ///
    /// ```
    /// use http::StatusCode;
    /// let err = bulwark_http::ErrorResponseLayer::builder().other(StatusCode::FOUND).build();
    /// assert_eq!(err.unwrap_err().field(), "other");
    /// ```
    pub fn build(self) -> Result<ErrorResponseLayer, ConfigError> {
        let l = self.inner;
        for (field, status) in [
            ("rejected", l.rejected),
            ("elapsed", l.elapsed),
            ("no_endpoint", l.no_endpoint),
            ("other", l.other),
        ] {
            if !(status.is_client_error() || status.is_server_error()) {
                return Err(ConfigError::new(
                    field,
                    format!("{} is not an error status (4xx or 5xx)", status.as_u16()),
                ));
            }
        }
        Ok(l)
    }
}

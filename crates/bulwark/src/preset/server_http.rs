//! The standard server stack for HTTP and gRPC: errors become responses.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bulwark_http::{ErrorResponse, ErrorResponseLayer};
use bulwark_policy::{BoxError, ExtensionsDeadline, Failure, FailureKind};
use pin_project_lite::pin_project;
use tower::load_shed::error::Overloaded;
use tower_layer::Layer;
use tower_service::Service;

use super::{standard_server, StandardServer, StandardServerLayer, StandardServerService};

/// The response mode of [`standard_http_server`] and [`standard_grpc_server`]: every error
/// becomes a response.
///
/// ```
/// let layer = tower_bulwark::preset::standard_http_server().build().unwrap();
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Responses {
    errors: ErrorResponseLayer,
}

/// The standard server stack for HTTP servers such as axum: [`standard_server`] whose errors
/// are answered by `bulwark_http`'s [`ErrorResponseLayer`] — 504 for a timeout, 503 for a
/// breaker's rejection (with `Retry-After`) — and a shed request with 503. The stack never
/// fails, so it goes straight into axum's `Router::layer`.
///
/// ```
/// use std::time::Duration;
/// use tower::{service_fn, Layer, ServiceExt};
/// use tower_bulwark::preset;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let layer = preset::standard_http_server().timeout(Duration::from_millis(100)).build().unwrap();
/// let svc = layer.layer(service_fn(|_req: http::Request<()>| async {
///     tokio::time::sleep(Duration::from_secs(1)).await;
///     Ok::<_, tower_bulwark::policy::BoxError>(http::Response::new(String::from("late")))
/// }));
/// let res = svc.oneshot(http::Request::new(())).await.unwrap(); // the error is Infallible
/// assert_eq!(res.status(), 504);
/// # }
/// ```
pub fn standard_http_server() -> StandardServer<ExtensionsDeadline, Responses> {
    standard_server().mode(Responses {
        errors: ErrorResponseLayer::new(),
    })
}

/// The standard server stack for gRPC servers such as tonic's: [`standard_server`] whose
/// errors are trailers-only gRPC answers — DEADLINE_EXCEEDED for a timeout, UNAVAILABLE for a
/// breaker's rejection (with `grpc-retry-pushback-ms`) and for a shed request, UNKNOWN for
/// anything else.
///
/// Its timeout honours the request's `Deadline`; put `bulwark_http::ReadGrpcTimeoutLayer`
/// outside it to turn a client's `grpc-timeout` into one.
///
/// ```
/// use std::time::Duration;
/// use tower::{service_fn, Layer, ServiceExt};
/// use tower_bulwark::preset;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let layer = preset::standard_grpc_server().timeout(Duration::from_millis(100)).build().unwrap();
/// let svc = layer.layer(service_fn(|_req: http::Request<()>| async {
///     tokio::time::sleep(Duration::from_secs(1)).await;
///     Ok::<_, tower_bulwark::policy::BoxError>(http::Response::new(String::new()))
/// }));
/// let res = svc.oneshot(http::Request::new(())).await.unwrap();
/// assert_eq!(res.headers()["grpc-status"], "4"); // DEADLINE_EXCEEDED
/// # }
/// ```
pub fn standard_grpc_server() -> StandardServer<ExtensionsDeadline, Responses> {
    standard_server().mode(Responses {
        errors: ErrorResponseLayer::grpc(),
    })
}

impl<D> StandardServer<D, Responses> {
    /// Answers errors with the statuses of `errors`, an HTTP layer made by
    /// `ErrorResponseLayer::builder()`, for [`standard_http_server`]. A shed request is
    /// still answered with 503.
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower_bulwark::{http::ErrorResponseLayer, preset};
    ///
    /// let errors = ErrorResponseLayer::builder().other(StatusCode::BAD_GATEWAY).build().unwrap();
    /// let layer = preset::standard_http_server().error_responses(errors).build();
    /// assert!(layer.is_ok());
    /// ```
    pub fn error_responses(self, errors: ErrorResponseLayer) -> Self {
        self.mode(Responses { errors })
    }
}

/// The service a [`StandardServerLayer`] in [`Responses`] mode makes around `S`.
///
/// ```
/// use tower::{service_fn, util::ServiceFn, Layer};
/// use tower_bulwark::preset::{standard_http_server, StandardHttpServerService};
///
/// type Res = Result<http::Response<String>, std::io::Error>;
/// type Handler = ServiceFn<fn(http::Request<()>) -> std::future::Ready<Res>>;
/// let handler: Handler = service_fn(|_| std::future::ready(Ok(http::Response::new(String::new()))));
/// let svc: StandardHttpServerService<Handler> = standard_http_server().build().unwrap().layer(handler);
/// # let _ = svc;
/// ```
pub type StandardHttpServerService<S, D = ExtensionsDeadline> =
    ErrorResponse<ShedResponse<StandardServerService<S, D>>>;

impl<S, D: Clone> Layer<S> for StandardServerLayer<D, Responses> {
    type Service = StandardHttpServerService<S, D>;

    fn layer(&self, service: S) -> Self::Service {
        let errors = self.mode_ref().errors;
        ErrorResponse::new(
            ShedResponse {
                inner: self.errors_layer(service),
                errors,
            },
            errors,
        )
    }
}

/// Answers a request that tower's `LoadShed` refused through the stack's
/// [`ErrorResponseLayer`], with 503 (gRPC: UNAVAILABLE); other errors pass through. Part of [`standard_http_server`] and [`standard_grpc_server`].
///
/// ```
/// use tower_bulwark::preset::{standard_http_server, StandardHttpServerService};
/// use tower::Layer;
///
/// let layer = standard_http_server().build().unwrap();
/// let svc: StandardHttpServerService<_> = layer.layer(tower::service_fn(|_req: http::Request<()>| async {
///     Ok::<_, tower_bulwark::policy::BoxError>(http::Response::new(()))
/// }));
/// # let _ = svc;
/// ```
#[derive(Debug, Clone)]
pub struct ShedResponse<S> {
    inner: S,
    errors: ErrorResponseLayer,
}

impl<S, Req, B> Service<Req> for ShedResponse<S>
where
    S: Service<Req, Response = ::http::Response<B>, Error = BoxError>,
    B: Default,
{
    type Response = ::http::Response<B>;
    type Error = BoxError;
    type Future = ShedResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        ShedResponseFuture {
            future: self.inner.call(req),
            errors: self.errors,
        }
    }
}

pin_project! {
    /// The future of [`ShedResponse`].
    ///
    /// ```
    /// use tower_bulwark::preset::ShedResponseFuture;
    /// fn named<F>(_: &ShedResponseFuture<F>) {}
    /// ```
    #[derive(Debug)]
    pub struct ShedResponseFuture<F> {
        #[pin]
        future: F,
        errors: ErrorResponseLayer,
    }
}

impl<F, B> Future for ShedResponseFuture<F>
where
    F: Future<Output = Result<::http::Response<B>, BoxError>>,
    B: Default,
{
    type Output = Result<::http::Response<B>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match ready!(this.future.poll(cx)) {
            Err(err) if err.is::<Overloaded>() => Poll::Ready(Ok(this
                .errors
                .response_for_failure(shed_failure(), "server overloaded"))),
            result => Poll::Ready(result),
        }
    }
}

/// What a shed request failed with: the server is overloaded, and another try may succeed.
fn shed_failure() -> Failure {
    Failure::new(FailureKind::Overloaded).retryable(true)
}

//! The standard client stack for HTTP and for gRPC.

use bulwark_http::{
    GrpcClassifier, HttpClassifier, HttpReplay, ReplayBodyLayer, WriteGrpcTimeoutLayer,
};
use bulwark_policy::ExtensionsDeadline;
use bulwark_retry::{AnyRequest, IdempotentMethods};
use tower_layer::Identity;

use super::{standard_client, StandardClient};

/// The builder [`standard_http_client`] returns.
///
/// ```
/// use tower_bulwark::preset::{standard_http_client, StandardHttpClient};
/// let builder: StandardHttpClient = standard_http_client();
/// assert!(builder.build().is_ok());
/// ```
pub type StandardHttpClient = StandardClient<
    HttpClassifier,
    ExtensionsDeadline,
    HttpReplay,
    IdempotentMethods,
    ReplayBodyLayer,
    Identity,
>;

/// The builder [`standard_grpc_client`] returns.
///
/// ```
/// use tower_bulwark::preset::{standard_grpc_client, StandardGrpcClient};
/// let builder: StandardGrpcClient = standard_grpc_client();
/// assert!(builder.build().is_ok());
/// ```
pub type StandardGrpcClient = StandardClient<
    GrpcClassifier,
    ExtensionsDeadline,
    HttpReplay,
    AnyRequest,
    ReplayBodyLayer,
    WriteGrpcTimeoutLayer,
>;

/// The standard client stack for HTTP clients such as hyper-util's `Client`: the
/// [`standard_client`] with
///
/// - [`HttpClassifier`] for the retry and the breaker: 5xx, 429 and 408 are failures, 502,
///   503, 504 and 429 retryable, `Retry-After` honoured; other 4xx are ignored, so a caller's
///   mistakes do not trip the breaker;
/// - [`ReplayBodyLayer`] outermost and [`HttpReplay`], so requests with streaming bodies of
///   up to 64 KiB can be retried (a larger one is sent once, never dropped);
/// - retries for idempotent methods only ([`IdempotentMethods`]): a `POST` is sent once
///   unless [`retry_if_request`](StandardClient::retry_if_request) says otherwise.
///
/// The wrapped service receives `http::Request<ReplayBody<B>>`. hyper-util's `Client` is
/// generic over the body and takes it as it is.
///
/// ```
/// use std::time::Duration;
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use tower::{service_fn, Layer, ServiceExt};
/// use tower_bulwark::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// // Answers 503 once, then 200.
/// let calls = Arc::new(AtomicU32::new(0));
/// let seen = calls.clone();
/// let upstream = service_fn(move |_req: http::Request<ReplayBody<Full<Bytes>>>| {
///     let status = if seen.fetch_add(1, Ordering::Relaxed) == 0 { 503 } else { 200 };
///     async move { Ok::<_, BoxError>(http::Response::builder().status(status).body(()).unwrap()) }
/// });
/// let layer = preset::standard_http_client()
///     .backoff(Backoff::constant(Duration::from_millis(10)))
///     .build()?;
/// let req = http::Request::get("http://upstream/items").body(Full::new(Bytes::new())).unwrap();
/// let res = layer.layer(upstream).oneshot(req).await?;
/// assert_eq!(res.status(), 200);
/// assert_eq!(calls.load(Ordering::Relaxed), 2);
/// # Ok(())
/// # }
/// ```
pub fn standard_http_client() -> StandardHttpClient {
    standard_client()
        .classify(HttpClassifier::new())
        .replay(HttpReplay)
        .retry_if_request(IdempotentMethods)
        .outer(ReplayBodyLayer::new())
}

/// The standard client stack for gRPC clients such as a tonic `Channel`: the
/// [`standard_client`] with
///
/// - [`GrpcClassifier`] for the retry and the breaker, reading `grpc-status` from
///   trailers-only answers (as a server sends its errors) and `grpc-retry-pushback-ms`:
///   UNAVAILABLE is retried, and codes that describe the caller's request (INVALID_ARGUMENT,
///   NOT_FOUND, ...) are ignored;
/// - [`ReplayBodyLayer`] outermost and [`HttpReplay`], so each message can be sent again;
/// - every request may be retried (gRPC calls are all `POST`s; choose with
///   [`retry_if_request`](StandardClient::retry_if_request));
/// - [`WriteGrpcTimeoutLayer`] innermost, so each attempt tells the server, as
///   `grpc-timeout`, how long it has left.
///
/// A tonic `Channel` takes `tonic::body::Body`, so put
/// `.map_request(|r: http::Request<_>| r.map(tonic::body::Body::new))` below this layer.
///
/// ```
/// use std::time::Duration;
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use tower::{service_fn, Layer, ServiceExt};
/// use tower_bulwark::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// // The server sees how long the attempt may take.
/// let upstream = service_fn(|req: http::Request<ReplayBody<Full<Bytes>>>| async move {
///     let timeout = req.headers().get("grpc-timeout").cloned();
///     Ok::<_, BoxError>(http::Response::builder().header("grpc-status", "0").body(timeout).unwrap())
/// });
/// let layer = preset::standard_grpc_client().attempt_timeout(Duration::from_secs(1)).build()?;
/// let req = http::Request::post("http://upstream/pkg.Svc/Call").body(Full::new(Bytes::new())).unwrap();
/// let res = layer.layer(upstream).oneshot(req).await?;
/// assert!(res.body().is_some());
/// # Ok(())
/// # }
/// ```
pub fn standard_grpc_client() -> StandardGrpcClient {
    standard_client()
        .classify(GrpcClassifier::new())
        .replay(HttpReplay)
        .outer(ReplayBodyLayer::new())
        .inner(WriteGrpcTimeoutLayer::new())
}

impl<C, D, R, P, I> StandardClient<C, D, R, P, ReplayBodyLayer, I> {
    /// Keeps up to `max_bytes` of each request body for replay (default 64 KiB). A larger
    /// body is sent once.
    ///
    /// ```
    /// let layer = tower_bulwark::preset::standard_http_client().replay_max_bytes(1 << 20).build();
    /// assert!(layer.is_ok());
    /// ```
    pub fn replay_max_bytes(self, max_bytes: usize) -> Self {
        self.map_outer(|layer| layer.max_bytes(max_bytes))
    }
}

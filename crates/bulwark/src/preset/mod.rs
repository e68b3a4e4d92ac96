//! Stacks with the layers in the right order by construction.
//!
//! The order of resilience layers matters, and the wrong one fails quietly: a breaker outside
//! the retry sees one call where the upstream saw three attempts; a timeout outside the retry
//! and none inside lets one hung attempt use up the whole time. The presets put each layer
//! where it belongs, share one classifier and one hook among them, and leave every setting
//! open.
//!
//! | preset | layers, outermost first | needs |
//! |---|---|---|
//! | [`standard_client`] | total timeout → retry (with a budget) → breaker → per-attempt timeout | `retry`, `timeout`, `breaker` |
//! | [`standard_http_client`] | the same, inside a `ReplayBodyLayer`, with the HTTP classifier; idempotent requests only are retried | and `http` |
//! | [`standard_grpc_client`] | the same, with the gRPC classifier, and `grpc-timeout` written on each attempt | and `http` |
//! | [`standard_server`] | load shedding → concurrency limit → timeout | `timeout` |
//! | [`standard_http_server`], [`standard_grpc_server`] | errors as responses → the same | and `http` |
//!
//! What each preset's composed service *is* has a name —
//! [`StandardClientService`], [`StandardServerService`] — and is the layers' own services
//! nested: nothing is boxed, and a call that succeeds at once allocates nothing in the
//! client stack for a request type that carries no deadline (an `http::Request` gets its
//! deadline written into its extensions, which allocates the extension map once if the
//! request had none).
//!
//! ```
//! use std::time::Duration;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_bulwark::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let client = preset::standard_client().deadline(IgnoreDeadline).name("prices").build()?;
//! let server = preset::standard_server().deadline(IgnoreDeadline).max_in_flight(100).build()?;
//!
//! // A server whose handler calls an upstream through the client stack.
//! let upstream = ServiceBuilder::new()
//!     .layer(client)
//!     .service(service_fn(|sku: u32| async move { Ok::<_, BoxError>(sku * 100) }));
//! let handler = ServiceBuilder::new().layer(server).service(service_fn(move |sku: u32| {
//!     let upstream = upstream.clone();
//!     async move { upstream.oneshot(sku).await }
//! }));
//! assert_eq!(handler.oneshot(3).await?, 300);
//! # Ok(())
//! # }
//! ```
//!
//! # A wrapped service whose error is `BoxError` itself
//!
//! When the innermost service's error type is `BoxError` (`Box<dyn Error + Send + Sync>`),
//! rustc (as of 1.95) cannot prove that an `async` block awaiting the stack is `Send`: it
//! reports "implementation of `From` is not general enough". tower's own `Timeout` has the
//! same trouble; it is a limit of the compiler's reasoning about `S::Error: Into<BoxError>`
//! inside generators, not of these layers' futures, which are `Send`. It shows up in axum
//! handlers and `tokio::spawn`. Two ways around it:
//!
//! - give the inner service a concrete error type (hyper's and tonic's clients have one);
//! - or box the whole stack once with `tower::util::BoxCloneSyncService::new(stack)`, which
//!   costs one allocation per call.
//!
//! ```
//! use std::time::Duration;
//! use tower::{service_fn, Layer, ServiceExt};
//! use tower_bulwark::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let layer = preset::standard_client().deadline(IgnoreDeadline).build().unwrap();
//! // A concrete error type: the stack's future can be spawned.
//! let svc = layer.layer(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n) }));
//! let answer = tokio::spawn(async move { svc.oneshot(5).await.unwrap() });
//! assert_eq!(answer.await.unwrap(), 5);
//! # }
//! ```

#[cfg(all(feature = "retry", feature = "breaker"))]
mod client;
#[cfg(all(feature = "retry", feature = "breaker", feature = "http"))]
mod http;
mod server;
#[cfg(feature = "http")]
mod server_http;

#[cfg(all(feature = "retry", feature = "breaker"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "retry", feature = "breaker"))))]
pub use client::{
    standard_client, StandardClient, StandardClientLayer, StandardClientService,
    DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_CLIENT_NAME, DEFAULT_FAILURE_MIN_CALLS, DEFAULT_FAILURE_RATE,
    DEFAULT_FAILURE_WINDOW, DEFAULT_TOTAL_TIMEOUT,
};
#[cfg(all(feature = "retry", feature = "breaker", feature = "http"))]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use http::{
    standard_grpc_client, standard_http_client, StandardGrpcClient, StandardHttpClient,
};
pub use server::{
    standard_server, PassErrors, StandardServer, StandardServerLayer, StandardServerService,
    DEFAULT_MAX_IN_FLIGHT, DEFAULT_SERVER_NAME, DEFAULT_SERVER_TIMEOUT,
};
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use server_http::{
    standard_grpc_server, standard_http_server, Responses, ShedResponse, ShedResponseFuture,
    StandardHttpServerService,
};

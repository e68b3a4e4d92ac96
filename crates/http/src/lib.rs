//! HTTP and gRPC for bulwark.
//!
//! bulwark's layers speak in [`Outcome`](bulwark_policy::Outcome)s, [`Deadline`]s and
//! replayable requests. This crate teaches them HTTP and gRPC:
//!
//! - **Classifiers.** [`HttpClassifier`] and [`GrpcClassifier`] say what an answer means —
//!   a 503 is a retryable failure that may carry a `Retry-After`, a 404 is the caller's
//!   problem and says nothing about the server's health — so that one verdict drives retry,
//!   the breaker, fallback and balance alike. Neither allocates.
//! - **Header parsers**, total and capped: a malformed header is ignored, and no header can
//!   make a client wait longer than the cap it chose. [`parse_retry_after`] (both forms),
//!   [`parse_grpc_timeout`] and [`format_grpc_timeout`], [`parse_pushback`] (whose "do not
//!   retry" is a value of its own, [`Pushback::DoNotRetry`]).
//! - **Replayable bodies.** [`ReplayBody`] keeps a copy of a request body as it streams out,
//!   up to a cap, so that [`HttpReplay`] can hand retry and fallback another copy. See
//!   [below](#replaying-request-bodies).
//! - **Which requests may be retried**: [`is_idempotent`], a predicate for retry's
//!   `.retry_if_request(..)`.
//! - **Response mode for servers.** [`ErrorResponseLayer`] answers a breaker's rejection
//!   with 503 and `Retry-After`, a timeout with 504, and so on, so that a stack is infallible
//!   and axum needs no `HandleErrorLayer`. [`ErrorResponseLayer::grpc`] does the same for
//!   gRPC servers with trailers-only answers (UNAVAILABLE with `grpc-retry-pushback-ms`,
//!   DEADLINE_EXCEEDED), without depending on tonic.
//! - **One client, several upstreams.** [`SetAuthority`] sends a shared client's requests to
//!   one [`Upstream`]; with the feature `balance`, `balance_authorities` spreads them over
//!   several upstreams with bulwark-balance, ejecting the ones that fail.
//! - **Deadlines across a gRPC hop.** [`ReadGrpcTimeoutLayer`] turns a server's incoming
//!   `grpc-timeout` into a [`Deadline`] that bulwark's timeout and retry honour;
//!   [`WriteGrpcTimeoutLayer`] writes a client's remaining deadline into `grpc-timeout`.
//!
//! Nothing here depends on hyper, axum or tonic: everything works on `http` types and
//! `http_body::Body`, which all three use. The feature `tonic` adds `status_from_error`
//! (`Rejected` → UNAVAILABLE, `Elapsed` → DEADLINE_EXCEEDED, `NoEndpoint` → UNAVAILABLE),
//! conversions between [`Code`] and `tonic::Code`, and [`GrpcClassifier`] on tonic's own
//! `Result<tonic::Response<T>, tonic::Status>`.
//!
//! # Where the pieces go
//!
//! A client stack, outermost first: [`ReplayBodyLayer`] (so every retry or fallback inside it
//! can copy the request), a total timeout, retry with [`HttpReplay`], [`HttpClassifier`] and
//! [`is_idempotent`], a breaker with the same classifier, a per-attempt timeout, and for gRPC
//! [`WriteGrpcTimeoutLayer`] last, so each attempt carries what remains. A server stack:
//! [`ErrorResponseLayer`] outermost, then [`ReadGrpcTimeoutLayer`] for gRPC, then the
//! timeout and the breaker.
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use bulwark_policy::{BoxError, Replay};
//! use bulwark_http::{HttpReplay, ReplayBody, ReplayBodyLayer, WriteGrpcTimeoutLayer};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let client = ServiceBuilder::new()
//!     .layer(ReplayBodyLayer::new())
//!     // ... a retry layer replaying with `HttpReplay` goes here ...
//!     .layer(WriteGrpcTimeoutLayer::new())
//!     .service(service_fn(|req: http::Request<ReplayBody<Full<Bytes>>>| async move {
//!         // A retry layer would call this before sending.
//!         Ok::<_, BoxError>(HttpReplay.replay(&req).is_some())
//!     }));
//! let req = http::Request::post("/orders").body(Full::new(Bytes::from("{}"))).unwrap();
//! assert!(client.oneshot(req).await.unwrap());
//! # }
//! ```
//!
//! # Replaying request bodies
//!
//! An `http::Request` with a streaming body (hyper's `Incoming`, axum's or tonic's `Body`)
//! cannot be cloned: once its bytes are sent, they are gone. [`ReplayBodyLayer`] wraps each
//! body in a [`ReplayBody`], and [`HttpReplay`] makes copies of the wrapped requests.
//!
//! - **The first attempt is never delayed.** Each frame is handed on the moment the body
//!   yields it, after its bytes are copied into the record.
//! - **Memory is bounded by the cap** (64 KiB by default, [`DEFAULT_MAX_BYTES`]): the record
//!   is a buffer of its own whose capacity never exceeds it. (It copies rather than keeps the
//!   body's `Bytes`, which are often slices of a connection's read buffer: holding a small
//!   slice would hold the whole buffer.) A body whose `Content-Length` or size hint is over
//!   the cap is never kept. A body that grows past the cap while streaming stops being kept,
//!   and what was held is freed at once.
//! - **Over the cap, a request is sent once, never dropped.** From then on [`HttpReplay`]
//!   returns `None`, so retry and fallback send the request once and emit
//!   `EventKind::NotReplayable` (the layers do that, not this crate).
//! - **Nothing is kept that nobody can ask for.** While a body streams with no other copy
//!   alive, no later copy can be made, so none of it is kept.
//! - **Copies stream the same bytes and trailers**, and give the same size hint, so hyper
//!   frames them the same way. A replaying copy yields what was kept in chunks of up to
//!   64 KiB, so its data frames need not match the original's frame boundaries.
//! - **A copy made before the first attempt finished streaming** (retry makes its copy
//!   before the first send; fallback keeps one too) is served from what is kept and then
//!   reads on from the body itself: copies may be polled in any order, or at once. If the
//!   body outgrows the cap (or fails) after such a copy was made, that copy, once it falls
//!   behind, ends with the body error [`NotReplayable`], so its request fails rather than
//!   going out truncated.
//! - The copies of one body share their state through an `Arc` and a `Mutex`. The lock is
//!   per request, not global, and is held only to take one frame.
//!
//! # Example
//!
//! ```
//! use bulwark_policy::Classify;
//! use bulwark_http::HttpClassifier;
//!
//! let res = http::Response::builder().status(503).header("retry-after", "1").body(()).unwrap();
//! let failure = HttpClassifier::new().classify(&Ok::<_, std::io::Error>(res)).failure().unwrap();
//! assert!(failure.retryable);
//! assert_eq!(failure.retry_after, Some(std::time::Duration::from_secs(1)));
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod authority;
mod grpc;
mod http_classify;
mod idempotent;
mod replay;
pub mod response;
mod retry_after;
mod status_set;
#[cfg(feature = "tonic")]
mod tonic_status;

pub use bulwark_policy::Deadline;

#[cfg(feature = "balance")]
#[cfg_attr(docsrs, doc(cfg(feature = "balance")))]
pub use authority::balance_authorities;
pub use authority::{SetAuthority, Upstream};

pub use grpc::classify::{GrpcClassifier, GrpcClassifierBuilder};
pub use grpc::code::{Code, CodeSet, GRPC_STATUS};
pub use grpc::deadline::{
    ReadGrpcTimeout, ReadGrpcTimeoutLayer, WriteGrpcTimeout, WriteGrpcTimeoutLayer,
};
pub use grpc::pushback::{parse_pushback, pushback, Pushback, GRPC_RETRY_PUSHBACK_MS};
pub use grpc::timeout::{format_grpc_timeout, parse_grpc_timeout, GRPC_TIMEOUT};
pub use http_classify::{HttpClassifier, HttpClassifierBuilder};
pub use idempotent::{is_idempotent, IDEMPOTENCY_KEY};
pub use replay::{
    HttpReplay, NotReplayable, ReplayBody, ReplayBodyLayer, ReplayBodyService, DEFAULT_MAX_BYTES,
};
pub use response::{ErrorResponse, ErrorResponseBuilder, ErrorResponseLayer};
pub use retry_after::{parse_retry_after, retry_after, retry_after_value};
pub use status_set::StatusSet;
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
pub use tonic_status::status_from_error;

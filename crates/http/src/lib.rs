//! HTTP and gRPC for bulwark.
//!
//! bulwark's layers speak in [`Outcome`](bulwark_policy::Outcome)s, [`Deadline`]s and
//! replayable requests. This crate teaches them HTTP and gRPC:
//!
//! - **Classifiers.** [`HttpClassifier`] and [`GrpcClassifier`] say what an answer means —
//!   a 503 is a retryable failure that may carry a `Retry-After`, a 404 is the caller's
//!   problem and says nothing about the server's health — so that one verdict drives retry,
//!   the breaker, fallback and balance alike.
//! - **Header parsers**, total and capped: a malformed header is ignored, and no header can
//!   make a client wait longer than the cap it chose. [`parse_retry_after`] (both forms),
//!   [`parse_grpc_timeout`] and [`format_grpc_timeout`], [`parse_pushback`].
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

mod grpc;
mod http_classify;
mod retry_after;
mod status_set;

pub use bulwark_policy::Deadline;

pub use grpc::classify::{GrpcClassifier, GrpcClassifierBuilder};
pub use grpc::code::{Code, CodeSet, GRPC_STATUS};
pub use grpc::pushback::{parse_pushback, pushback, Pushback, GRPC_RETRY_PUSHBACK_MS};
pub use grpc::timeout::{format_grpc_timeout, parse_grpc_timeout, GRPC_TIMEOUT};
pub use http_classify::{HttpClassifier, HttpClassifierBuilder};
pub use retry_after::{parse_retry_after, retry_after, retry_after_value};
pub use status_set::StatusSet;

//! HTTP and gRPC for bulwark.
//!
//! This crate is where bulwark's layers meet `http`, hyper, axum and tonic. It is planned to
//! hold the HTTP and gRPC classifiers, a replayable request body, Retry-After and
//! `grpc-timeout` handling, and the conversion of bulwark's errors into HTTP responses and
//! `tonic::Status`es.
//!
//! **It holds nothing yet.** The layers it builds on come first; until then, classify HTTP
//! answers with a closure implementing [`bulwark_policy::Classify`].
#![forbid(unsafe_code)]

//! FallbackLayer: answer for a failing service with a value, a function, or a standby service.
//!
//! # Why
//!
//! Some failures should not reach the user at all. A recommendation panel can show nothing, a
//! price can come from yesterday's cache, and a read can go to a standby replica. The classic
//! story of fault-tolerant services: when service B fails, or its circuit breaker opens,
//! requests go to a standby; once B recovers and its breaker closes, they go back to B.
//! [`FallbackLayer`] is the step that sends them to the standby, and it needs no code of its
//! own to come back: it steps in only on a failure, so as soon as B answers again, B's answers
//! flow.
//!
//! Put it *outside* the layers whose failures it answers. Around a breaker, the breaker's
//! [`Rejected`](bulwark_policy::Rejected) is a failure like any other, so the standby answers
//! while the breaker is open, and the primary sees no traffic:
//!
//! ```
//! use bulwark_fallback::FallbackLayer;
//! use bulwark_policy::{BoxError, Rejected};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // Stands for `BreakerLayer` around the primary while the breaker is open.
//! let primary = service_fn(|_: String| async { Err::<String, BoxError>(Rejected::new(None).into()) });
//! let standby = service_fn(|path: String| async move { Ok::<_, BoxError>(format!("standby served {path}")) });
//!
//! let svc = ServiceBuilder::new()
//!     .layer(FallbackLayer::service(standby).name("users"))
//!     .service(primary);
//! assert_eq!(svc.oneshot("/users/7".into()).await.unwrap(), "standby served /users/7");
//! # }
//! ```
//!
//! # What answers
//!
//! - [`FallbackLayer::value`]: a clone of a fixed response.
//! - [`FallbackLayer::from_error`]: a response made from the error.
//! - [`FallbackLayer::from_fn`]: an async function of the failed result, which may fail.
//! - [`FallbackLayer::service`]: the same request, forwarded to a backup service. The request
//!   is copied through [`Replay`](bulwark_policy::Replay), the trait retry uses too. Only this
//!   constructor copies requests; the others cost a success nothing.
//!
//! # When it answers
//!
//! The layer's [`Classify`](bulwark_policy::Classify) (by default
//! [`ErrorsAsFailures`](bulwark_policy::ErrorsAsFailures)) judges each result. Every
//! [`Failure`](bulwark_policy::Failure) is answered — breaker rejections, timeouts and plain
//! errors alike — unless [`FallbackLayer::when`] narrows it to some
//! [`FailureKind`](bulwark_policy::FailureKind)s or to a predicate over the result.
//!
//! # What comes back
//!
//! - A success, an ignored result, or a failure the fallback does not answer: the inner
//!   service's result, untouched. With `value` and `from_error` the error type is the inner
//!   service's own; with `from_fn` and `service` it is [`BoxError`](bulwark_policy::BoxError),
//!   and the inner error is boxed as it was, so it downcasts to its own type.
//! - The fallback's answer, when it answers.
//! - [`FallbackFailed`] (boxed), when `from_fn` or the backup service fails too. It carries the
//!   primary's failure as [`reason`](FallbackFailed::reason) and the fallback's error as its
//!   `source`, so downcasting tells "the standby failed too" from "no fallback applied".
//! - With `service`, a request that cannot be replayed — before it is sent, or any more when
//!   the fallback fires (a streamed body that outgrew its replay buffer) — goes to the primary
//!   only, an [`EventKind::NotReplayable`](bulwark_policy::EventKind::NotReplayable) is
//!   reported, and the primary's result comes back whatever it is.
//!
//! ```
//! use bulwark_fallback::{FallbackFailed, FallbackLayer};
//! use bulwark_policy::{BoxError, FailureKind};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let standby = service_fn(|_: u32| async { Err::<u32, BoxError>("standby down too".into()) });
//! let primary = service_fn(|_: u32| async { Err::<u32, BoxError>("primary down".into()) });
//! let err = FallbackLayer::service(standby).layer(primary).oneshot(7).await.unwrap_err();
//! let failed = err.downcast_ref::<FallbackFailed>().unwrap();
//! assert_eq!(failed.reason().kind, FailureKind::Error);
//! assert_eq!(failed.fallback_error().to_string(), "standby down too");
//! # }
//! ```
//!
//! # Events
//!
//! [`FallbackLayer::hook`] receives
//! [`FallbackUsed { reason }`](bulwark_policy::EventKind::FallbackUsed) each time the fallback
//! steps in, and `NotReplayable` for requests a backup could not be sent. With no hook set, no
//! event is built.
//!
//! # Cost
//!
//! The response futures are named types with no boxing. A success allocates nothing and takes
//! no lock: the service clones one `Arc` per call, and with `service` also copies the request
//! through its `Replay`. The backup service is not touched until the fallback fires.
#![forbid(unsafe_code)]

mod error;
pub mod future;
mod layer;
mod service;
mod strategy;
mod when;

pub use error::FallbackFailed;
pub use layer::FallbackLayer;
pub use service::Fallback;
pub use strategy::{Backup, FromError, FromFn, Strategy, Value};
pub use when::{AnyFailure, When};

#[doc(no_inline)]
pub use future::ResponseFuture;

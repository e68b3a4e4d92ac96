//! What the breaker tests share: a mock-driven harness and small helpers.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use bulwark_breaker::{Breaker, BreakerBuilder, Mode, Rejected};
use bulwark_policy::{Backoff, BoxError, BreakerState, EventKind, Jitter};
use bulwark_test_support::RecordingHook;
use tokio_test::task;
use tower_test::mock;

pub type Mock = mock::Mock<&'static str, &'static str>;
pub type Svc = mock::Spawn<Breaker<Mock, bulwark_policy::ErrorsAsFailures>>;
pub type Handle = mock::Handle<&'static str, &'static str>;
pub type Fut = task::Spawn<
    <Breaker<Mock, bulwark_policy::ErrorsAsFailures> as tower::Service<&'static str>>::Future,
>;

pub const SEC: Duration = Duration::from_secs(1);

/// A builder with a fixed open period of `secs` and no jitter, so tests know every deadline.
pub fn builder(secs: u64) -> BreakerBuilder {
    bulwark_breaker::BreakerLayer::builder()
        .open_for(Backoff::constant(Duration::from_secs(secs)).jitter(Jitter::None))
        .seed(1)
}

/// Backpressure when `backpressure` is set, fail-fast otherwise: for tests run in both modes.
pub fn mode(backpressure: bool) -> Mode {
    if backpressure {
        Mode::Backpressure
    } else {
        Mode::FailFast
    }
}

/// An upstream for keyed breakers: a request is a key and whether it succeeds.
pub fn keyed_inner<K: Send + 'static>() -> impl tower::Service<
    (K, bool),
    Response = (),
    Error = BoxError,
    Future = impl std::future::Future<Output = Result<(), BoxError>> + Send,
> + Clone {
    tower::service_fn(|(_, ok): (K, bool)| async move {
        if ok {
            Ok(())
        } else {
            Err(BoxError::from("down"))
        }
    })
}

/// Sends `req`, answers it with `ok` or an error, and returns the result.
pub async fn roundtrip(
    svc: &mut Svc,
    mock: &mut Handle,
    ok: bool,
) -> Result<&'static str, BoxError> {
    tokio_test::assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call("req"));
    tokio_test::assert_pending!(fut.poll());
    let (req, send) = mock
        .next_request()
        .await
        .expect("the request reached the inner service");
    assert_eq!(req, "req");
    if ok {
        send.send_response("ok");
    } else {
        send.send_error("boom");
    }
    tokio_test::assert_ready!(fut.poll())
}

/// Starts a call and returns its future with the request held at the inner service.
pub async fn start(svc: &mut Svc, mock: &mut Handle) -> (Fut, mock::SendResponse<&'static str>) {
    tokio_test::assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call("req"));
    tokio_test::assert_pending!(fut.poll());
    let (_, send) = mock
        .next_request()
        .await
        .expect("the request reached the inner service");
    (fut, send)
}

/// Asserts that the next call is rejected at once without reaching the inner service, and
/// returns the rejection.
pub fn rejected(svc: &mut Svc, mock: &mut Handle) -> Rejected {
    tokio_test::assert_ready_ok!(svc.poll_ready());
    rejected_call(svc, mock)
}

/// [`rejected`] for a service already polled ready: asserts that its call is rejected at once
/// without reaching the inner service, and returns the rejection.
pub fn rejected_call(svc: &mut Svc, mock: &mut Handle) -> Rejected {
    let mut fut = task::spawn(svc.call("req"));
    let err = tokio_test::assert_ready_err!(fut.poll());
    tokio_test::assert_pending!(task::spawn(mock.next_request()).poll());
    *err.downcast_ref::<Rejected>().expect("a Rejected error")
}

/// The transitions a hook saw, in order.
pub fn transitions(hook: &RecordingHook) -> Vec<(BreakerState, BreakerState)> {
    hook.kinds()
        .into_iter()
        .filter_map(|k| match k {
            EventKind::BreakerTransition { from, to } => Some((from, to)),
            _ => None,
        })
        .collect()
}

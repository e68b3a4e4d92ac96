//! `.when` narrows the failures the fallback answers; the classifier decides what a failure is.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bulwark_fallback::FallbackLayer;
use bulwark_policy::{
    BoxError, Elapsed, EventKind, Failure, FailureKind, NoEndpoint, Outcome, Rejected,
};
use bulwark_test_support::RecordingHook;
use tokio_test::{assert_ready_err, assert_ready_ok, task};
use tower_test::{assert_request_eq, mock};

/// Sends `err` as the primary's answer to one call and returns the service's result.
async fn answer<L>(layer: L, err: impl Into<BoxError>) -> Result<u32, BoxError>
where
    L: tower::Layer<mock::Mock<u32, u32>>,
    L::Service: tower::Service<u32, Response = u32, Error = BoxError>,
{
    let (mut svc, mut handle) = mock::spawn_layer::<u32, u32, _>(layer);
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(1));
    assert_request_eq!(handle, 1).send_error(err);
    match fut.poll() {
        std::task::Poll::Ready(result) => result,
        std::task::Poll::Pending => panic!("a value fallback answers at once"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_kind_narrows_to_that_kind() {
    let hook = RecordingHook::new();
    let layer = FallbackLayer::value(0u32)
        .when(FailureKind::Timeout)
        .hook(hook.clone());
    assert_eq!(answer(layer.clone(), Elapsed::new()).await.unwrap(), 0);
    let err = answer(layer, Rejected::new(None)).await.unwrap_err();
    assert!(err.is::<Rejected>(), "a rejection is not a timeout: {err}");
    assert_eq!(
        hook.kinds(),
        [EventKind::FallbackUsed {
            reason: Failure::new(FailureKind::Timeout).retryable(true)
        }]
    );
}

#[tokio::test(start_paused = true)]
async fn an_array_of_kinds_answers_any_of_them() {
    let layer = FallbackLayer::value(0u32).when([FailureKind::Rejected, FailureKind::NoEndpoint]);
    assert_eq!(answer(layer.clone(), Rejected::new(None)).await.unwrap(), 0);
    assert_eq!(answer(layer.clone(), NoEndpoint::new()).await.unwrap(), 0);
    assert!(answer(layer.clone(), Elapsed::new())
        .await
        .unwrap_err()
        .is::<Elapsed>());
    assert_eq!(
        answer(layer, "refused").await.unwrap_err().to_string(),
        "refused"
    );
}

#[tokio::test(start_paused = true)]
async fn the_default_answers_rejections_timeouts_and_plain_errors() {
    let layer = FallbackLayer::value(7u32);
    assert_eq!(answer(layer.clone(), Rejected::new(None)).await.unwrap(), 7);
    assert_eq!(answer(layer.clone(), Elapsed::new()).await.unwrap(), 7);
    assert_eq!(answer(layer, "refused").await.unwrap(), 7);
}

#[tokio::test(start_paused = true)]
async fn a_predicate_over_the_result_narrows() {
    let transient =
        |r: &Result<u32, BoxError>| matches!(r, Err(e) if e.to_string().contains("reset"));
    let layer = FallbackLayer::value(0u32).when(transient);
    assert_eq!(answer(layer.clone(), "connection reset").await.unwrap(), 0);
    assert_eq!(
        answer(layer, "bad request").await.unwrap_err().to_string(),
        "bad request"
    );
}

#[tokio::test(start_paused = true)]
async fn a_predicate_is_not_asked_about_successes() {
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let layer = FallbackLayer::value(0u32).when(move |_: &Result<u32, BoxError>| {
        counter.fetch_add(1, Ordering::Relaxed);
        true
    });
    let (mut svc, mut handle) = mock::spawn_layer::<u32, u32, _>(layer);
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(1));
    assert_request_eq!(handle, 1).send_response(5);
    assert_eq!(assert_ready_ok!(fut.poll()), 5);
    assert_eq!(asked.load(Ordering::Relaxed), 0);
}

#[tokio::test(start_paused = true)]
async fn the_classifier_decides_what_a_failure_is() {
    // 503 is a failure, 404 says nothing about the service's health, and errors are ignored.
    let classify = |r: &Result<u16, BoxError>| match r {
        Ok(503) => Outcome::Failure(Failure::new(FailureKind::Overloaded)),
        Ok(404) | Err(_) => Outcome::Ignore,
        Ok(_) => Outcome::Success,
    };
    let layer = FallbackLayer::value(200u16)
        .classify(classify)
        .when(FailureKind::Overloaded);
    let (mut svc, mut handle) = mock::spawn_layer::<(), u16, _>(layer);

    for (sent, expected) in [(503, 200), (404, 404), (500, 500)] {
        assert_ready_ok!(svc.poll_ready());
        let mut fut = task::spawn(svc.call(()));
        assert_request_eq!(handle, ()).send_response(sent);
        assert_eq!(assert_ready_ok!(fut.poll()), expected, "answer {sent}");
    }
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(()));
    assert_request_eq!(handle, ()).send_error("ignored");
    assert_eq!(assert_ready_err!(fut.poll()).to_string(), "ignored");
}

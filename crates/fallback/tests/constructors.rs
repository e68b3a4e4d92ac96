//! Every constructor: what answers, what passes through untouched, what comes back when the
//! fallback fails too, and what the hook hears.

use std::time::Duration;

use bulwark_fallback::{FallbackFailed, FallbackLayer};
use bulwark_policy::{
    classify_error, BoxError, EventKind, Failure, FailureKind, Outcome, Rejected, Replay,
};
use bulwark_test_support::RecordingHook;
use tokio_test::{assert_pending, assert_ready, assert_ready_err, assert_ready_ok, task};
use tower_test::{assert_request_eq, mock};

fn error_failure() -> Failure {
    Failure::new(FailureKind::Error).retryable(true)
}

#[derive(Debug)]
struct Refused;
impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("refused")
    }
}
impl std::error::Error for Refused {}

#[tokio::test(start_paused = true)]
async fn value_answers_a_failure_and_reports_why() {
    let hook = RecordingHook::new();
    let (mut svc, mut handle) = mock::spawn_layer::<u32, u32, _>(
        FallbackLayer::value(0u32).name("prices").hook(hook.clone()),
    );

    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(1));
    assert_pending!(fut.poll());
    assert!(
        hook.events().is_empty(),
        "nothing is reported before the answer"
    );
    assert_request_eq!(handle, 1).send_error("boom");
    assert_eq!(assert_ready_ok!(fut.poll()), 0);

    let events = hook.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].name, "prices");
    assert_eq!(
        events[0].kind,
        EventKind::FallbackUsed {
            reason: error_failure()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_success_passes_through_untouched_and_unreported() {
    let hook = RecordingHook::new();
    let (mut svc, mut handle) =
        mock::spawn_layer::<u32, u32, _>(FallbackLayer::value(0u32).hook(hook.clone()));

    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(1));
    assert_request_eq!(handle, 1).send_response(42);
    assert_eq!(assert_ready_ok!(fut.poll()), 42);
    assert!(hook.events().is_empty());
}

#[tokio::test(start_paused = true)]
async fn value_keeps_the_inner_error_type_for_what_it_does_not_answer() {
    use tower::{service_fn, Layer, ServiceExt};

    let primary = service_fn(|_: u32| async { Err::<u32, Refused>(Refused) });
    let svc = FallbackLayer::value(0u32)
        .when(FailureKind::Timeout)
        .layer(primary);
    // The inner service's own error type and value: nothing wrapped or boxed it.
    let err: Refused = svc.oneshot(1).await.unwrap_err();
    assert_eq!(err.to_string(), "refused");
}

#[tokio::test(start_paused = true)]
async fn from_error_builds_the_answer_from_the_error() {
    let layer = FallbackLayer::from_error(|err: BoxError| format!("degraded: {err}"));
    let (mut svc, mut handle) = mock::spawn_layer::<u32, String, _>(layer);

    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(1));
    assert_request_eq!(handle, 1).send_error("db down");
    assert_eq!(assert_ready_ok!(fut.poll()), "degraded: db down");
}

#[tokio::test(start_paused = true)]
async fn from_error_lets_an_ok_failure_through_unreported() {
    let hook = RecordingHook::new();
    let classify = |r: &Result<u16, BoxError>| match r {
        Ok(503) => Outcome::Failure(Failure::new(FailureKind::Overloaded)),
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure(Failure::new(FailureKind::Error)),
    };
    let layer = FallbackLayer::from_error(|_: BoxError| 200u16)
        .classify(classify)
        .hook(hook.clone());
    let (mut svc, mut handle) = mock::spawn_layer::<(), u16, _>(layer);

    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(()));
    assert_request_eq!(handle, ()).send_response(503);
    assert_eq!(
        assert_ready_ok!(fut.poll()),
        503,
        "no error to build from: the answer passes"
    );
    assert!(hook.events().is_empty());
}

#[tokio::test(start_paused = true)]
async fn from_fn_answers_from_the_failed_result_asynchronously() {
    let layer = FallbackLayer::from_fn(|result: Result<u32, BoxError>| async move {
        let err = result.expect_err("only failures are answered");
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok::<u32, BoxError>(err.to_string().len() as u32)
    });
    let (mut svc, mut handle) = mock::spawn_layer::<u32, u32, _>(layer);

    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(1));
    assert_request_eq!(handle, 1).send_error("four");
    assert_pending!(fut.poll(), "the function's future is still sleeping");
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(fut.is_woken());
    assert_eq!(assert_ready_ok!(fut.poll()), 4);
}

#[tokio::test(start_paused = true)]
async fn a_failing_from_fn_comes_back_as_fallback_failed() {
    let hook = RecordingHook::new();
    let layer = FallbackLayer::from_fn(|_: Result<u32, BoxError>| async { Err::<u32, _>(Refused) })
        .hook(hook.clone());
    let (mut svc, mut handle) = mock::spawn_layer::<u32, u32, _>(layer);

    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(1));
    assert_request_eq!(handle, 1).send_error(Rejected::new(Some(Duration::from_secs(3))));
    let err = assert_ready_err!(fut.poll());
    let failed = err
        .downcast::<FallbackFailed>()
        .expect("the fallback's failure is wrapped");
    assert_eq!(failed.reason().kind, FailureKind::Rejected);
    assert_eq!(failed.reason().retry_after, Some(Duration::from_secs(3)));
    assert!(failed.into_fallback_error().is::<Refused>());
    assert_eq!(
        hook.count(|k| matches!(k, EventKind::FallbackUsed { .. })),
        1,
        "it was used, and failed"
    );
}

#[tokio::test(start_paused = true)]
async fn from_fn_passes_an_unanswered_error_through_boxed_as_it_was() {
    let layer = FallbackLayer::from_fn(|_: Result<u32, BoxError>| async { Ok::<u32, BoxError>(0) })
        .when(FailureKind::Timeout);
    let (mut svc, mut handle) = mock::spawn_layer::<u32, u32, _>(layer);

    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(1));
    assert_request_eq!(handle, 1).send_error(Refused);
    let err = assert_ready_err!(fut.poll());
    assert!(err.is::<Refused>(), "not wrapped: {err}");
}

#[tokio::test(start_paused = true)]
async fn service_forwards_the_same_request_to_the_backup() {
    let hook = RecordingHook::new();
    let (backup, mut standby) = mock::pair::<String, String>();
    let layer = FallbackLayer::service(backup)
        .name("users")
        .hook(hook.clone());
    let (mut svc, mut primary) = mock::spawn_layer::<String, String, _>(layer);

    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call("/users/7".to_owned()));
    assert_request_eq!(primary, "/users/7").send_error("connection reset");
    assert_pending!(fut.poll());
    assert_request_eq!(standby, "/users/7").send_response("from standby".to_owned());
    assert_eq!(assert_ready_ok!(fut.poll()), "from standby");
    assert_eq!(
        hook.kinds(),
        [EventKind::FallbackUsed {
            reason: error_failure()
        }]
    );
    assert_eq!(hook.events()[0].name, "users");
}

#[tokio::test(start_paused = true)]
async fn service_polls_the_backup_for_readiness_only_when_it_fires() {
    let (backup, mut standby) = mock::pair::<u32, u32>();
    standby.allow(0);
    let (mut svc, mut primary) = mock::spawn_layer::<u32, u32, _>(FallbackLayer::service(backup));

    // An unready backup neither blocks nor fails the service's readiness or a success.
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(1));
    assert_request_eq!(primary, 1).send_response(10);
    assert_eq!(assert_ready_ok!(fut.poll()), 10);

    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(2));
    assert_request_eq!(primary, 2).send_error("down");
    assert_pending!(fut.poll(), "waiting for the backup to be ready");
    assert_pending!(standby.poll_request(), "nothing sent to an unready backup");

    standby.allow(1);
    assert!(
        fut.is_woken(),
        "the backup's readiness wakes the response future"
    );
    assert_pending!(fut.poll());
    assert_request_eq!(standby, 2).send_response(20);
    assert_eq!(assert_ready_ok!(fut.poll()), 20);
}

#[tokio::test(start_paused = true)]
async fn a_failing_backup_comes_back_as_fallback_failed() {
    let (backup, mut standby) = mock::pair::<u32, u32>();
    let (mut svc, mut primary) = mock::spawn_layer::<u32, u32, _>(FallbackLayer::service(backup));

    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(1));
    assert_request_eq!(primary, 1).send_error(bulwark_policy::Elapsed::new());
    assert_pending!(fut.poll());
    assert_request_eq!(standby, 1).send_error(Rejected::new(None));
    let err = assert_ready_err!(fut.poll());
    let failed = err.downcast_ref::<FallbackFailed>().expect("wrapped");
    assert_eq!(failed.reason().kind, FailureKind::Timeout);
    assert!(failed.fallback_error().is::<Rejected>());
    // An outer breaker or retry still sees the standby's own rejection.
    assert_eq!(classify_error(&err).kind, FailureKind::Rejected);
}

#[tokio::test(start_paused = true)]
async fn a_backup_readiness_error_comes_back_as_fallback_failed() {
    let (backup, mut standby) = mock::pair::<u32, u32>();
    let (mut svc, mut primary) = mock::spawn_layer::<u32, u32, _>(FallbackLayer::service(backup));

    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(1));
    standby.send_error(Refused);
    assert_request_eq!(primary, 1).send_error("down");
    let err = assert_ready_err!(fut.poll());
    let failed = err.downcast::<FallbackFailed>().expect("wrapped");
    assert!(failed.into_fallback_error().is::<Refused>());
}

/// Replays nothing, like a streamed body too large to keep.
#[derive(Clone)]
struct Never;
impl Replay<u32> for Never {
    fn replay(&self, _: &u32) -> Option<u32> {
        None
    }
}

#[tokio::test(start_paused = true)]
async fn an_unreplayable_request_is_sent_once_and_its_result_returned() {
    let hook = RecordingHook::new();
    let (backup, mut standby) = mock::pair::<u32, u32>();
    let layer = FallbackLayer::service(backup)
        .replay(Never)
        .hook(hook.clone());
    let (mut svc, mut primary) = mock::spawn_layer::<u32, u32, _>(layer);

    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(1));
    assert_eq!(
        hook.kinds(),
        [EventKind::NotReplayable],
        "reported when the request is sent"
    );
    assert_request_eq!(primary, 1).send_error(Refused);
    let err = assert_ready_err!(fut.poll());
    assert!(err.is::<Refused>(), "the primary's own error: {err}");
    assert_pending!(standby.poll_request(), "the backup never sees it");
    assert_eq!(
        hook.kinds(),
        [EventKind::NotReplayable],
        "no fallback was used"
    );
}

/// Replays once, like a streamed body that outgrew its buffer while the first copy was sent.
#[derive(Clone, Default)]
struct Once(std::sync::Arc<std::sync::atomic::AtomicBool>);
impl Replay<u32> for Once {
    fn replay(&self, req: &u32) -> Option<u32> {
        (!self.0.swap(true, std::sync::atomic::Ordering::SeqCst)).then_some(*req)
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_that_stops_being_replayable_is_not_sent_to_the_backup() {
    let hook = RecordingHook::new();
    let (backup, mut standby) = mock::pair::<u32, u32>();
    let layer = FallbackLayer::service(backup)
        .replay(Once::default())
        .hook(hook.clone());
    let (mut svc, mut primary) = mock::spawn_layer::<u32, u32, _>(layer);

    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(4));
    assert!(hook.kinds().is_empty(), "the first copy was made");
    assert_request_eq!(primary, 4).send_error(Refused);
    let err = assert_ready_err!(fut.poll());
    assert!(err.is::<Refused>(), "the primary's own error: {err}");
    assert_pending!(standby.poll_request(), "the backup never sees it");
    assert_eq!(hook.kinds(), [EventKind::NotReplayable]);
}

#[tokio::test(start_paused = true)]
async fn a_primary_readiness_error_passes_through() {
    let (mut svc, mut handle) = mock::spawn_layer::<u32, u32, _>(FallbackLayer::value(0u32));
    handle.send_error(Refused);
    let err = assert_ready_err!(svc.poll_ready());
    assert!(err.is::<Refused>());
}

#[tokio::test(start_paused = true)]
async fn clones_of_the_service_share_the_fallback() {
    let hook = RecordingHook::new();
    let (mut svc, mut handle) =
        mock::spawn_layer::<u32, u32, _>(FallbackLayer::value(9u32).hook(hook.clone()));
    let mut clone = mock::Spawn::new(svc.get_ref().clone());

    assert_ready_ok!(clone.poll_ready());
    let mut fut = task::spawn(clone.call(1));
    assert_request_eq!(handle, 1).send_error("down");
    assert_eq!(assert_ready_ok!(fut.poll()), 9);
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(2));
    assert_request_eq!(handle, 2).send_error("down");
    assert_eq!(assert_ready!(fut.poll()).unwrap(), 9);
    assert_eq!(
        hook.count(|k| matches!(k, EventKind::FallbackUsed { .. })),
        2
    );
}

#[tokio::test(start_paused = true)]
async fn a_backup_that_is_not_sync_still_gives_a_send_service_and_future() {
    use tower::util::BoxCloneService;
    use tower::{service_fn, Layer, Service, ServiceExt};

    fn is_send<T: Send>(t: T) -> T {
        t
    }
    // `BoxCloneService` is `Send` but not `Sync`, like many boxed clients.
    let backup = BoxCloneService::new(service_fn(
        |n: u32| async move { Ok::<u32, BoxError>(n + 100) },
    ));
    let primary = service_fn(|_: u32| async { Err::<u32, BoxError>("down".into()) });
    let mut svc = is_send(FallbackLayer::service(backup).layer(primary));
    let fut = is_send(svc.ready().await.unwrap().call(1));
    assert_eq!(fut.await.unwrap(), 101);
}

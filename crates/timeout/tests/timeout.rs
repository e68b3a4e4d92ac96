//! The behaviour of `Timeout` under paused time: the boundary, which bound applies, deadlines
//! already passed, cancellation, readiness and events.

use std::convert::Infallible;
use std::future::{pending, Future};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bulwark_policy::{Deadline, DeadlineAccess, EventKind, IgnoreDeadline, TimeoutOverride};
use bulwark_test_support::RecordingHook;
use bulwark_timeout::{BoxError, Elapsed, TimeoutLayer};
use tokio::time::{advance, Instant};
use tokio_test::{assert_pending, assert_ready, assert_ready_err, assert_ready_ok, task};
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_test::mock;

const MS: Duration = Duration::from_millis(1);
const NS: Duration = Duration::from_nanos(1);

type Req = http::Request<()>;

fn request() -> Req {
    http::Request::new(())
}

fn with_deadline(deadline: Deadline) -> Req {
    let mut req = request();
    req.extensions_mut().insert(deadline);
    req
}

fn with_override(timeout: Duration) -> Req {
    let mut req = request();
    req.extensions_mut().insert(TimeoutOverride(timeout));
    req
}

fn is_elapsed(err: &BoxError) -> bool {
    err.is::<Elapsed>()
}

#[tokio::test(start_paused = true)]
async fn pending_one_nanosecond_before_the_timeout_and_elapsed_at_it() {
    let (mut svc, mut handle) =
        mock::spawn_layer::<u32, u32, _>(TimeoutLayer::new(100 * MS).deadline(IgnoreDeadline));
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(1));
    assert_pending!(fut.poll());
    let (_req, _send) = handle.next_request().await.unwrap();

    advance(100 * MS - NS).await;
    assert!(!fut.is_woken());
    assert_pending!(fut.poll());

    advance(NS).await;
    assert!(fut.is_woken());
    assert!(is_elapsed(&assert_ready_err!(fut.poll())));
}

#[tokio::test(start_paused = true)]
async fn the_boundary_is_the_same_when_the_deadline_is_fixed_in_call() {
    let (mut svc, mut handle) = mock::spawn_layer::<Req, (), _>(TimeoutLayer::new(100 * MS));
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(request()));
    assert_pending!(fut.poll());
    let (_req, _send) = handle.next_request().await.unwrap();

    advance(100 * MS - NS).await;
    assert_pending!(fut.poll());
    advance(NS).await;
    assert!(is_elapsed(&assert_ready_err!(fut.poll())));
}

#[tokio::test(start_paused = true)]
async fn an_answer_before_the_timeout_is_returned() {
    let (mut svc, mut handle) = mock::spawn_layer::<Req, &str, _>(TimeoutLayer::new(100 * MS));
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(request()));
    assert_pending!(fut.poll());
    let (_req, send) = handle.next_request().await.unwrap();
    advance(99 * MS).await;
    send.send_response("ok");
    assert!(fut.is_woken());
    assert_eq!(assert_ready_ok!(fut.poll()), "ok");
}

#[tokio::test(start_paused = true)]
async fn an_answer_ready_when_the_deadline_passes_wins() {
    let (mut svc, mut handle) = mock::spawn_layer::<Req, &str, _>(TimeoutLayer::new(100 * MS));
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(request()));
    assert_pending!(fut.poll());
    let (_req, send) = handle.next_request().await.unwrap();
    send.send_response("just in time");
    advance(100 * MS).await;
    assert_eq!(assert_ready_ok!(fut.poll()), "just in time");
}

#[tokio::test(start_paused = true)]
async fn the_inner_error_is_returned_boxed_and_downcastable() {
    let (mut svc, mut handle) = mock::spawn_layer::<Req, (), _>(TimeoutLayer::new(100 * MS));
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(request()));
    assert_pending!(fut.poll());
    let (_req, send) = handle.next_request().await.unwrap();
    send.send_error(std::io::Error::other("refused"));
    let err = assert_ready_err!(fut.poll());
    assert!(!is_elapsed(&err));
    assert_eq!(
        err.downcast_ref::<std::io::Error>().unwrap().to_string(),
        "refused"
    );
}

#[tokio::test(start_paused = true)]
async fn the_inner_service_sees_the_deadline_the_layer_set() {
    let (mut svc, mut handle) = mock::spawn_layer::<Req, (), _>(TimeoutLayer::new(100 * MS));
    let start = Instant::now();
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(request()));
    assert_pending!(fut.poll());
    let (req, _send) = handle.next_request().await.unwrap();
    assert_eq!(
        req.extensions().get::<Deadline>(),
        Some(&Deadline::at(start + 100 * MS))
    );
}

#[tokio::test(start_paused = true)]
async fn an_earlier_deadline_on_the_request_applies_and_is_kept() {
    let (mut svc, mut handle) = mock::spawn_layer::<Req, (), _>(TimeoutLayer::new(100 * MS));
    let deadline = Deadline::after(40 * MS);
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(with_deadline(deadline)));
    assert_pending!(fut.poll());
    let (req, _send) = handle.next_request().await.unwrap();
    assert_eq!(req.extensions().get::<Deadline>(), Some(&deadline));

    advance(40 * MS - NS).await;
    assert_pending!(fut.poll());
    advance(NS).await;
    assert!(is_elapsed(&assert_ready_err!(fut.poll())));
}

#[tokio::test(start_paused = true)]
async fn a_later_deadline_on_the_request_is_replaced_by_the_timeout() {
    let (mut svc, mut handle) = mock::spawn_layer::<Req, (), _>(TimeoutLayer::new(100 * MS));
    let start = Instant::now();
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(with_deadline(Deadline::after(Duration::from_secs(5)))));
    assert_pending!(fut.poll());
    let (req, _send) = handle.next_request().await.unwrap();
    assert_eq!(
        req.extensions().get::<Deadline>(),
        Some(&Deadline::at(start + 100 * MS))
    );

    advance(100 * MS - NS).await;
    assert_pending!(fut.poll());
    advance(NS).await;
    assert!(is_elapsed(&assert_ready_err!(fut.poll())));
}

#[tokio::test(start_paused = true)]
async fn a_shorter_override_replaces_the_timeout() {
    let (mut svc, mut handle) = mock::spawn_layer::<Req, (), _>(TimeoutLayer::new(100 * MS));
    let start = Instant::now();
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(with_override(30 * MS)));
    assert_pending!(fut.poll());
    let (req, _send) = handle.next_request().await.unwrap();
    assert_eq!(
        req.extensions().get::<Deadline>(),
        Some(&Deadline::at(start + 30 * MS))
    );

    advance(30 * MS - NS).await;
    assert_pending!(fut.poll());
    advance(NS).await;
    assert!(is_elapsed(&assert_ready_err!(fut.poll())));
}

#[tokio::test(start_paused = true)]
async fn a_longer_override_replaces_the_timeout_too() {
    let (mut svc, mut handle) = mock::spawn_layer::<Req, (), _>(TimeoutLayer::new(100 * MS));
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(with_override(300 * MS)));
    assert_pending!(fut.poll());
    let (_req, _send) = handle.next_request().await.unwrap();

    advance(100 * MS).await;
    assert_pending!(fut.poll());
    advance(200 * MS - NS).await;
    assert_pending!(fut.poll());
    advance(NS).await;
    assert!(is_elapsed(&assert_ready_err!(fut.poll())));
}

#[tokio::test(start_paused = true)]
async fn a_deadline_earlier_than_the_override_still_applies() {
    let (mut svc, mut handle) = mock::spawn_layer::<Req, (), _>(TimeoutLayer::new(100 * MS));
    let deadline = Deadline::after(50 * MS);
    let mut req = with_override(300 * MS);
    req.extensions_mut().insert(deadline);
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(req));
    assert_pending!(fut.poll());
    let (req, _send) = handle.next_request().await.unwrap();
    assert_eq!(req.extensions().get::<Deadline>(), Some(&deadline));

    advance(50 * MS - NS).await;
    assert_pending!(fut.poll());
    advance(NS).await;
    assert!(is_elapsed(&assert_ready_err!(fut.poll())));
}

#[tokio::test(start_paused = true)]
async fn a_passed_deadline_fails_at_once_without_calling_the_inner_service() {
    let hook = RecordingHook::new();
    let layer = TimeoutLayer::new(100 * MS).name("edge").hook(hook.clone());
    let (mut svc, mut handle) = mock::spawn_layer::<Req, (), _>(layer);
    let deadline = Deadline::after(10 * MS);
    advance(10 * MS).await;

    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(with_deadline(deadline)));
    assert!(is_elapsed(&assert_ready_err!(fut.poll())));
    assert_pending!(handle.poll_request());
    assert_eq!(
        hook.kinds(),
        [EventKind::TimeoutElapsed {
            after: Duration::ZERO
        }]
    );
    assert_eq!(hook.events()[0].name, "edge");
    // The service stays usable: readiness is never failed for a passed deadline.
    assert_ready_ok!(svc.poll_ready());
}

#[tokio::test(start_paused = true)]
async fn a_zero_timeout_fails_at_once_without_calling_the_inner_service() {
    let layer = TimeoutLayer::new(Duration::ZERO);
    let (mut svc, mut handle) =
        mock::spawn_layer::<u8, (), _>(layer.clone().deadline(IgnoreDeadline));
    assert_ready_ok!(svc.poll_ready());
    assert!(is_elapsed(&assert_ready_err!(
        task::spawn(svc.call(1)).poll()
    )));
    assert_pending!(handle.poll_request());

    let (mut svc, mut handle) = mock::spawn_layer::<Req, (), _>(layer);
    assert_ready_ok!(svc.poll_ready());
    assert!(is_elapsed(&assert_ready_err!(task::spawn(
        svc.call(request())
    )
    .poll())));
    assert_pending!(handle.poll_request());
}

#[tokio::test(start_paused = true)]
async fn with_a_deadline_accessor_the_timeout_counts_from_the_call() {
    let (mut svc, mut handle) = mock::spawn_layer::<Req, (), _>(TimeoutLayer::new(100 * MS));
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(request()));
    advance(60 * MS).await;
    assert_pending!(fut.poll());
    let (_req, _send) = handle.next_request().await.unwrap();
    advance(40 * MS - NS).await;
    assert_pending!(fut.poll());
    advance(NS).await;
    assert!(is_elapsed(&assert_ready_err!(fut.poll())));
}

#[tokio::test(start_paused = true)]
async fn with_ignore_deadline_the_timeout_counts_from_the_first_pending_poll() {
    let (mut svc, mut handle) =
        mock::spawn_layer::<u8, (), _>(TimeoutLayer::new(100 * MS).deadline(IgnoreDeadline));
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(1));
    advance(60 * MS).await;
    assert_pending!(fut.poll());
    let (_req, _send) = handle.next_request().await.unwrap();
    advance(100 * MS - NS).await;
    assert_pending!(fut.poll());
    advance(NS).await;
    assert!(is_elapsed(&assert_ready_err!(fut.poll())));
}

#[tokio::test(start_paused = true)]
async fn a_timeout_too_large_for_the_clock_does_not_panic() {
    let (mut svc, mut handle) = mock::spawn_layer::<Req, &str, _>(TimeoutLayer::new(Duration::MAX));
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(request()));
    assert_pending!(fut.poll());
    let (req, send) = handle.next_request().await.unwrap();
    assert!(
        req.extensions().get::<Deadline>().unwrap().remaining() > Duration::from_secs(86_400 * 365)
    );
    advance(Duration::from_secs(86_400)).await;
    assert_pending!(fut.poll());
    send.send_response("late but fine");
    assert_eq!(assert_ready_ok!(fut.poll()), "late but fine");
}

/// A request type of its own, carrying its deadline and override in fields.
#[derive(Debug)]
struct Job {
    deadline: Option<Deadline>,
    timeout: Option<Duration>,
}

#[derive(Debug, Clone, Copy)]
struct InJob;

impl DeadlineAccess<Job> for InJob {
    fn get(&self, req: &Job) -> Option<Deadline> {
        req.deadline
    }
    fn set(&self, req: &mut Job, deadline: Deadline) {
        req.deadline = Some(deadline);
    }
    fn timeout_override(&self, req: &Job) -> Option<Duration> {
        req.timeout
    }
}

#[tokio::test(start_paused = true)]
async fn a_custom_accessor_reads_and_writes_its_own_request_type() {
    let (mut svc, mut handle) =
        mock::spawn_layer::<Job, (), _>(TimeoutLayer::new(100 * MS).deadline(InJob));
    let start = Instant::now();
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(Job {
        deadline: None,
        timeout: Some(20 * MS),
    }));
    assert_pending!(fut.poll());
    let (job, _send) = handle.next_request().await.unwrap();
    assert_eq!(job.deadline, Some(Deadline::at(start + 20 * MS)));
    advance(20 * MS).await;
    assert!(is_elapsed(&assert_ready_err!(fut.poll())));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_drops_the_inner_future_and_reports_nothing() {
    let alive = Arc::new(());
    let hook = RecordingHook::new();
    let guard = alive.clone();
    let inner = service_fn(move |_: Req| {
        let guard = guard.clone();
        async move {
            let _guard = guard;
            pending::<Result<(), Infallible>>().await
        }
    });
    let mut svc = TimeoutLayer::new(100 * MS).hook(hook.clone()).layer(inner);

    // Dropped before its first poll.
    let fut = svc.call(request());
    assert_eq!(Arc::strong_count(&alive), 3);
    drop(fut);
    assert_eq!(Arc::strong_count(&alive), 2);

    // Dropped with its timer armed.
    let mut fut = task::spawn(svc.call(request()));
    assert_pending!(fut.poll());
    assert_eq!(Arc::strong_count(&alive), 3);
    drop(fut);
    assert_eq!(Arc::strong_count(&alive), 2);

    advance(Duration::from_secs(1)).await;
    assert!(hook.events().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_elapsed_timeout_is_reported_with_the_bound_that_applied() {
    let hook = RecordingHook::new();
    let layer = TimeoutLayer::new(100 * MS)
        .name("upstream")
        .hook(hook.clone());
    let (mut svc, _handle) = mock::spawn_layer::<Req, (), _>(layer);

    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(request()));
    assert_pending!(fut.poll());
    advance(100 * MS).await;
    assert_ready_err!(fut.poll());

    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(with_deadline(Deadline::after(30 * MS))));
    assert_pending!(fut.poll());
    advance(30 * MS).await;
    assert_ready_err!(fut.poll());

    let events = hook.events();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.name == "upstream"));
    assert_eq!(
        events[0].kind,
        EventKind::TimeoutElapsed { after: 100 * MS }
    );
    assert_eq!(events[1].kind, EventKind::TimeoutElapsed { after: 30 * MS });
}

#[tokio::test(start_paused = true)]
async fn every_service_of_one_layer_and_their_clones_report_to_its_hook() {
    let hook = RecordingHook::new();
    let layer = TimeoutLayer::new(10 * MS)
        .name("shared")
        .hook(hook.clone())
        .deadline(IgnoreDeadline);
    let slow = service_fn(|_: u8| pending::<Result<(), Infallible>>());
    let a = layer.layer(slow);
    let b = layer.layer(slow);
    for svc in [a.clone(), a, b.clone(), b] {
        let err = svc.oneshot(0).await.unwrap_err();
        assert!(is_elapsed(&err));
    }
    assert_eq!(
        hook.count(|k| matches!(k, EventKind::TimeoutElapsed { .. })),
        4
    );
    assert!(hook.events().iter().all(|e| e.name == "shared"));
}

#[tokio::test(start_paused = true)]
async fn readiness_is_the_inner_services_with_its_error_boxed() {
    let (mut svc, mut handle) = mock::spawn_layer::<Req, (), _>(TimeoutLayer::new(100 * MS));
    handle.allow(0);
    assert_pending!(svc.poll_ready());
    handle.allow(1);
    assert!(svc.is_woken());
    assert_ready_ok!(svc.poll_ready());

    let (mut svc, mut handle) = mock::spawn_layer::<Req, (), _>(TimeoutLayer::new(100 * MS));
    handle.send_error(std::io::Error::other("gone"));
    let err = assert_ready_err!(svc.poll_ready());
    assert!(err.is::<std::io::Error>());
}

#[test]
fn an_answer_ready_at_once_needs_no_timer() {
    // No tokio runtime here: creating a `Sleep` would panic, so none is created.
    fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
        pin!(fut).poll(&mut Context::from_waker(Waker::noop()))
    }
    let answer = |n: u8| std::future::ready(Ok::<_, Infallible>(n));

    let mut svc = TimeoutLayer::new(100 * MS)
        .deadline(IgnoreDeadline)
        .layer(service_fn(answer));
    assert_eq!(assert_ready!(poll_once(svc.call(7))).unwrap(), 7);

    let mut svc = TimeoutLayer::new(100 * MS).layer(service_fn(|req: Req| {
        std::future::ready(Ok::<_, Infallible>(
            req.extensions().get::<Deadline>().is_some(),
        ))
    }));
    assert!(assert_ready!(poll_once(svc.call(request()))).unwrap());
}

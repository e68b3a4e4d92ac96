//! What comes back, what is retried, and what is reported.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bulwark_policy::{Backoff, EventKind, Failure, FailureKind, IgnoreDeadline, Outcome, Replay};
use bulwark_retry::{IdempotentMethods, RetryLayer};
use bulwark_test_support::RecordingHook;
use support::{by_status, failing, upstream, Answer, Boom};
use tower::{Layer, ServiceExt};

fn quick() -> Backoff {
    Backoff::constant(Duration::from_millis(10))
}

#[tokio::test(start_paused = true)]
async fn the_last_error_comes_back_when_attempts_run_out() {
    let hook = RecordingHook::new();
    let up = failing();
    let svc = RetryLayer::builder()
        .max_attempts(4)
        .backoff(quick())
        .deadline(IgnoreDeadline)
        .name("db")
        .hook(hook.clone())
        .build()
        .unwrap()
        .layer(up.clone());
    assert_eq!(
        svc.oneshot(1).await,
        Err(Boom(3)),
        "the fourth call's own error"
    );
    assert_eq!(up.calls.count(), 4);

    let failure = Failure::new(FailureKind::Error).retryable(true);
    let attempt = |attempt| EventKind::RetryAttempt {
        attempt,
        delay: Duration::from_millis(10),
        reason: failure,
    };
    assert_eq!(
        hook.kinds(),
        [
            attempt(2),
            attempt(3),
            attempt(4),
            EventKind::RetriesExhausted { attempts: 4 }
        ]
    );
    assert!(hook.events().iter().all(|e| e.name == "db"));
}

#[tokio::test(start_paused = true)]
async fn the_last_failing_response_comes_back_not_a_synthetic_error() {
    let up = upstream(|n, _: ()| {
        Ok(Answer {
            status: 503,
            retry_after: Some(Duration::from_millis(u64::from(n) + 1)),
        })
    });
    let svc = RetryLayer::builder()
        .max_attempts(3)
        .classify(by_status)
        .deadline(IgnoreDeadline)
        .build()
        .unwrap()
        .layer(up.clone());
    let answer = svc.oneshot(()).await.unwrap();
    assert_eq!(answer, Answer::unavailable(Some(Duration::from_millis(3))));
    assert_eq!(up.calls.count(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_success_after_failures_comes_back() {
    let up = upstream(|n, req: u32| if n < 2 { Err(Boom(n)) } else { Ok(req * 10) });
    let svc = RetryLayer::builder()
        .backoff(quick())
        .deadline(IgnoreDeadline)
        .build()
        .unwrap()
        .layer(up.clone());
    assert_eq!(svc.oneshot(4).await, Ok(40));
    assert_eq!(up.calls.count(), 3);
}

#[tokio::test(start_paused = true)]
async fn non_retryable_failures_successes_and_ignores_are_not_retried() {
    for (status, outcome) in [(500, "failure"), (200, "success"), (404, "ignore")] {
        let hook = RecordingHook::new();
        let up = upstream(move |_, _: ()| Ok::<_, Boom>(status));
        let svc = RetryLayer::builder()
            .classify(|r: &Result<u16, Boom>| match r {
                Ok(500) => Outcome::Failure(Failure::new(FailureKind::Status)),
                Ok(404) => Outcome::Ignore,
                _ => Outcome::Success,
            })
            .deadline(IgnoreDeadline)
            .hook(hook.clone())
            .build()
            .unwrap()
            .layer(up.clone());
        assert_eq!(svc.oneshot(()).await, Ok(status));
        assert_eq!(up.calls.count(), 1, "a {outcome} is sent once");
        assert!(hook.events().is_empty());
    }
}

#[tokio::test(start_paused = true)]
async fn one_attempt_means_no_retry_and_no_copy() {
    let replay = Counting::default();
    let up = failing();
    let svc = RetryLayer::builder()
        .max_attempts(1)
        .deadline(IgnoreDeadline)
        .replay(replay.clone())
        .build()
        .unwrap()
        .layer(up.clone());
    assert_eq!(svc.oneshot(1).await, Err(Boom(0)));
    assert_eq!((up.calls.count(), replay.count()), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn the_request_predicate_is_respected() {
    let answer = |n, req: http::Request<()>| {
        if n % 2 == 0 {
            Err(Boom(n))
        } else {
            Ok(req.method().clone())
        }
    };
    let layer = RetryLayer::builder()
        .backoff(quick())
        .retry_if_request(IdempotentMethods)
        .build()
        .unwrap();

    let up = upstream(answer);
    let get = http::Request::get("/").body(()).unwrap();
    assert_eq!(
        layer.layer(up.clone()).oneshot(get).await,
        Ok(http::Method::GET)
    );
    assert_eq!(up.calls.count(), 2, "a GET is retried");

    let up = upstream(answer);
    let post = http::Request::post("/pay").body(()).unwrap();
    assert_eq!(layer.layer(up.clone()).oneshot(post).await, Err(Boom(0)));
    assert_eq!(up.calls.count(), 1, "a POST is sent once");

    // A closure predicate; refused requests are never copied.
    let replay = Counting::default();
    let up = failing();
    let svc = RetryLayer::builder()
        .deadline(IgnoreDeadline)
        .replay(replay.clone())
        .retry_if_request(|req: &u32| *req < 10)
        .build()
        .unwrap()
        .layer(up.clone());
    assert_eq!(svc.clone().oneshot(50).await, Err(Boom(0)));
    assert_eq!((up.calls.count(), replay.count()), (1, 0));
    assert_eq!(svc.oneshot(5).await, Err(Boom(3)));
    assert_eq!(
        (up.calls.count(), replay.count()),
        (4, 3),
        "one copy per attempt"
    );
}

/// Replays by cloning, and counts the copies.
#[derive(Clone, Default)]
struct Counting(Arc<AtomicUsize>);

impl Counting {
    fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

impl Replay<u32> for Counting {
    fn replay(&self, req: &u32) -> Option<u32> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Some(*req)
    }
}

/// Replays the first `n` copies only.
#[derive(Clone)]
struct Limited(Arc<AtomicUsize>);

impl Replay<u32> for Limited {
    fn replay(&self, req: &u32) -> Option<u32> {
        let left = self.0.load(Ordering::Relaxed);
        (left > 0).then(|| {
            self.0.store(left - 1, Ordering::Relaxed);
            *req
        })
    }
}

#[tokio::test(start_paused = true)]
async fn an_unreplayable_request_is_sent_once_and_reported() {
    let hook = RecordingHook::new();
    let up = failing();
    let svc = RetryLayer::builder()
        .deadline(IgnoreDeadline)
        .replay(Limited(Arc::new(AtomicUsize::new(0))))
        .hook(hook.clone())
        .build()
        .unwrap()
        .layer(up.clone());
    assert_eq!(svc.oneshot(9).await, Err(Boom(0)), "sent, not failed");
    assert_eq!(up.calls.count(), 1);
    assert_eq!(hook.kinds(), [EventKind::NotReplayable]);
}

#[tokio::test(start_paused = true)]
async fn a_request_that_stops_being_replayable_returns_the_last_result() {
    let hook = RecordingHook::new();
    let up = failing();
    let svc = RetryLayer::builder()
        .max_attempts(5)
        .backoff(quick())
        .deadline(IgnoreDeadline)
        .replay(Limited(Arc::new(AtomicUsize::new(2))))
        .hook(hook.clone())
        .build()
        .unwrap()
        .layer(up.clone());
    assert_eq!(svc.oneshot(9).await, Err(Boom(1)));
    assert_eq!(
        up.calls.count(),
        2,
        "a copy for the first attempt, one for the second"
    );
    let kinds = hook.kinds();
    assert!(matches!(
        kinds[0],
        EventKind::RetryAttempt { attempt: 2, .. }
    ));
    assert_eq!(kinds[1..], [EventKind::NotReplayable]);
}

#[tokio::test(start_paused = true)]
async fn the_handle_changes_attempts_and_backoff_for_every_service() {
    let layer = RetryLayer::builder()
        .max_attempts(2)
        .backoff(quick())
        .deadline(IgnoreDeadline)
        .build()
        .unwrap();
    let handle = layer.handle();
    let up = failing();
    let svc = layer.layer(up.clone());
    assert_eq!(svc.clone().oneshot(0).await, Err(Boom(1)));

    handle.set_max_attempts(4).unwrap();
    handle
        .set_backoff(Backoff::constant(Duration::from_millis(50)))
        .unwrap();
    assert_eq!(svc.clone().oneshot(0).await, Err(Boom(5)));
    assert_eq!(
        up.calls.gaps(),
        [10, 0, 50, 50, 50].map(Duration::from_millis),
        "the new settings apply to the clone made before the change"
    );

    handle.set_max_attempts(1).unwrap();
    assert_eq!(svc.oneshot(0).await, Err(Boom(6)), "retries are off");
    assert_eq!(up.calls.count(), 7);
}

#[test]
fn services_and_futures_are_send_for_multi_threaded_runtimes() {
    fn send_sync<T: Send + Sync + Clone>(_: &T) {}
    fn send<T: Send>(_: &T) {}

    let mut svc = RetryLayer::builder()
        .retry_if_request(IdempotentMethods)
        .build()
        .unwrap()
        .layer(tower::service_fn(|req: http::Request<String>| async move {
            Ok::<_, std::io::Error>(req.into_body())
        }));
    send_sync(&svc);
    send(&tower::Service::call(
        &mut svc,
        http::Request::new(String::from("body")),
    ));
}

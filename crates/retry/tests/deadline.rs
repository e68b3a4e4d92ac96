//! No sleep and no attempt is started that cannot finish before the request's deadline.

mod support;

use std::time::Duration;

use bulwark_policy::{Backoff, Deadline, DeadlineAccess, EventKind};
use bulwark_retry::RetryLayer;
use bulwark_test_support::RecordingHook;
use support::{by_status, upstream, Answer, Boom};
use tokio::time::Instant;
use tower::{service_fn, Layer, ServiceExt};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn request_due_in(timeout: Duration) -> http::Request<()> {
    let mut req = http::Request::get("/").body(()).unwrap();
    req.extensions_mut().insert(Deadline::after(timeout));
    req
}

fn fail_all(n: u32, _: http::Request<()>) -> Result<(), Boom> {
    Err(Boom(n))
}

#[tokio::test(start_paused = true)]
async fn no_sleep_is_started_that_ends_at_or_after_the_deadline() {
    let hook = RecordingHook::new();
    let up = upstream(fail_all);
    let svc = RetryLayer::builder()
        .max_attempts(10)
        .backoff(Backoff::constant(ms(400)))
        .hook(hook.clone())
        .build()
        .unwrap()
        .layer(up.clone());
    let start = Instant::now();
    assert_eq!(svc.oneshot(request_due_in(ms(1000))).await, Err(Boom(2)));
    assert_eq!(up.calls.gaps(), [ms(400), ms(400)]);
    assert_eq!(
        start.elapsed(),
        ms(800),
        "it gave up at once, without a last sleep"
    );
    assert_eq!(
        hook.kinds().last(),
        Some(&EventKind::DeadlineTooNear { remaining: ms(200) })
    );
}

#[tokio::test(start_paused = true)]
async fn an_attempt_expected_to_outlast_the_deadline_is_not_started() {
    let hook = RecordingHook::new();
    let calls = support::Calls::default();
    let log = calls.clone();
    // Every attempt takes 300 ms, then fails.
    let slow = service_fn(move |_: http::Request<()>| {
        let n = log.record();
        async move {
            tokio::time::sleep(ms(300)).await;
            Err::<(), _>(Boom(n))
        }
    });
    let svc = RetryLayer::builder()
        .max_attempts(10)
        .backoff(Backoff::constant(ms(100)))
        .hook(hook.clone())
        .build()
        .unwrap()
        .layer(slow);
    let start = Instant::now();
    assert_eq!(svc.oneshot(request_due_in(ms(1000))).await, Err(Boom(1)));
    // 0..300 fails, 400..700 fails; 700 + 100 + 300 would reach the deadline at 1000.
    assert_eq!(calls.gaps(), [ms(400)]);
    assert_eq!(start.elapsed(), ms(700));
    assert_eq!(
        hook.kinds().last(),
        Some(&EventKind::DeadlineTooNear { remaining: ms(300) })
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_beyond_the_deadline_returns_at_once() {
    let hook = RecordingHook::new();
    let up =
        upstream(|_, _: http::Request<()>| Ok(Answer::unavailable(Some(Duration::from_secs(5)))));
    let svc = RetryLayer::builder()
        .classify(by_status)
        .hook(hook.clone())
        .build()
        .unwrap()
        .layer(up.clone());
    let start = Instant::now();
    let answer = svc.oneshot(request_due_in(Duration::from_secs(2))).await;
    assert_eq!(
        answer,
        Ok(Answer::unavailable(Some(Duration::from_secs(5))))
    );
    assert_eq!((up.calls.count(), start.elapsed()), (1, Duration::ZERO));
    assert_eq!(
        hook.kinds(),
        [EventKind::DeadlineTooNear {
            remaining: Duration::from_secs(2)
        }]
    );
}

#[tokio::test(start_paused = true)]
async fn a_passed_deadline_still_sends_the_first_attempt_only() {
    let up = upstream(fail_all);
    let svc = RetryLayer::builder()
        .backoff(Backoff::constant(Duration::ZERO))
        .build()
        .unwrap()
        .layer(up.clone());
    assert_eq!(
        svc.oneshot(request_due_in(Duration::ZERO)).await,
        Err(Boom(0))
    );
    assert_eq!(up.calls.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_request_without_a_deadline_is_retried_normally() {
    let up = upstream(fail_all);
    let svc = RetryLayer::builder()
        .backoff(Backoff::constant(Duration::from_secs(60)))
        .build()
        .unwrap()
        .layer(up.clone());
    let req = http::Request::get("/").body(()).unwrap();
    assert_eq!(svc.oneshot(req).await, Err(Boom(2)));
    assert_eq!(up.calls.count(), 3);
}

/// A request that carries a timeout rather than a deadline: its accessor makes a new deadline
/// from now each time it is asked.
#[derive(Debug, Clone)]
struct Job {
    timeout: Duration,
}

#[derive(Debug, Clone, Copy)]
struct FromTimeout;

impl DeadlineAccess<Job> for FromTimeout {
    fn get(&self, job: &Job) -> Option<Deadline> {
        Some(Deadline::after(job.timeout))
    }
    fn set(&self, _: &mut Job, _: Deadline) {}
}

#[tokio::test(start_paused = true)]
async fn the_deadline_is_read_once_when_the_request_is_first_sent() {
    let up = upstream(|n, _: Job| Err::<(), _>(Boom(n)));
    let svc = RetryLayer::builder()
        .max_attempts(10)
        .backoff(Backoff::constant(ms(400)))
        .deadline(FromTimeout)
        .build()
        .unwrap()
        .layer(up.clone());
    let job = Job { timeout: ms(1000) };
    assert_eq!(svc.oneshot(job).await, Err(Boom(2)));
    assert_eq!(
        up.calls.gaps(),
        [ms(400), ms(400)],
        "the deadline did not move with each retry"
    );
}

//! TimeoutLayer with RetryLayer: inside the retry layer a timeout bounds each attempt and is
//! retried; outside it, it bounds the whole exchange and stops the retries.

use std::fmt;
use std::future::pending;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bulwark_policy::{Backoff, BoxError, Deadline, EventKind, FailureKind, IgnoreDeadline};
use bulwark_retry::RetryLayer;
use bulwark_test_support::RecordingHook;
use bulwark_timeout::{Elapsed, TimeoutLayer};
use tokio::time::{sleep, Instant};
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The upstream's own error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Boom;

impl fmt::Display for Boom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("upstream failed")
    }
}

impl std::error::Error for Boom {}

/// One call that reached the upstream: when, and the deadline it carried.
type Call = (Instant, Option<Deadline>);

/// Every call that reached the upstream; clones share the record.
#[derive(Debug, Clone, Default)]
struct Calls(Arc<Mutex<Vec<Call>>>);

impl Calls {
    fn record(&self, deadline: Option<Deadline>) -> usize {
        let mut calls = self.0.lock().unwrap();
        calls.push((Instant::now(), deadline));
        calls.len() - 1
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    fn at(&self) -> Vec<Duration> {
        let calls = self.0.lock().unwrap();
        calls.iter().map(|(at, _)| *at - calls[0].0).collect()
    }

    fn deadlines(&self) -> Vec<Option<Deadline>> {
        self.0.lock().unwrap().iter().map(|(_, d)| *d).collect()
    }
}

/// An upstream whose first `hangs` calls never answer, and whose later calls answer `n`.
fn hangs_then_answers(
    calls: &Calls,
    hangs: usize,
) -> impl Service<u32, Response = u32, Error = Boom, Future: Send> + Clone {
    let calls = calls.clone();
    service_fn(move |n: u32| {
        let call = calls.record(None);
        async move {
            if call < hangs {
                pending::<()>().await;
            }
            Ok(n)
        }
    })
}

/// An upstream that fails every call after 50 ms.
fn fails_after_50ms<Req: Send + 'static>(
    calls: &Calls,
    deadline: fn(&Req) -> Option<Deadline>,
) -> impl Service<Req, Response = (), Error = Boom, Future: Send> + Clone {
    let calls = calls.clone();
    service_fn(move |req: Req| {
        calls.record(deadline(&req));
        async move {
            sleep(ms(50)).await;
            Err::<(), _>(Boom)
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_per_attempt_timeout_inside_retry_is_retried() {
    let hook = RecordingHook::new();
    let calls = Calls::default();
    let svc = ServiceBuilder::new()
        .layer(
            RetryLayer::builder()
                .max_attempts(3)
                .backoff(Backoff::constant(ms(10)))
                .no_budget()
                .deadline(IgnoreDeadline)
                .hook(hook.clone())
                .build()
                .unwrap(),
        )
        .layer(
            TimeoutLayer::new(ms(100))
                .name("per-attempt")
                .deadline(IgnoreDeadline)
                .hook(hook.clone()),
        )
        .service(hangs_then_answers(&calls, 1));

    let start = Instant::now();
    assert_eq!(svc.oneshot(7).await.unwrap(), 7);
    assert_eq!(
        start.elapsed(),
        ms(110),
        "one attempt cut at 100 ms, a 10 ms backoff, an answer"
    );
    assert_eq!(calls.at(), [ms(0), ms(110)]);

    let kinds = hook.kinds();
    assert_eq!(kinds.len(), 2);
    assert_eq!(kinds[0], EventKind::TimeoutElapsed { after: ms(100) });
    match kinds[1] {
        EventKind::RetryAttempt {
            attempt,
            delay,
            reason,
        } => {
            assert_eq!((attempt, delay), (2, ms(10)));
            assert_eq!(reason.kind, FailureKind::Timeout);
            assert!(reason.retryable);
        }
        other => panic!("expected a retry attempt, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn per_attempt_timeouts_are_retried_until_the_attempts_run_out() {
    let hook = RecordingHook::new();
    let calls = Calls::default();
    let svc = ServiceBuilder::new()
        .layer(
            RetryLayer::builder()
                .max_attempts(3)
                .backoff(Backoff::constant(ms(10)))
                .no_budget()
                .deadline(IgnoreDeadline)
                .hook(hook.clone())
                .build()
                .unwrap(),
        )
        .layer(
            TimeoutLayer::new(ms(100))
                .deadline(IgnoreDeadline)
                .hook(hook.clone()),
        )
        .service(hangs_then_answers(&calls, usize::MAX));

    let err: BoxError = svc.oneshot(7).await.unwrap_err();
    assert!(err.is::<Elapsed>());
    assert_eq!(calls.at(), [ms(0), ms(110), ms(220)]);
    assert_eq!(
        hook.count(|k| matches!(k, EventKind::TimeoutElapsed { .. })),
        3
    );
    assert_eq!(
        hook.kinds().last(),
        Some(&EventKind::RetriesExhausted { attempts: 3 })
    );
}

#[tokio::test(start_paused = true)]
async fn a_total_timeout_outside_retry_stops_the_retries() {
    let hook = RecordingHook::new();
    let calls = Calls::default();
    // Alone, the retry layer would call 10 times over 1.4 s: 50 ms attempts, 100 ms apart.
    let svc = ServiceBuilder::new()
        .layer(
            TimeoutLayer::new(ms(250))
                .name("total")
                .deadline(IgnoreDeadline)
                .hook(hook.clone()),
        )
        .layer(
            RetryLayer::builder()
                .max_attempts(10)
                .backoff(Backoff::constant(ms(100)))
                .no_budget()
                .deadline(IgnoreDeadline)
                .build()
                .unwrap(),
        )
        .service(fails_after_50ms(&calls, |_: &u32| None));

    let start = Instant::now();
    let err = svc.oneshot(7).await.unwrap_err();
    assert!(err.is::<Elapsed>());
    assert_eq!(start.elapsed(), ms(250));
    assert_eq!(calls.at(), [ms(0), ms(150)]);
    assert_eq!(hook.kinds(), [EventKind::TimeoutElapsed { after: ms(250) }]);

    // The retry loop went with the dropped future: nothing more reaches the upstream.
    sleep(Duration::from_secs(5)).await;
    assert_eq!(calls.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_total_timeout_gives_retry_its_deadline_so_it_stops_before_being_cut_off() {
    let hook = RecordingHook::new();
    let calls = Calls::default();
    let svc = ServiceBuilder::new()
        .layer(TimeoutLayer::new(ms(250)).name("total").hook(hook.clone()))
        .layer(
            RetryLayer::builder()
                .max_attempts(10)
                .backoff(Backoff::constant(ms(100)))
                .no_budget()
                .hook(hook.clone())
                .build()
                .unwrap(),
        )
        .service(fails_after_50ms(&calls, |req: &http::Request<()>| {
            req.extensions().get::<Deadline>().copied()
        }));

    let start = Instant::now();
    let err = svc.oneshot(http::Request::new(())).await.unwrap_err();
    // 0..50 fails, 150..200 fails; another 100 ms wait and 50 ms attempt would end at 350,
    // past the deadline at 250, so the retry layer returns the upstream's last error.
    assert_eq!(err.downcast_ref::<Boom>(), Some(&Boom));
    assert_eq!(start.elapsed(), ms(200));
    assert_eq!(calls.at(), [ms(0), ms(150)]);
    let total = Deadline::at(start + ms(250));
    assert_eq!(calls.deadlines(), [Some(total), Some(total)]);
    assert_eq!(
        hook.kinds().last(),
        Some(&EventKind::DeadlineTooNear { remaining: ms(50) })
    );
    assert_eq!(
        hook.count(|k| matches!(k, EventKind::TimeoutElapsed { .. })),
        0
    );
}

#[tokio::test(start_paused = true)]
async fn a_per_attempt_timeout_never_outlasts_the_total_deadline() {
    let hook = RecordingHook::new();
    let calls = Calls::default();
    // The first call fails after 10 ms; the second never answers.
    let upstream = {
        let calls = calls.clone();
        service_fn(move |req: http::Request<()>| {
            let call = calls.record(req.extensions().get::<Deadline>().copied());
            async move {
                sleep(ms(10)).await;
                if call > 0 {
                    pending::<()>().await;
                }
                Err::<(), _>(Boom)
            }
        })
    };
    let svc = ServiceBuilder::new()
        .layer(TimeoutLayer::new(ms(250)).name("total").hook(hook.clone()))
        .layer(
            RetryLayer::builder()
                .max_attempts(10)
                .backoff(Backoff::constant(ms(200)))
                .no_budget()
                .build()
                .unwrap(),
        )
        .layer(
            TimeoutLayer::new(ms(100))
                .name("per-attempt")
                .hook(hook.clone()),
        )
        .service(upstream);

    let start = Instant::now();
    let err = svc.oneshot(http::Request::new(())).await.unwrap_err();
    assert!(err.is::<Elapsed>());
    // The retry starts at 210; its own 100 ms would end at 310, so the total's 250 applies.
    assert_eq!(calls.at(), [ms(0), ms(210)]);
    assert_eq!(
        calls.deadlines(),
        [
            Some(Deadline::at(start + ms(100))),
            Some(Deadline::at(start + ms(250)))
        ]
    );
    assert_eq!(start.elapsed(), ms(250));
    let per_attempt: Vec<_> = hook
        .events()
        .into_iter()
        .filter(|e| e.name == "per-attempt")
        .map(|e| e.kind)
        .collect();
    assert_eq!(per_attempt, [EventKind::TimeoutElapsed { after: ms(40) }]);
}

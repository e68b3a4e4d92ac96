//! The standard client stack puts its layers in the documented order: total timeout → retry →
//! breaker → per-attempt timeout.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bulwark_test_support::{Recorded, RecordingHook};
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_bulwark::prelude::*;

/// A service that counts its calls and answers each with `answer(call number, from 0)`;
/// `None` hangs for ever.
fn upstream<Req, Res>(
    answer: impl Fn(u32) -> Option<Result<Res, BoxError>> + Clone + Send + 'static,
) -> (
    Arc<AtomicU32>,
    impl Service<Req, Response = Res, Error = BoxError, Future: Send> + Clone,
)
where
    Res: Send + 'static,
{
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let svc = service_fn(move |_req: Req| {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let result = answer(n);
        async move {
            match result {
                Some(result) => result,
                None => std::future::pending().await,
            }
        }
    });
    (calls, svc)
}

fn elapsed_named(events: &[Recorded], name: &str) -> usize {
    events
        .iter()
        .filter(|e| e.name == name && matches!(e.kind, EventKind::TimeoutElapsed { .. }))
        .count()
}

#[tokio::test(start_paused = true)]
async fn a_per_attempt_timeout_fires_and_the_retry_retries_it() {
    let hook = RecordingHook::new();
    let (calls, svc) = upstream(|n| (n > 0).then(|| Ok::<_, BoxError>("answer")));
    let layer = preset::standard_client()
        .attempt_timeout(Duration::from_millis(200))
        .backoff(Backoff::constant(Duration::from_millis(10)))
        .deadline(IgnoreDeadline)
        .hook(hook.clone())
        .name("up")
        .build()
        .unwrap();

    let start = tokio::time::Instant::now();
    assert_eq!(layer.layer(svc).oneshot(()).await.unwrap(), "answer");
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(210),
        "one attempt timeout and one backoff"
    );

    let events = hook.events();
    assert_eq!(elapsed_named(&events, "up.attempt"), 1);
    assert_eq!(elapsed_named(&events, "up.total"), 0);
    let retries: Vec<_> = events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::RetryAttempt {
                attempt, reason, ..
            } => Some((e.name.as_str(), attempt, reason.kind)),
            _ => None,
        })
        .collect();
    assert_eq!(retries, [("up", 2, FailureKind::Timeout)]);
}

#[tokio::test(start_paused = true)]
async fn the_total_timeout_bounds_every_attempt_and_sleep() {
    let hook = RecordingHook::new();
    let (calls, svc) = upstream::<(), ()>(|_| None);
    let layer = preset::standard_client()
        .total_timeout(Duration::from_secs(1))
        .attempt_timeout(Duration::from_millis(300))
        .max_attempts(10)
        .backoff(Backoff::constant(Duration::from_millis(10)))
        .consecutive_failures(100)
        .deadline(IgnoreDeadline)
        .hook(hook.clone())
        .build()
        .unwrap();

    let start = tokio::time::Instant::now();
    let err = layer.layer(svc).oneshot(()).await.unwrap_err();
    assert!(err.is::<Elapsed>());
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(1),
        "cut off by the total timeout"
    );
    // Attempts start at 0, 310 ms, 620 ms and 930 ms; the fourth is cut off by the total.
    assert_eq!(calls.load(Ordering::Relaxed), 4);
    let events = hook.events();
    assert_eq!(elapsed_named(&events, "client.total"), 1);
    assert_eq!(elapsed_named(&events, "client.attempt"), 3);
}

#[tokio::test(start_paused = true)]
async fn with_a_deadline_on_the_request_the_retry_stops_before_the_total_timeout() {
    let hook = RecordingHook::new();
    let (calls, svc) = upstream::<http::Request<()>, ()>(|_| None);
    let layer = preset::standard_client()
        .total_timeout(Duration::from_secs(1))
        .attempt_timeout(Duration::from_millis(300))
        .max_attempts(10)
        .backoff(Backoff::constant(Duration::from_millis(10)))
        .consecutive_failures(100)
        .hook(hook.clone())
        .build()
        .unwrap();

    let start = tokio::time::Instant::now();
    let err = layer
        .layer(svc)
        .oneshot(http::Request::new(()))
        .await
        .unwrap_err();
    assert!(err.is::<Elapsed>(), "the last attempt's own timeout: {err}");
    // Attempts end at 300, 610 and 920 ms; a fourth could not finish by 1 s, so none starts.
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    assert_eq!(start.elapsed(), Duration::from_millis(920));
    let events = hook.events();
    assert_eq!(elapsed_named(&events, "client.total"), 0);
    assert_eq!(
        hook.count(|k| matches!(k, EventKind::DeadlineTooNear { .. })),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn the_breaker_counts_attempts_not_calls() {
    let (calls, svc) = upstream::<(), ()>(|_| Some(Err("down".into())));
    let layer = preset::standard_client()
        .max_attempts(3)
        .consecutive_failures(3)
        .backoff(Backoff::constant(Duration::from_millis(1)))
        .deadline(IgnoreDeadline)
        .build()
        .unwrap();
    let breaker = layer.breaker_handle();
    let svc = layer.layer(svc);

    // One call, three failed attempts: three failures in a row trip the breaker.
    let err = svc.clone().oneshot(()).await.unwrap_err();
    assert!(
        !err.is::<Rejected>(),
        "the last real error comes back: {err}"
    );
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    assert!(breaker.state().rejects());

    // A rejection is not retried at once, and does not reach the upstream.
    let start = tokio::time::Instant::now();
    let err = svc.oneshot(()).await.unwrap_err();
    assert!(err.is::<Rejected>());
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(calls.load(Ordering::Relaxed), 3);
}

#[tokio::test(start_paused = true)]
async fn one_classifier_decides_for_the_retry_and_the_breaker() {
    // Answers are status codes; 503 is a retryable failure only by this classifier.
    let (calls, svc) = upstream::<(), u16>(|_| Some(Ok(503)));
    let by_status = |r: &Result<u16, BoxError>| match r {
        Ok(503) => Outcome::Failure(Failure::new(FailureKind::Overloaded).retryable(true)),
        Ok(_) => Outcome::Success,
        Err(e) => Outcome::Failure(classify_error(e)),
    };
    let layer = preset::standard_client()
        .classify(by_status)
        .max_attempts(2)
        .consecutive_failures(2)
        .backoff(Backoff::constant(Duration::from_millis(1)))
        .deadline(IgnoreDeadline)
        .build()
        .unwrap();
    let breaker = layer.breaker_handle();

    assert_eq!(layer.layer(svc).oneshot(()).await.unwrap(), 503);
    assert_eq!(calls.load(Ordering::Relaxed), 2, "the retry saw a failure");
    assert!(breaker.state().rejects(), "the breaker saw two failures");
}

#[tokio::test(start_paused = true)]
async fn one_hook_hears_every_layer() {
    let hook = RecordingHook::new();
    let (_, svc) = upstream::<(), ()>(|n| {
        if n == 0 {
            None
        } else {
            Some(Err("down".into()))
        }
    });
    let layer = preset::standard_client()
        .attempt_timeout(Duration::from_millis(100))
        .max_attempts(2)
        .consecutive_failures(2)
        .backoff(Backoff::constant(Duration::from_millis(1)))
        .deadline(IgnoreDeadline)
        .name("db")
        .hook(hook.clone())
        .build()
        .unwrap();
    let _ = layer.layer(svc).oneshot(()).await.unwrap_err();

    let events = hook.events();
    let has = |name: &str, kind: &str| {
        events
            .iter()
            .any(|e| e.name == name && e.kind.as_str() == kind)
    };
    assert!(has("db.attempt", "timeout_elapsed"));
    assert!(has("db", "retry_attempt"));
    assert!(has("db", "breaker_call"));
    assert!(has("db", "breaker_transition"));
}

#[tokio::test(start_paused = true)]
async fn a_layer_is_one_breaker_and_one_budget_for_every_service_it_wraps() {
    let layer = preset::standard_client()
        .deadline(IgnoreDeadline)
        .build()
        .unwrap();
    let a = layer.layer(service_fn(|n: u8| async move { Ok::<_, BoxError>(n) }));
    let b = layer
        .clone()
        .layer(service_fn(|n: u8| async move { Ok::<_, BoxError>(n) }));
    layer.breaker_handle().force_open();
    assert!(a.oneshot(1).await.unwrap_err().is::<Rejected>());
    assert!(b.oneshot(2).await.unwrap_err().is::<Rejected>());
    assert!(Arc::ptr_eq(
        layer.budget().unwrap(),
        layer.clone().retry_handle().budget().unwrap()
    ));
}

#[test]
fn nonsense_is_refused() {
    let err = |c: preset::StandardClient| c.build().unwrap_err().field();
    assert_eq!(
        err(preset::standard_client().total_timeout(Duration::ZERO)),
        "total_timeout"
    );
    assert_eq!(
        err(preset::standard_client().attempt_timeout(Duration::ZERO)),
        "attempt_timeout"
    );
    assert_eq!(
        err(preset::standard_client()
            .total_timeout(Duration::from_secs(1))
            .attempt_timeout(Duration::from_secs(2))),
        "attempt_timeout"
    );
    assert_eq!(
        err(preset::standard_client().max_attempts(0)),
        "max_attempts"
    );
    assert_eq!(
        err(preset::standard_client().consecutive_failures(0)),
        "consecutive_failures"
    );
    assert_eq!(
        err(preset::standard_client().failure_rate(-0.1, 10)),
        "failure_rate"
    );
}

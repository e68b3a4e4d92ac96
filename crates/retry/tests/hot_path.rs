//! A first attempt that succeeds allocates nothing when replaying the request is free; a
//! retried request allocates once, however many retries it takes.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bulwark_policy::{Backoff, ExtensionsDeadline, IgnoreDeadline, RetryBudget};
use bulwark_retry::RetryLayer;
use bulwark_test_support::fuzz::paused_runtime;
use bulwark_test_support::{allocations, call_once, RecordingHook};
use tower::{service_fn, Layer, ServiceExt};

bulwark_test_support::counting_allocator!();

#[test]
fn a_successful_first_attempt_allocates_nothing() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    assert!(
        allocations(|| drop(std::hint::black_box(Box::new(1u8)))) >= 1,
        "the counting allocator is installed"
    );
    let hook = RecordingHook::new();
    let layer = RetryLayer::builder()
        .deadline(IgnoreDeadline)
        .hook(hook.clone())
        .build()
        .unwrap();
    let mut svc = layer.layer(service_fn(
        |n: u32| async move { Ok::<_, Infallible>(n + 1) },
    ));
    assert_eq!(call_once(&mut svc, 0), Ok(1));

    let n = allocations(|| {
        for i in 0..1000 {
            assert_eq!(call_once(&mut svc, i), Ok(i + 1));
        }
    });
    assert_eq!(n, 0, "allocations over 1000 successful calls");
    assert!(hook.events().is_empty(), "a success reports nothing");
}

#[test]
fn a_successful_unit_request_allocates_nothing_without_a_runtime_or_budget() {
    let layer = RetryLayer::builder()
        .deadline(IgnoreDeadline)
        .no_budget()
        .build()
        .unwrap();
    let mut svc = layer.layer(service_fn(|()| async { Ok::<_, Infallible>(7u8) }));
    let n = allocations(|| {
        for _ in 0..1000 {
            assert_eq!(call_once(&mut svc, ()), Ok(7));
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn an_empty_http_request_allocates_nothing() {
    let layer = RetryLayer::builder()
        .deadline(ExtensionsDeadline)
        .build()
        .unwrap();
    let mut svc = layer.layer(service_fn(|req: http::Request<()>| async move {
        Ok::<_, Infallible>(req.method().clone())
    }));
    let req = http::Request::get("/").body(()).unwrap();
    let n = allocations(|| {
        for _ in 0..100 {
            assert_eq!(call_once(&mut svc, req.clone()), Ok(http::Method::GET));
        }
    });
    assert_eq!(n, 0);
}

/// A service that always fails without allocating, and counts its calls.
fn always_down(
    calls: &Arc<AtomicU32>,
) -> impl tower::Service<
    u32,
    Response = u32,
    Error = &'static str,
    Future = std::future::Ready<Result<u32, &'static str>>,
> + Clone {
    let calls = calls.clone();
    service_fn(move |_: u32| {
        calls.fetch_add(1, Ordering::Relaxed);
        std::future::ready(Err("down"))
    })
}

/// The allocations of one call to `svc` that fails, after a first call that warms it up.
fn allocations_of_a_failing_call<S>(rt: &tokio::runtime::Runtime, svc: &S) -> u64
where
    S: tower::Service<u32, Response = u32, Error = &'static str> + Clone,
{
    assert_eq!(rt.block_on(svc.clone().oneshot(0)), Err("down"));
    allocations(|| assert_eq!(rt.block_on(svc.clone().oneshot(0)), Err("down")))
}

#[test]
fn a_retried_request_allocates_once_however_many_retries() {
    let rt = paused_runtime();
    for delay in [Duration::from_millis(10), Duration::ZERO] {
        for attempts in [2, 4] {
            let calls = Arc::new(AtomicU32::new(0));
            let svc = RetryLayer::builder()
                .max_attempts(attempts)
                .backoff(Backoff::constant(delay))
                .no_budget()
                .deadline(IgnoreDeadline)
                .build()
                .unwrap()
                .layer(always_down(&calls));
            let n = allocations_of_a_failing_call(&rt, &svc);
            assert_eq!(calls.load(Ordering::Relaxed), 2 * attempts);
            assert_eq!(n, 1, "{attempts} attempts, {delay:?} apart");
        }
    }
}

#[test]
fn a_retry_the_budget_refuses_allocates_nothing() {
    let rt = paused_runtime();
    let calls = Arc::new(AtomicU32::new(0));
    let empty = Arc::new(RetryBudget::new(Duration::from_secs(1), 0, 0.0).unwrap());
    let svc = RetryLayer::builder()
        .budget(empty)
        .deadline(IgnoreDeadline)
        .build()
        .unwrap()
        .layer(always_down(&calls));
    let n = allocations_of_a_failing_call(&rt, &svc);
    assert_eq!(calls.load(Ordering::Relaxed), 2, "no retries");
    assert_eq!(n, 0);
}

//! A first attempt that succeeds allocates nothing when replaying the request is free.

use std::convert::Infallible;

use bulwark_policy::{ExtensionsDeadline, IgnoreDeadline};
use bulwark_retry::RetryLayer;
use bulwark_test_support::{allocations, call_once, RecordingHook};
use tower::{service_fn, Layer};

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

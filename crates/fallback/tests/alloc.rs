//! The success path allocates nothing, with every constructor and with a hook set.

use std::future::{ready, Ready};

use bulwark_fallback::FallbackLayer;
use bulwark_policy::BoxError;
use bulwark_test_support::{allocations, call_once, RecordingHook};
use tower::{service_fn, Layer, Service};

bulwark_test_support::counting_allocator!();

type Answer = Ready<Result<u32, BoxError>>;

fn primary() -> impl Service<u32, Response = u32, Error = BoxError, Future = Answer> + Clone {
    service_fn(|n: u32| ready(Ok::<u32, BoxError>(n + 1)))
}

/// Drives one call (readiness, call, answer) on `svc` and counts its allocations.
fn allocations_per_success<S>(mut svc: S) -> u64
where
    S: Service<u32, Response = u32>,
    S::Error: std::fmt::Debug,
{
    let mut once = || assert_eq!(call_once(&mut svc, 41).unwrap(), 42);
    once();
    allocations(|| {
        for _ in 0..100 {
            once();
        }
    })
}

#[test]
fn value_success_allocates_nothing() {
    let layer = FallbackLayer::value(0u32).hook(RecordingHook::new());
    assert_eq!(allocations_per_success(layer.layer(primary())), 0);
}

#[test]
fn from_error_success_allocates_nothing() {
    let layer = FallbackLayer::from_error(|_: BoxError| 0u32).hook(RecordingHook::new());
    assert_eq!(allocations_per_success(layer.layer(primary())), 0);
}

#[test]
fn from_fn_success_allocates_nothing() {
    let layer = FallbackLayer::from_fn(|_: Result<u32, BoxError>| ready(Ok::<u32, BoxError>(0)))
        .hook(RecordingHook::new());
    assert_eq!(allocations_per_success(layer.layer(primary())), 0);
}

#[test]
fn service_success_allocates_nothing_when_the_request_copies_for_free() {
    let layer = FallbackLayer::service(primary()).hook(RecordingHook::new());
    assert_eq!(allocations_per_success(layer.layer(primary())), 0);
}

#[test]
fn the_counter_sees_the_fallback_path_allocate() {
    // The primary's boxed error allocates; the counter must see that for the zeros to mean
    // anything.
    let failing = service_fn(|_: u32| ready(Err::<u32, BoxError>("down".into())));
    let mut svc = FallbackLayer::value(42u32).layer(failing);
    assert!(allocations_per_success(&mut svc) > 0);
}

//! What a call costs in heap allocations: nothing when no fault is injected, and nothing for
//! the default injected error either.

mod support;

use std::task::Poll;
use std::time::Duration;

use bulwark_chaos::ChaosLayer;
use bulwark_policy::{Event, FnHook};
use bulwark_test_support::allocations;
use support::{call_now, Echo};
use tower::Layer;

bulwark_test_support::counting_allocator!();

#[test]
fn a_call_that_gets_no_fault_allocates_nothing() {
    // Enabled, with a hook and a schedule to check, but every rate at 0 and the outage far off.
    let layer = ChaosLayer::builder()
        .seed(1)
        .hook(FnHook::new(|e: &Event<'_>| {
            std::hint::black_box(e);
        }))
        .outage(Duration::from_secs(3600), Duration::from_secs(3601))
        .build()
        .unwrap();
    let mut svc = layer.layer(Echo::default());
    let _ = call_now(&mut svc, 0);
    let n = allocations(|| {
        for n in 0..1_000 {
            assert!(matches!(call_now(&mut svc, n), Poll::Ready(Ok(m)) if m == n));
        }
    });
    assert_eq!(n, 0);
    assert_eq!(layer.handle().stats().calls, 1_001);
}

#[test]
fn a_disabled_layer_allocates_nothing() {
    let layer = ChaosLayer::builder()
        .error_rate(1.0)
        .enabled(false)
        .build()
        .unwrap();
    let mut svc = layer.layer(Echo::default());
    let n = allocations(|| {
        for n in 0..1_000 {
            assert!(matches!(call_now(&mut svc, n), Poll::Ready(Ok(_))));
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn injecting_the_default_error_or_a_plain_response_allocates_nothing() {
    let errors = ChaosLayer::builder().error_rate(1.0).build().unwrap();
    let mut errors = errors.layer(Echo::default());
    let responses = ChaosLayer::builder()
        .response_rate(1.0)
        .response_with(|| 503)
        .build()
        .unwrap();
    let mut responses = responses.layer(Echo::default());
    let n = allocations(|| {
        for n in 0..1_000 {
            assert!(matches!(call_now(&mut errors, n), Poll::Ready(Err(_))));
            assert!(matches!(call_now(&mut responses, n), Poll::Ready(Ok(503))));
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn the_counter_is_live_an_error_that_boxes_a_message_allocates() {
    let layer = ChaosLayer::builder()
        .error_rate(1.0)
        .error_with(|| -> bulwark_policy::BoxError { "injected".into() })
        .build()
        .unwrap();
    let mut svc = layer.layer(Echo::default());
    let n = allocations(|| {
        assert!(matches!(call_now(&mut svc, 0), Poll::Ready(Err(_))));
    });
    assert!(n >= 1, "{n}");
}

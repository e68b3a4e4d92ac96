//! The closed path allocates nothing: with the default policy, with both windows and slow-call
//! detection (which read the clock), and with a hook that keeps nothing.

use std::convert::Infallible;
use std::future::ready;
use std::time::Duration;

use bulwark_breaker::BreakerLayer;
use bulwark_policy::{Event, FnHook};
use bulwark_test_support::{allocations, call_once};
use tower::{service_fn, Layer};

bulwark_test_support::counting_allocator!();

fn calls_allocate(layer: BreakerLayer) -> u64 {
    let mut svc = layer.layer(service_fn(|n: u64| ready(Ok::<_, Infallible>(n))));
    let mut once = |n: u64| assert!(matches!(call_once(&mut svc, n), Ok(m) if m == n));
    // The first call may set up thread-locals (the clock); it is not the steady state.
    once(0);
    allocations(|| (1..=1000).for_each(&mut once))
}

#[test]
fn the_default_closed_path_allocates_nothing() {
    assert_eq!(
        allocations(|| drop(std::hint::black_box(Box::new(1u8)))),
        1,
        "the counter counts"
    );
    assert_eq!(calls_allocate(BreakerLayer::builder().build().unwrap()), 0);
}

#[test]
fn windows_and_slow_calls_allocate_nothing() {
    let layer = BreakerLayer::builder()
        .failure_rate(0.5)
        .count_window(100)
        .time_window(Duration::from_secs(10))
        .slow_calls(Duration::from_secs(1), 0.5)
        .build()
        .unwrap();
    assert_eq!(calls_allocate(layer), 0);
}

#[test]
fn a_hook_that_keeps_nothing_allocates_nothing() {
    let hook = FnHook::new(|e: &Event<'_>| {
        std::hint::black_box(e);
    });
    assert_eq!(
        calls_allocate(BreakerLayer::builder().hook(hook).build().unwrap()),
        0
    );
}

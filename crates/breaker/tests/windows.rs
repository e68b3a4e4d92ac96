//! The rate policies: the count ring forgets, the time window rolls, slow calls count, and the
//! documented edges (`>=`, judged after failures, `age == window`) hold.

use std::time::Duration;

use bulwark_breaker::{Breaker, BreakerLayer, WindowCounts};
use bulwark_policy::{Backoff, BoxError, BreakerState};
use tower::{service_fn, Layer, Service, ServiceExt};

type Call = (bool, Duration);

fn layer(b: bulwark_breaker::BreakerBuilder) -> BreakerLayer {
    b.no_consecutive_failures()
        .open_for(Backoff::constant(Duration::from_secs(60)))
        .build()
        .unwrap()
}

fn wrap(
    layer: &BreakerLayer,
) -> Breaker<
    impl Service<Call, Response = (), Error = BoxError, Future = impl Send> + Clone,
    bulwark_policy::ErrorsAsFailures,
> {
    layer.layer(service_fn(|(ok, takes): Call| async move {
        tokio::time::sleep(takes).await;
        if ok {
            Ok(())
        } else {
            Err(BoxError::from("boom"))
        }
    }))
}

async fn run<S: Service<Call, Error = BoxError> + Clone>(svc: &S, ok: bool) {
    let _ = svc.clone().oneshot((ok, Duration::ZERO)).await;
}

#[tokio::test(start_paused = true)]
async fn the_count_window_forgets_old_successes() {
    let layer = layer(
        BreakerLayer::builder()
            .failure_rate(0.5)
            .count_window(10)
            .min_calls(10),
    );
    let svc = wrap(&layer);
    for _ in 0..1000 {
        run(&svc, true).await;
    }
    for _ in 0..4 {
        run(&svc, false).await;
    }
    assert_eq!(
        layer.handle().state(),
        BreakerState::Closed,
        "4 of the last 10 failed"
    );
    assert_eq!(
        layer.handle().snapshot().count_window,
        Some(WindowCounts {
            calls: 10,
            failures: 4,
            slow_calls: 0
        })
    );
    run(&svc, false).await;
    assert_eq!(
        layer.handle().state(),
        BreakerState::Open,
        "5 of the last 10 failed: 50% trips at >="
    );
}

#[tokio::test(start_paused = true)]
async fn the_rate_is_judged_only_after_a_failure() {
    let layer = layer(
        BreakerLayer::builder()
            .failure_rate(0.5)
            .count_window(10)
            .min_calls(10),
    );
    let svc = wrap(&layer);
    for ok in [
        false, false, false, false, false, true, true, true, true, true,
    ] {
        run(&svc, ok).await;
    }
    let counts = layer.handle().snapshot().count_window.unwrap();
    assert_eq!((counts.calls, counts.failures), (10, 5));
    assert_eq!(
        layer.handle().state(),
        BreakerState::Closed,
        "min_calls was reached by a success"
    );
    // The ring drops the first failure; this failure keeps it at 5 of 10, and is judged.
    run(&svc, false).await;
    assert_eq!(layer.handle().state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn min_calls_holds_the_rate_back() {
    let layer = layer(
        BreakerLayer::builder()
            .failure_rate(0.5)
            .count_window(20)
            .min_calls(5),
    );
    let svc = wrap(&layer);
    for _ in 0..4 {
        run(&svc, false).await;
    }
    assert_eq!(
        layer.handle().state(),
        BreakerState::Closed,
        "4 calls, 100% failed, below min_calls"
    );
    run(&svc, false).await;
    assert_eq!(layer.handle().state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn the_time_window_drops_calls_at_exactly_its_length() {
    for (wait, opens) in [
        (Duration::from_secs(9), false),
        (Duration::from_secs(10), true),
    ] {
        let layer = layer(
            BreakerLayer::builder()
                .failure_rate(0.5)
                .time_window(Duration::from_secs(10))
                .min_calls(4),
        );
        let svc = wrap(&layer);
        for _ in 0..6 {
            run(&svc, true).await;
        }
        tokio::time::advance(wait).await;
        for _ in 0..4 {
            run(&svc, false).await;
        }
        assert_eq!(
            layer.handle().state() == BreakerState::Open,
            opens,
            "after {wait:?}"
        );
        let w = layer.handle().snapshot().time_window.unwrap();
        assert_eq!(w.calls, if opens { 4 } else { 10 });
    }
}

#[tokio::test(start_paused = true)]
async fn slow_calls_trip_the_slow_call_rate() {
    let layer = layer(
        BreakerLayer::builder()
            .slow_calls(Duration::from_secs(1), 0.5)
            .count_window(4)
            .min_calls(4),
    );
    let svc = wrap(&layer);
    for takes in [
        Duration::from_secs(1),
        Duration::from_millis(10),
        Duration::from_secs(2),
    ] {
        svc.clone().oneshot((true, takes)).await.unwrap();
    }
    let w = layer.handle().snapshot().count_window.unwrap();
    assert_eq!(
        (w.calls, w.slow_calls, w.failures),
        (3, 1, 0),
        "exactly the threshold is not slow"
    );
    svc.clone()
        .oneshot((true, Duration::from_secs(3)))
        .await
        .unwrap();
    assert_eq!(
        layer.handle().state(),
        BreakerState::Open,
        "2 of 4 calls slow, all successful"
    );
}

#[tokio::test(start_paused = true)]
async fn a_count_and_a_time_window_together() {
    let layer = layer(
        BreakerLayer::builder()
            .failure_rate(0.6)
            .count_window(100)
            .time_window(Duration::from_secs(5))
            .min_calls(5),
    );
    let svc = wrap(&layer);
    for _ in 0..20 {
        run(&svc, true).await;
    }
    tokio::time::advance(Duration::from_secs(5)).await;
    for _ in 0..3 {
        run(&svc, false).await;
    }
    let s = layer.handle().snapshot();
    assert_eq!(
        (s.count_window.unwrap().calls, s.time_window.unwrap().calls),
        (23, 3)
    );
    assert_eq!(
        s.state,
        BreakerState::Closed,
        "below min_calls in the time window"
    );
    for _ in 0..2 {
        run(&svc, false).await;
    }
    assert_eq!(
        layer.handle().state(),
        BreakerState::Open,
        "the time window tripped: 5 of 5"
    );
}

//! Latency and outage schedules under paused time, readiness, and cancellation.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bulwark_chaos::{ChaosLayer, Injected, Latency, OutageAnswer};
use bulwark_policy::{EventKind, Fault};
use bulwark_test_support::RecordingHook;
use support::{call_now, Echo};
use tokio::time::{advance, Instant};
use tokio_test::{assert_pending, assert_ready, assert_ready_err, assert_ready_ok, task};
use tower::{Layer, Service};
use tower_test::mock;

const MS: Duration = Duration::from_millis(1);

#[tokio::test(start_paused = true)]
async fn a_fixed_delay_is_exact_and_the_inner_service_is_called_only_after_it() {
    let layer = ChaosLayer::builder()
        .latency_rate(1.0)
        .latency(Latency::fixed(100 * MS))
        .build()
        .unwrap();
    let (inner, mut handle) = mock::pair::<&str, &str>();
    let mut svc = mock::Spawn::new(layer.layer(inner));
    handle.allow(1);
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call("hello"));

    assert_pending!(fut.poll());
    advance(99 * MS).await;
    assert_pending!(fut.poll());
    assert_pending!(handle.poll_request(), "called before the delay ended");

    advance(MS).await;
    assert_pending!(fut.poll());
    let (request, respond) = assert_ready!(handle.poll_request()).unwrap();
    assert_eq!(request, "hello");
    respond.send_response("world");
    assert_eq!(assert_ready_ok!(fut.poll()), "world");
}

#[tokio::test(start_paused = true)]
async fn a_uniform_delay_is_the_one_reported_to_tokios_millisecond() {
    let hook = RecordingHook::new();
    let layer = ChaosLayer::builder()
        .seed(99)
        .latency_rate(1.0)
        .latency(Latency::uniform(10 * MS, 500 * MS))
        .hook(hook.clone())
        .build()
        .unwrap();
    let (inner, mut handle) = mock::pair::<u32, u32>();
    let mut svc = mock::Spawn::new(layer.layer(inner));
    handle.allow(1);
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(1));
    let delay = match hook.kinds()[..] {
        [EventKind::FaultInjected {
            fault: Fault::Latency(d),
        }] => d,
        ref other => panic!("{other:?}"),
    };
    assert!((10 * MS..=500 * MS).contains(&delay));

    // tokio's timers tick in whole milliseconds, rounding a deadline up.
    advance(delay - MS).await;
    assert_pending!(fut.poll());
    assert_pending!(handle.poll_request());
    advance(2 * MS).await;
    assert_pending!(fut.poll());
    let (_, respond) = assert_ready!(handle.poll_request()).unwrap();
    respond.send_response(2);
    assert_eq!(assert_ready_ok!(fut.poll()), 2);
}

#[tokio::test(start_paused = true)]
async fn a_delayed_error_waits_then_fails_without_calling_the_inner_service() {
    let layer = ChaosLayer::builder()
        .latency_rate(1.0)
        .latency(Latency::fixed(50 * MS))
        .error_rate(1.0)
        .build()
        .unwrap();
    let inner = Echo::default();
    let mut svc = layer.layer(inner.clone());
    let mut fut = task::spawn(svc.call(1));
    assert_pending!(fut.poll());
    advance(49 * MS).await;
    assert_pending!(fut.poll());
    advance(MS).await;
    assert!(assert_ready_err!(fut.poll()).is::<Injected>());
    assert_eq!(inner.calls(), 0);
}

/// Advances paused time to `at` after `start`.
async fn advance_to(start: Instant, at: Duration) {
    advance(at - start.elapsed()).await;
}

#[tokio::test(start_paused = true)]
async fn outage_windows_are_exact_and_the_inner_service_is_not_called_in_them() {
    let start = Instant::now();
    let layer = ChaosLayer::builder()
        .outage(Duration::from_secs(10), Duration::from_secs(20))
        .outage(Duration::from_secs(30), Duration::from_secs(31))
        .build()
        .unwrap();
    let inner = Echo::default();
    let mut svc = layer.layer(inner.clone());
    let nano = Duration::from_nanos(1);
    let schedule = [
        (Duration::ZERO, false),
        (Duration::from_secs(10) - nano, false),
        (Duration::from_secs(10), true),
        (Duration::from_secs(20) - nano, true),
        (Duration::from_secs(20), false),
        (Duration::from_secs(30), true),
        (Duration::from_secs(31) - nano, true),
        (Duration::from_secs(31), false),
        (Duration::from_secs(3600), false),
    ];
    let mut called = 0;
    for (n, (at, dark)) in (0..).zip(schedule) {
        advance_to(start, at).await;
        assert_eq!(layer.handle().in_outage(), dark, "at {at:?}");
        match call_now(&mut svc, n) {
            Poll::Ready(Err(e)) if dark => assert!(e.is::<Injected>()),
            Poll::Ready(Ok(answer)) if !dark => {
                assert_eq!(answer, n);
                called += 1;
            }
            other => panic!("at {at:?}, dark {dark}: {other:?}"),
        }
        assert_eq!(inner.calls(), called, "at {at:?}");
    }
    assert_eq!(layer.handle().stats().outages, 4);
}

#[tokio::test(start_paused = true)]
async fn windows_count_from_an_explicit_start() {
    let start = Instant::now() + Duration::from_secs(5);
    let layer = ChaosLayer::builder()
        .start_at(start)
        .outage(Duration::ZERO, Duration::from_secs(1))
        .build()
        .unwrap();
    let mut svc = layer.layer(Echo::default());
    assert!(matches!(call_now(&mut svc, 0), Poll::Ready(Ok(0))));
    advance(Duration::from_secs(5)).await;
    assert!(matches!(call_now(&mut svc, 1), Poll::Ready(Err(_))));
    advance(Duration::from_secs(1)).await;
    assert!(matches!(call_now(&mut svc, 2), Poll::Ready(Ok(2))));
}

#[tokio::test(start_paused = true)]
async fn an_outage_can_answer_with_the_chosen_response_and_skips_latency() {
    let hook = RecordingHook::new();
    let layer = ChaosLayer::builder()
        .response_with(|| 503)
        .outage_answer(OutageAnswer::Response)
        .outage(Duration::ZERO, Duration::from_secs(1))
        .latency_rate(1.0)
        .latency(Latency::fixed(Duration::from_secs(10)))
        .hook(hook.clone())
        .build()
        .unwrap();
    let inner = Echo::default();
    let mut svc = layer.layer(inner.clone());
    assert!(matches!(call_now(&mut svc, 7), Poll::Ready(Ok(503))));
    assert_eq!(inner.calls(), 0);
    assert_eq!(
        hook.kinds(),
        [EventKind::FaultInjected {
            fault: Fault::Outage
        }]
    );
}

#[tokio::test(start_paused = true)]
async fn poll_ready_forwards_the_inner_services_readiness_even_in_an_outage() {
    let layer = ChaosLayer::builder()
        .outage(Duration::ZERO, Duration::from_secs(60))
        .error_rate(1.0)
        .build()
        .unwrap();
    let (inner, mut handle) = mock::pair::<u32, u32>();
    let mut svc = mock::Spawn::new(layer.layer(inner));
    handle.allow(0);
    assert_pending!(svc.poll_ready());
    handle.allow(1);
    assert!(svc.is_woken());
    assert_ready_ok!(svc.poll_ready());
    handle.send_error("inner failed");
    let err = assert_ready_err!(svc.poll_ready());
    assert_eq!(err.to_string(), "inner failed");
}

#[tokio::test(start_paused = true)]
async fn an_injected_fault_leaves_the_inner_readiness_for_the_next_call() {
    let layer = ChaosLayer::builder().error_rate(1.0).build().unwrap();
    let (inner, mut handle) = mock::pair::<u32, u32>();
    let mut svc = mock::Spawn::new(layer.layer(inner));
    handle.allow(1);
    assert_ready_ok!(svc.poll_ready());
    assert_ready_err!(task::spawn(svc.call(1)).poll());
    assert_pending!(handle.poll_request());

    // Only one call was ever allowed, and it is still there to be made.
    layer.handle().set_error_rate(0.0).unwrap();
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(2));
    let (request, respond) = assert_ready!(handle.poll_request()).unwrap();
    assert_eq!(request, 2);
    respond.send_response(3);
    assert_eq!(assert_ready_ok!(fut.poll()), 3);
}

/// An inner service whose clones are counted through `live`.
#[derive(Clone)]
struct Tracked {
    live: Arc<()>,
    calls: Arc<AtomicUsize>,
}

impl Service<Arc<()>> for Tracked {
    type Response = ();
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<(), std::io::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Arc<()>) -> Self::Future {
        self.calls.fetch_add(1, Ordering::Relaxed);
        std::future::ready(Ok(()))
    }
}

#[tokio::test(start_paused = true)]
async fn dropping_a_delayed_call_releases_the_service_and_request_without_calling_it() {
    let layer = ChaosLayer::builder()
        .latency_rate(1.0)
        .latency(Latency::fixed(Duration::from_secs(1)))
        .build()
        .unwrap();
    let inner = Tracked {
        live: Arc::new(()),
        calls: Arc::new(AtomicUsize::new(0)),
    };
    let mut svc = layer.layer(inner.clone());
    assert_eq!(Arc::strong_count(&inner.live), 2);
    let request = Arc::new(());

    let mut fut = task::spawn(svc.call(request.clone()));
    assert_pending!(fut.poll());
    // The future holds the ready service and the request; the layer holds a fresh clone.
    assert_eq!(Arc::strong_count(&inner.live), 3);
    assert_eq!(Arc::strong_count(&request), 2);
    advance(Duration::from_millis(500)).await;
    drop(fut);

    assert_eq!(Arc::strong_count(&inner.live), 2);
    assert_eq!(Arc::strong_count(&request), 1);
    advance(Duration::from_secs(5)).await;
    assert_eq!(inner.calls.load(Ordering::Relaxed), 0);

    // The service is still usable: the next delayed call goes through.
    let mut fut = task::spawn(svc.call(request.clone()));
    advance(Duration::from_secs(1)).await;
    assert_ready_ok!(fut.poll());
    assert_eq!(inner.calls.load(Ordering::Relaxed), 1);
    drop(fut);
    assert_eq!(Arc::strong_count(&request), 1);
    assert_eq!(Arc::strong_count(&inner.live), 2);
}

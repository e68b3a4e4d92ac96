//! The handle's controls, one instance shared by every clone, and the events reported.

mod support;

use std::task::Poll;
use std::time::Duration;

use bulwark_chaos::{ChaosLayer, Latency};
use bulwark_policy::{EventKind, Fault};
use bulwark_test_support::RecordingHook;
use support::{call_now, Echo};
use tower::Layer;

fn is_err<T, E>(p: Poll<Result<T, E>>) -> bool {
    matches!(p, Poll::Ready(Err(_)))
}

#[test]
fn switching_off_and_on_takes_effect_at_the_next_call() {
    let layer = ChaosLayer::builder()
        .seed(1)
        .error_rate(1.0)
        .build()
        .unwrap();
    let handle = layer.handle();
    let inner = Echo::default();
    let mut svc = layer.layer(inner.clone());

    assert!(is_err(call_now(&mut svc, 0)));
    handle.disable();
    for n in 1..=10 {
        assert!(matches!(call_now(&mut svc, n), Poll::Ready(Ok(m)) if m == n));
    }
    handle.enable();
    assert!(is_err(call_now(&mut svc, 11)));

    let stats = handle.stats();
    assert_eq!(
        (stats.calls, stats.errors),
        (2, 2),
        "disabled calls are not counted"
    );
    assert_eq!(inner.calls(), 10);
}

#[test]
fn rate_changes_take_effect_at_the_next_call_and_nonsense_is_refused() {
    let layer = ChaosLayer::builder()
        .seed(2)
        .response_with(|| 503)
        .build()
        .unwrap();
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::default());

    assert!(matches!(call_now(&mut svc, 1), Poll::Ready(Ok(1))));
    handle.set_error_rate(1.0).unwrap();
    assert!(is_err(call_now(&mut svc, 2)));
    handle.set_error_rate(0.0).unwrap();
    handle.set_response_rate(1.0).unwrap();
    assert!(matches!(call_now(&mut svc, 3), Poll::Ready(Ok(503))));

    for bad in [-0.01, 1.01, f64::NAN] {
        assert_eq!(
            handle.set_response_rate(bad).unwrap_err().field(),
            "response_rate"
        );
        assert!(handle.set_error_rate(bad).is_err());
        assert!(handle.set_latency_rate(bad).is_err());
    }
    assert_eq!(handle.response_rate(), 1.0);
    assert_eq!(handle.error_rate(), 0.0);
    assert_eq!(handle.latency_rate(), 0.0);
    assert!(matches!(call_now(&mut svc, 4), Poll::Ready(Ok(503))));
}

#[tokio::test(start_paused = true)]
async fn latency_changes_take_effect_at_the_next_call() {
    let hook = RecordingHook::new();
    let layer = ChaosLayer::builder()
        .latency_rate(1.0)
        .latency(Latency::fixed(Duration::from_millis(10)))
        .hook(hook.clone())
        .build()
        .unwrap();
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::default());

    let _ = call_now(&mut svc, 1);
    handle
        .set_latency(Latency::fixed(Duration::from_millis(50)))
        .unwrap();
    let _ = call_now(&mut svc, 2);
    let bad = Latency::uniform(Duration::from_secs(1), Duration::ZERO);
    assert!(handle.set_latency(bad).is_err());
    handle.set_latency_rate(0.0).unwrap();
    assert!(matches!(call_now(&mut svc, 3), Poll::Ready(Ok(3))));

    let delay = |ms| EventKind::FaultInjected {
        fault: Fault::Latency(Duration::from_millis(ms)),
    };
    assert_eq!(hook.kinds(), [delay(10), delay(50)]);
    assert_eq!(handle.latency(), Latency::fixed(Duration::from_millis(50)));
}

#[test]
fn every_clone_and_every_wrapped_service_share_one_instance() {
    let layer = ChaosLayer::builder()
        .seed(4)
        .error_rate(1.0)
        .build()
        .unwrap();
    let clone = layer.clone();
    let mut a = layer.layer(Echo::default());
    let mut b = clone.layer(Echo::default());
    let mut c = b.clone();

    for svc in [&mut a, &mut b, &mut c] {
        assert!(is_err(call_now(svc, 0)));
    }
    assert_eq!(layer.handle().stats().errors, 3);

    // A handle from any of them reaches all of them.
    c.handle().disable();
    assert!(!layer.handle().is_enabled());
    for svc in [&mut a, &mut b, &mut c] {
        assert!(matches!(call_now(svc, 5), Poll::Ready(Ok(5))));
    }
    clone.handle().enable();
    clone.handle().set_error_rate(0.0).unwrap();
    assert_eq!(a.handle().error_rate(), 0.0);
    assert_eq!(b.handle().stats(), layer.handle().stats());
}

#[tokio::test(start_paused = true)]
async fn every_fault_is_reported_once_with_the_layers_name() {
    let hook = RecordingHook::new();
    let layer = ChaosLayer::builder()
        .name("replica-a")
        .hook(hook.clone())
        .response_with(|| 503)
        .outage(Duration::from_secs(10), Duration::from_secs(11))
        .build()
        .unwrap();
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::default());

    // No fault, no event.
    assert!(matches!(call_now(&mut svc, 1), Poll::Ready(Ok(1))));
    assert!(hook.events().is_empty());

    handle.set_error_rate(1.0).unwrap();
    let _ = call_now(&mut svc, 2);
    handle.set_error_rate(0.0).unwrap();
    handle.set_response_rate(1.0).unwrap();
    let _ = call_now(&mut svc, 3);
    handle.set_response_rate(0.0).unwrap();
    handle.set_latency_rate(1.0).unwrap();
    handle
        .set_latency(Latency::fixed(Duration::from_millis(5)))
        .unwrap();
    let _ = call_now(&mut svc, 4);
    tokio::time::advance(Duration::from_secs(10)).await;
    let _ = call_now(&mut svc, 5);

    let fault = |fault| EventKind::FaultInjected { fault };
    assert_eq!(
        hook.kinds(),
        [
            fault(Fault::Error),
            fault(Fault::Response),
            fault(Fault::Latency(Duration::from_millis(5))),
            fault(Fault::Outage),
        ]
    );
    assert!(hook
        .events()
        .iter()
        .all(|e| e.name == "replica-a" && e.key.is_none()));
    let stats = handle.stats();
    assert_eq!(
        (
            stats.calls,
            stats.errors,
            stats.responses,
            stats.delays,
            stats.outages
        ),
        (5, 1, 1, 1, 1)
    );
    assert_eq!(stats.injected(), 4);
}

#[test]
fn a_response_rate_needs_a_response() {
    let err = ChaosLayer::<u32>::builder()
        .response_rate(0.1)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "response_rate");
    let err = ChaosLayer::<u32>::builder()
        .outage_answer(bulwark_chaos::OutageAnswer::Response)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "outage_answer");
    let handle = ChaosLayer::<u32>::builder().build().unwrap().handle();
    assert!(handle.set_response_rate(0.5).is_err());
    assert_eq!(handle.response_rate(), 0.0);
}

#[test]
fn an_error_closure_of_the_inner_type_passes_inner_errors_through_unboxed() {
    use std::io;
    let layer = ChaosLayer::builder()
        .error_rate(1.0)
        .error_with(|| io::Error::new(io::ErrorKind::TimedOut, "injected"))
        .build()
        .unwrap();
    let mut svc = layer.layer(Echo::default());
    match call_now(&mut svc, 1) {
        Poll::Ready(Err(e)) => {
            let e: io::Error = e;
            assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn without_errors_the_error_type_is_free_and_errors_are_refused() {
    use std::convert::Infallible;
    use tower::{service_fn, ServiceExt};

    let inner = service_fn(|n: u32| async move { Ok::<u32, Infallible>(n) });
    let build = || {
        ChaosLayer::builder()
            .response_with(|| 503)
            .without_errors::<Infallible>()
    };
    assert_eq!(
        build().error_rate(0.1).build().unwrap_err().field(),
        "error_rate"
    );
    let dark = build().outage(Duration::ZERO, Duration::from_secs(1));
    assert_eq!(dark.build().unwrap_err().field(), "outage_answer");

    let layer = build()
        .outage(Duration::from_secs(1), Duration::from_secs(2))
        .outage_answer(bulwark_chaos::OutageAnswer::Response)
        .build()
        .unwrap();
    let handle = layer.handle();
    assert_eq!(
        handle.set_error_rate(0.5).unwrap_err().field(),
        "error_rate"
    );
    assert_eq!(handle.error_rate(), 0.0);

    let svc = layer.layer(inner);
    let answer: Result<u32, Infallible> = svc.clone().oneshot(1).await;
    assert_eq!(answer, Ok(1));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(svc.clone().oneshot(2).await, Ok(503));
    handle.set_response_rate(1.0).unwrap();
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(svc.oneshot(3).await, Ok(503));
    let stats = handle.stats();
    assert_eq!((stats.outages, stats.responses, stats.errors), (1, 1, 0));
}

#[test]
fn the_layer_service_future_and_handle_can_cross_threads() {
    use bulwark_chaos::{Chaos, ChaosHandle, ResponseFuture};

    fn send_sync<T: Send + Sync>() {}
    send_sync::<ChaosLayer<u32>>();
    send_sync::<Chaos<Echo, u32>>();
    send_sync::<ResponseFuture<Echo, u32, bulwark_chaos::BoxError>>();
    send_sync::<ChaosHandle>();
}

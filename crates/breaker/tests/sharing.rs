//! One layer is one breaker: clones made per request (as axum makes them) and services wrapped
//! separately all share it; and a clone never inherits readiness.

mod support;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use bulwark_breaker::{BreakerLayer, Rejected};
use bulwark_policy::{BoxError, BreakerState};
use support::mode;
use tower::{service_fn, Layer, Service, ServiceExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_per_request_share_one_breaker() {
    let layer = BreakerLayer::builder()
        .consecutive_failures(8)
        .build()
        .unwrap();
    let svc = layer.layer(service_fn(|fail: bool| async move {
        if fail {
            Err(BoxError::from("down"))
        } else {
            Ok(())
        }
    }));
    // Like axum: every request gets its own clone, on whatever worker picks it up.
    let tasks: Vec<_> = (0..8)
        .map(|_| tokio::spawn(svc.clone().oneshot(true)))
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().is_err());
    }
    assert_eq!(layer.handle().state(), BreakerState::Open);
    assert_eq!(layer.handle().snapshot().trips, 1);

    // A service wrapped separately by the same layer is behind the same, open, breaker.
    let other = layer.layer(service_fn(|()| async { Ok::<_, BoxError>(()) }));
    assert!(other.oneshot(()).await.unwrap_err().is::<Rejected>());
    assert!(svc.oneshot(false).await.unwrap_err().is::<Rejected>());
}

#[tokio::test]
async fn a_clone_starts_unready() {
    let layer = BreakerLayer::builder().build().unwrap();
    let mut svc = layer.layer(service_fn(|()| async { Ok::<_, BoxError>(()) }));
    svc.ready().await.unwrap();
    let mut clone = svc.clone();
    let called = catch_unwind(AssertUnwindSafe(|| drop(clone.call(()))));
    assert!(
        called.is_err(),
        "calling a clone that was never polled ready is refused"
    );
    svc.call(()).await.unwrap();
}

/// An idle clone that was polled ready and never called (axum and tonic make such clones) must
/// not keep the others out of half-open: `poll_ready` reserves no probe permit.
async fn an_idle_ready_clone_holds_no_probe_permit(backpressure: bool) {
    let layer = BreakerLayer::builder()
        .consecutive_failures(1)
        .open_for(bulwark_policy::Backoff::constant(Duration::from_secs(1)))
        .mode(mode(backpressure))
        .build()
        .unwrap();
    let svc = layer.layer(service_fn(|fail: bool| async move {
        if fail {
            Err(BoxError::from("down"))
        } else {
            Ok(())
        }
    }));
    assert!(svc.clone().oneshot(true).await.is_err());
    tokio::time::advance(Duration::from_secs(1)).await;
    let mut idle = svc.clone();
    idle.ready().await.unwrap();
    assert_eq!(layer.handle().state(), BreakerState::HalfOpen);
    svc.clone()
        .oneshot(false)
        .await
        .expect("the ready, idle clone holds no permit, so this probe goes");
    assert_eq!(layer.handle().state(), BreakerState::Closed);
    // The idle clone's readiness was never a reservation; it calls through the closed breaker.
    idle.call(false).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_idle_ready_clone_holds_no_probe_permit_fail_fast() {
    an_idle_ready_clone_holds_no_probe_permit(false).await;
}

#[tokio::test(start_paused = true)]
async fn an_idle_ready_clone_holds_no_probe_permit_backpressure() {
    an_idle_ready_clone_holds_no_probe_permit(true).await;
}

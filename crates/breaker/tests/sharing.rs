//! One layer is one breaker: clones made per request (as axum makes them) and services wrapped
//! separately all share it; and a clone never inherits readiness.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use bulwark_breaker::{BreakerLayer, Rejected};
use bulwark_policy::{BoxError, BreakerState};
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

#[tokio::test(start_paused = true)]
async fn a_ready_service_dropped_with_a_probe_permit_gives_it_back() {
    let layer = BreakerLayer::builder()
        .consecutive_failures(1)
        .open_for(bulwark_policy::Backoff::constant(Duration::from_secs(1)))
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
    let mut holder = svc.clone();
    holder.ready().await.unwrap();
    assert_eq!(layer.handle().state(), BreakerState::HalfOpen);
    assert!(
        svc.clone()
            .oneshot(false)
            .await
            .unwrap_err()
            .is::<Rejected>(),
        "the only permit is held"
    );
    drop(holder);
    svc.oneshot(false).await.unwrap();
    assert_eq!(layer.handle().state(), BreakerState::Closed);
}

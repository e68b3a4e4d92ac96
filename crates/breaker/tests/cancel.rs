//! A probe dropped at any point gives its permit back: the breaker is never stuck half-open.

mod support;

use std::time::Duration;

use bulwark_breaker::Breaker;
use bulwark_policy::{BreakerState, ErrorsAsFailures};
use support::*;
use tokio::time::advance;
use tokio_test::{assert_pending, assert_ready_ok, task};
use tower_test::mock;

/// Every point at which a probe can be abandoned.
#[derive(Debug, Clone, Copy)]
enum DropAt {
    /// `poll_ready` saw a free permit (and reserved none) but the inner service was not ready.
    InnerNotReady,
    /// Ready, then the service dropped without calling.
    ReadyNotCalled,
    /// Called, the future dropped before its first poll.
    CalledNotPolled,
    /// Polled while the inner call was pending.
    Pending,
    /// The inner service answered but the future was dropped before seeing it.
    AnsweredNotSeen,
}

async fn abandon_a_probe(at: DropAt, backpressure: bool) {
    let layer = builder(1)
        .consecutive_failures(1)
        .half_open_probes(1)
        .mode(mode(backpressure))
        .build()
        .unwrap();
    let handle = layer.handle();
    let (mut svc, mut mock) = mock::spawn_layer(layer);
    assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());
    advance(Duration::from_secs(1)).await;

    let mut probe = mock::Spawn::new(svc.get_ref().clone());
    // A waiter that must be woken when the permit comes back (backpressure only).
    let mut waiter: mock::Spawn<Breaker<Mock, ErrorsAsFailures>> =
        mock::Spawn::new(svc.get_ref().clone());
    match at {
        DropAt::InnerNotReady => {
            mock.allow(0);
            assert_pending!(probe.poll_ready());
            mock.allow(u64::MAX);
        }
        _ => assert_ready_ok!(probe.poll_ready()),
    }
    assert_eq!(handle.state(), BreakerState::HalfOpen);
    // `poll_ready` reserves nothing: the permit is taken by `call`.
    let mut fut = match at {
        DropAt::InnerNotReady | DropAt::ReadyNotCalled => None,
        _ => Some(task::spawn(probe.call("req"))),
    };
    let waits = backpressure && fut.is_some();
    if waits {
        assert_pending!(waiter.poll_ready());
    }
    match (at, fut.as_mut()) {
        (DropAt::Pending, Some(fut)) => assert_pending!(fut.poll()),
        (DropAt::AnsweredNotSeen, Some(fut)) => {
            assert_pending!(fut.poll());
            mock.next_request().await.unwrap().1.send_response("ok");
        }
        _ => {}
    }
    drop(fut);
    drop(probe);
    assert_eq!(
        handle.state(),
        BreakerState::HalfOpen,
        "{at:?}: a cancellation counts for nothing"
    );
    if waits {
        assert!(
            waiter.is_woken(),
            "{at:?}: the freed permit woke the waiter"
        );
    }
    // The permit is back: the next probe is admitted, reaches the inner service, and closes.
    if matches!(at, DropAt::CalledNotPolled | DropAt::Pending) {
        // The abandoned request reached the mock; take it out of the way.
        let _ = mock.next_request().await;
    }
    assert!(roundtrip(&mut svc, &mut mock, true).await.is_ok(), "{at:?}");
    assert_eq!(handle.state(), BreakerState::Closed, "{at:?}");
}

#[tokio::test(start_paused = true)]
async fn dropping_a_probe_anywhere_returns_its_permit() {
    for at in [
        DropAt::InnerNotReady,
        DropAt::ReadyNotCalled,
        DropAt::CalledNotPolled,
        DropAt::Pending,
        DropAt::AnsweredNotSeen,
    ] {
        abandon_a_probe(at, false).await;
    }
}

#[tokio::test(start_paused = true)]
async fn dropping_a_probe_anywhere_wakes_a_backpressured_waiter() {
    for at in [
        DropAt::InnerNotReady,
        DropAt::ReadyNotCalled,
        DropAt::CalledNotPolled,
        DropAt::Pending,
        DropAt::AnsweredNotSeen,
    ] {
        abandon_a_probe(at, true).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_hook_that_panics_while_a_probe_finishes_loses_no_permit() {
    use std::future::Future;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::Arc;
    use std::task::{Context, Waker};

    use bulwark_policy::{BoxError, Event, EventKind, FnHook};
    use tower::{service_fn, Layer, Service, ServiceExt};

    let panicking = Arc::new(AtomicBool::new(false));
    let flag = panicking.clone();
    let hook = FnHook::new(move |e: &Event<'_>| {
        if flag.load(SeqCst) && matches!(e.kind(), EventKind::BreakerCall { .. }) {
            panic!("a hook that fails");
        }
    });
    let layer = builder(1)
        .consecutive_failures(1)
        .hook(hook)
        .build()
        .unwrap();
    let svc = layer.layer(service_fn(|ok: bool| async move {
        if ok {
            Ok(())
        } else {
            Err(BoxError::from("down"))
        }
    }));
    assert!(svc.clone().oneshot(false).await.is_err());
    advance(Duration::from_secs(1)).await;

    let mut probe = svc.clone();
    probe.ready().await.unwrap();
    let mut fut = Box::pin(probe.call(true));
    panicking.store(true, SeqCst);
    let polled = catch_unwind(AssertUnwindSafe(|| {
        let _ = fut.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    }));
    assert!(polled.is_err());
    panicking.store(false, SeqCst);
    // The future that panicked is dropped, as an unwinding task drops it: a cancellation.
    drop(fut);

    assert_eq!(layer.handle().state(), BreakerState::HalfOpen);
    svc.oneshot(true)
        .await
        .expect("the permit came back, so this probe is admitted");
    assert_eq!(layer.handle().state(), BreakerState::Closed);
}

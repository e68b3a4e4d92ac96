//! The standby-service story, Fallback(Breaker(primary)) under paused time:
//!
//! 1. a primary behind a breaker, with a fallback that forwards to a standby service;
//! 2. the primary fails until its breaker opens, the standby answering each failure;
//! 3. while the breaker is open the standby answers everything, and no call reaches the primary;
//! 4. once the open period is over, a probe reaches the primary;
//! 5. the primary has recovered, the breaker closes, and traffic returns to the primary.

use std::time::Duration;

use bulwark_breaker::BreakerLayer;
use bulwark_fallback::FallbackLayer;
use bulwark_policy::{Backoff, BoxError, BreakerState, EventKind, FailureKind};
use bulwark_test_support::RecordingHook;
use tokio_test::{assert_pending, assert_ready_ok, task};
use tower::Layer;
use tower_test::assert_request_eq;
use tower_test::mock::{self, Handle, Spawn};

const OPEN_FOR: Duration = Duration::from_secs(30);

/// Sends `path` through `svc`, lets the primary answer with `primary`, or checks that it never
/// saw the request when `primary` is `None`; lets the standby echo whatever reaches it.
async fn call<S>(
    svc: &mut Spawn<S>,
    primary: &mut Handle<String, String>,
    standby: &mut Handle<String, String>,
    path: &str,
    answer: Option<Result<&str, &str>>,
) -> String
where
    S: tower::Service<String, Response = String, Error = BoxError>,
{
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(path.to_owned()));
    match answer {
        Some(answer) => {
            assert_pending!(fut.poll(), "waiting for the primary");
            let respond = assert_request_eq!(primary, path);
            match answer {
                Ok(body) => respond.send_response(body.to_owned()),
                Err(err) => respond.send_error(err),
            }
        }
        None => assert_pending!(primary.poll_request(), "the primary must see no call"),
    }
    if let std::task::Poll::Ready(result) = fut.poll() {
        return result.expect("every call is answered");
    }
    let respond = assert_request_eq!(standby, path);
    respond.send_response(format!("standby {path}"));
    let served = fut.await.expect("the standby answers");
    if answer.is_none() {
        assert_pending!(primary.poll_request(), "the primary must see no call");
    }
    served
}

#[tokio::test(start_paused = true)]
async fn the_standby_serves_while_the_breaker_is_open_and_traffic_returns_on_recovery() {
    let fallbacks = RecordingHook::new();
    let transitions = RecordingHook::new();
    let (primary, mut primary_handle) = mock::pair::<String, String>();
    let (standby, mut standby_handle) = mock::pair::<String, String>();

    // 1. Fallback(Breaker(primary)), with a standby service behind the fallback.
    let breaker = BreakerLayer::builder()
        .consecutive_failures(3)
        .open_for(Backoff::constant(OPEN_FOR))
        .half_open_probes(1)
        .half_open_successes(1)
        .name("users-primary")
        .hook(transitions.clone())
        .build()
        .unwrap();
    let handle = breaker.handle();
    let fallback = FallbackLayer::service(standby)
        .name("users-standby")
        .hook(fallbacks.clone());
    let mut svc = Spawn::new(fallback.layer(breaker.layer(primary)));
    let (p, s) = (&mut primary_handle, &mut standby_handle);

    let served = call(&mut svc, p, s, "/users/1", Some(Ok("primary /users/1"))).await;
    assert_eq!(served, "primary /users/1");
    assert!(fallbacks.events().is_empty());

    // 2. The primary fails; each failure is answered by the standby, until the breaker opens.
    for n in 2..=4 {
        let path = format!("/users/{n}");
        assert_eq!(handle.state(), BreakerState::Closed);
        let served = call(&mut svc, p, s, &path, Some(Err("connection refused"))).await;
        assert_eq!(served, format!("standby {path}"));
    }
    assert_eq!(handle.state(), BreakerState::Open);
    assert_eq!(
        fallbacks.count(
            |k| matches!(k, EventKind::FallbackUsed { reason } if reason.kind == FailureKind::Error)
        ),
        3
    );

    // 3. While it is open, the standby answers everything and the primary sees nothing.
    for n in 5..=9 {
        let path = format!("/users/{n}");
        assert_eq!(
            call(&mut svc, p, s, &path, None).await,
            format!("standby {path}")
        );
        tokio::time::advance(Duration::from_secs(5)).await;
    }
    assert_eq!(
        handle.state(),
        BreakerState::Open,
        "25s into a 30s open period"
    );
    assert_eq!(fallbacks.count(|k| matches!(k, EventKind::FallbackUsed { reason } if reason.kind == FailureKind::Rejected)), 5);

    // 4. The open period is over: the next call is a probe, and it reaches the primary.
    tokio::time::advance(Duration::from_secs(5)).await;
    let served = call(&mut svc, p, s, "/users/10", Some(Ok("primary /users/10"))).await;
    // 5. The primary has recovered: the probe closed the breaker, and traffic stays with it.
    assert_eq!(served, "primary /users/10");
    assert_eq!(handle.state(), BreakerState::Closed);
    for n in 11..=13 {
        let path = format!("/users/{n}");
        let body = format!("primary {path}");
        assert_eq!(call(&mut svc, p, s, &path, Some(Ok(&body))).await, body);
    }
    assert_pending!(standby_handle.poll_request(), "the standby is idle again");
    assert_eq!(
        fallbacks.count(|k| matches!(k, EventKind::FallbackUsed { .. })),
        8,
        "3 failures + 5 rejections"
    );

    let states: Vec<_> = transitions
        .kinds()
        .into_iter()
        .filter_map(|k| match k {
            EventKind::BreakerTransition { to, .. } => Some(to),
            _ => None,
        })
        .collect();
    assert_eq!(
        states,
        [
            BreakerState::Open,
            BreakerState::HalfOpen,
            BreakerState::Closed
        ]
    );
}

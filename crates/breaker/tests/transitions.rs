//! Every transition, driven through a tower-test mock on a paused clock, with each intermediate
//! `Pending` and `Ready` asserted.

mod support;

use std::time::Duration;

use bulwark_breaker::BreakerLayer;
use bulwark_policy::{Backoff, BreakerState, EventKind, Jitter, Outcome};
use bulwark_test_support::RecordingHook;
use support::*;
use tokio::time::advance;
use tokio_test::{assert_pending, assert_ready, assert_ready_err, assert_ready_ok, task};
use tower_test::mock;

#[tokio::test(start_paused = true)]
async fn closed_open_half_open_closed() {
    let hook = RecordingHook::new();
    let layer = builder(10)
        .consecutive_failures(2)
        .name("up")
        .hook(hook.clone())
        .build()
        .unwrap();
    let handle = layer.handle();
    let (mut svc, mut mock) = mock::spawn_layer(layer);

    assert!(roundtrip(&mut svc, &mut mock, true).await.is_ok());
    assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());
    assert_eq!(handle.state(), BreakerState::Closed);
    assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());
    assert_eq!(handle.state(), BreakerState::Open);

    // Open and fail-fast: the inner service is not ready, and is never asked.
    mock.allow(0);
    assert_eq!(
        rejected(&mut svc, &mut mock).retry_after(),
        Some(Duration::from_secs(10))
    );
    advance(Duration::from_secs(10) - Duration::from_millis(1)).await;
    assert_eq!(
        rejected(&mut svc, &mut mock).retry_after(),
        Some(Duration::from_millis(1))
    );

    // The open period ends at its deadline: the next poll_ready admits a probe and now asks
    // the inner service, which is not ready yet.
    advance(Duration::from_millis(1)).await;
    assert_pending!(svc.poll_ready());
    assert_eq!(handle.state(), BreakerState::HalfOpen);
    mock.allow(1);
    assert!(svc.is_woken());
    assert_ready_ok!(svc.poll_ready());
    let mut probe = task::spawn(svc.call("req"));
    assert_pending!(probe.poll());
    let (_, send) = mock.next_request().await.unwrap();

    // The single permit is taken: another clone is refused without a retry_after.
    let mut other = mock::Spawn::new(svc.get_ref().clone());
    mock.allow(1);
    assert_ready_ok!(other.poll_ready());
    assert_eq!(rejected_call(&mut other, &mut mock).retry_after(), None);

    send.send_response("ok");
    assert_ready_ok!(probe.poll());
    assert_eq!(handle.state(), BreakerState::Closed);
    assert_eq!(
        transitions(&hook),
        [
            (BreakerState::Closed, BreakerState::Open),
            (BreakerState::Open, BreakerState::HalfOpen),
            (BreakerState::HalfOpen, BreakerState::Closed),
        ]
    );
    assert!(hook
        .events()
        .iter()
        .all(|e| e.name == "up" && e.key.is_none()));
    assert_eq!(
        hook.count(|k| matches!(k, EventKind::BreakerRejected { .. })),
        3
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_reopens_for_longer_and_closing_resets_the_period() {
    let open_for = Backoff::exponential(Duration::from_secs(10))
        .max_delay(Duration::from_secs(60))
        .jitter(Jitter::None);
    let layer = BreakerLayer::builder()
        .consecutive_failures(1)
        .open_for(open_for)
        .build()
        .unwrap();
    let handle = layer.handle();
    let (mut svc, mut mock) = mock::spawn_layer(layer);

    assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());
    assert_eq!(
        rejected(&mut svc, &mut mock).retry_after(),
        Some(Duration::from_secs(10))
    );
    advance(Duration::from_secs(10)).await;
    assert!(
        roundtrip(&mut svc, &mut mock, false).await.is_err(),
        "the probe fails"
    );
    assert_eq!(handle.state(), BreakerState::Open);
    assert_eq!(handle.snapshot().trips, 2);
    assert_eq!(
        rejected(&mut svc, &mut mock).retry_after(),
        Some(Duration::from_secs(20))
    );
    advance(Duration::from_secs(20)).await;
    assert!(
        roundtrip(&mut svc, &mut mock, true).await.is_ok(),
        "the probe succeeds"
    );
    assert_eq!(handle.state(), BreakerState::Closed);
    assert_eq!(handle.snapshot().trips, 0);

    assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());
    assert_eq!(
        rejected(&mut svc, &mut mock).retry_after(),
        Some(Duration::from_secs(10))
    );
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_n_probes_and_closes_after_k_successes() {
    let layer = builder(5)
        .consecutive_failures(1)
        .half_open_probes(2)
        .half_open_successes(3)
        .build()
        .unwrap();
    let handle = layer.handle();
    let (mut svc, mut mock) = mock::spawn_layer(layer);
    assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());
    advance(Duration::from_secs(5)).await;

    let (mut a, send_a) = start(&mut svc, &mut mock).await;
    let (mut b, send_b) = start(&mut svc, &mut mock).await;
    assert_eq!(
        rejected(&mut svc, &mut mock).retry_after(),
        None,
        "a third probe waits"
    );
    send_a.send_response("ok");
    assert_ready_ok!(a.poll());
    assert_eq!(
        handle.state(),
        BreakerState::HalfOpen,
        "one success of three"
    );
    let (mut c, send_c) = start(&mut svc, &mut mock).await;
    send_b.send_response("ok");
    assert_ready_ok!(b.poll());
    assert_eq!(handle.state(), BreakerState::HalfOpen);
    send_c.send_response("ok");
    assert_ready_ok!(c.poll());
    assert_eq!(handle.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn an_ignored_probe_gives_its_permit_back_without_counting() {
    let classify = |r: &Result<&'static str, bulwark_policy::BoxError>| match r {
        Ok("ignore") => Outcome::Ignore,
        Ok(_) => Outcome::Success,
        Err(e) => Outcome::Failure(bulwark_policy::classify_error(e)),
    };
    let layer = builder(5)
        .consecutive_failures(1)
        .classify(classify)
        .build()
        .unwrap();
    let handle = layer.handle();
    let (mut svc, mut mock) = mock::spawn_layer::<&'static str, &'static str, _>(layer);
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call("req"));
    assert_pending!(fut.poll());
    mock.next_request().await.unwrap().1.send_error("boom");
    assert_ready_err!(fut.poll());
    advance(Duration::from_secs(5)).await;

    assert_ready_ok!(svc.poll_ready());
    let mut probe = task::spawn(svc.call("req"));
    assert_pending!(probe.poll());
    mock.next_request().await.unwrap().1.send_response("ignore");
    assert_ready_ok!(probe.poll());
    assert_eq!(
        handle.state(),
        BreakerState::HalfOpen,
        "an ignored probe neither closes nor re-opens"
    );

    assert_ready_ok!(svc.poll_ready());
    let mut probe = task::spawn(svc.call("req"));
    assert_pending!(
        probe.poll(),
        "the permit came back, so this is a probe, not a rejection"
    );
    mock.next_request().await.unwrap().1.send_response("ok");
    assert_ready_ok!(probe.poll());
    assert_eq!(handle.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn half_open_max_wait_reopens() {
    let layer = builder(5)
        .consecutive_failures(1)
        .half_open_max_wait(Duration::from_secs(3))
        .build()
        .unwrap();
    let handle = layer.handle();
    let (mut svc, mut mock) = mock::spawn_layer(layer);
    assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());
    advance(Duration::from_secs(5)).await;
    let (mut probe, send) = start(&mut svc, &mut mock).await;
    advance(Duration::from_secs(2)).await;
    assert_eq!(rejected(&mut svc, &mut mock).retry_after(), None);
    advance(Duration::from_secs(1)).await;
    assert_eq!(
        rejected(&mut svc, &mut mock).retry_after(),
        Some(Duration::from_secs(5))
    );
    assert_eq!(handle.state(), BreakerState::Open);
    // The stuck probe finally answers: it belongs to the old half-open and changes nothing.
    send.send_response("ok");
    assert_ready_ok!(probe.poll());
    assert_eq!(handle.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn a_call_admitted_while_closed_that_finishes_after_opening_does_not_count() {
    let layer = builder(5).consecutive_failures(1).build().unwrap();
    let handle = layer.handle();
    let (mut svc, mut mock) = mock::spawn_layer(layer);
    let (mut slow, send_slow) = start(&mut svc, &mut mock).await;
    assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());
    assert_eq!(handle.state(), BreakerState::Open);
    advance(Duration::from_secs(5)).await;
    assert_ready_ok!(svc.poll_ready());
    assert_eq!(handle.state(), BreakerState::HalfOpen);
    // A success from before the trip must not close it: only a probe can.
    send_slow.send_response("ok");
    assert_ready_ok!(slow.poll());
    assert_eq!(handle.state(), BreakerState::HalfOpen);
}

#[tokio::test(start_paused = true)]
async fn backpressure_waits_while_open_and_wakes_at_half_open() {
    let layer = builder(10)
        .consecutive_failures(1)
        .backpressure()
        .build()
        .unwrap();
    let handle = layer.handle();
    let (mut svc, mut mock) = mock::spawn_layer(layer);
    assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());

    assert_pending!(svc.poll_ready());
    assert!(!svc.is_woken());
    advance(Duration::from_secs(9)).await;
    assert!(!svc.is_woken());
    assert_pending!(svc.poll_ready());
    advance(Duration::from_secs(1)).await;
    tokio::task::yield_now().await;
    assert!(
        svc.is_woken(),
        "the sleep to the open deadline woke the task"
    );
    let (mut probe, send) = start(&mut svc, &mut mock).await;
    assert_eq!(handle.state(), BreakerState::HalfOpen);

    // All permits taken: a clone waits, and is woken when the permit comes back.
    let mut other = mock::Spawn::new(svc.get_ref().clone());
    assert_pending!(other.poll_ready());
    drop(send);
    let _ = assert_ready!(probe.poll());
    assert!(other.is_woken());
    assert_eq!(
        handle.state(),
        BreakerState::Open,
        "the probe failed: the mock's sender was dropped"
    );

    // Forced open waits with no deadline; a reset wakes it.
    handle.force_open();
    assert_pending!(other.poll_ready());
    handle.reset();
    assert!(other.is_woken());
    assert_ready_ok!(other.poll_ready());
}

#[tokio::test(start_paused = true)]
async fn forced_states_disable_and_metrics_only() {
    let hook = RecordingHook::new();
    let layer = builder(5)
        .consecutive_failures(1)
        .hook(hook.clone())
        .build()
        .unwrap();
    let handle = layer.handle();
    let mut changes = handle.subscribe();
    let (mut svc, mut mock) = mock::spawn_layer(layer);

    handle.force_open();
    assert_eq!(rejected(&mut svc, &mut mock).retry_after(), None);
    assert!(changes.has_changed().unwrap());
    assert_eq!(*changes.borrow_and_update(), BreakerState::ForcedOpen);

    handle.force_closed();
    assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());
    assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());
    assert_eq!(handle.state(), BreakerState::ForcedClosed);
    assert_eq!(
        handle.snapshot().consecutive_failures,
        0,
        "forced closed records nothing"
    );

    handle.metrics_only();
    assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());
    assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());
    assert_eq!(handle.state(), BreakerState::MetricsOnly);
    assert_eq!(
        handle.snapshot().consecutive_failures,
        2,
        "metrics-only records but never trips"
    );

    handle.disable();
    hook.clear();
    assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());
    assert!(hook.events().is_empty(), "disabled sends no event");

    handle.reset();
    assert_eq!(handle.snapshot().consecutive_failures, 0);
    assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());
    assert_eq!(handle.state(), BreakerState::Open);
    assert_eq!(*changes.borrow_and_update(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn events_carry_outcomes_durations_and_rejections() {
    let hook = RecordingHook::new();
    let layer = builder(7)
        .consecutive_failures(1)
        .hook(hook.clone())
        .build()
        .unwrap();
    let (mut svc, mut mock) = mock::spawn_layer(layer);
    let (mut fut, send) = start(&mut svc, &mut mock).await;
    advance(Duration::from_secs(3)).await;
    send.send_error("boom");
    assert_ready_err!(fut.poll());
    rejected(&mut svc, &mut mock);
    let kinds = hook.kinds();
    assert!(matches!(
        kinds[0],
        EventKind::BreakerCall { outcome: Outcome::Failure(_), duration } if duration == Duration::from_secs(3)
    ));
    assert_eq!(
        kinds[1],
        EventKind::BreakerTransition {
            from: BreakerState::Closed,
            to: BreakerState::Open
        }
    );
    assert_eq!(
        kinds[2],
        EventKind::BreakerRejected {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    assert_eq!(kinds.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn reconfigure_takes_effect_on_running_services() {
    let layer = builder(5).consecutive_failures(5).build().unwrap();
    let handle = layer.handle();
    let (mut svc, mut mock) = mock::spawn_layer(layer);
    assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());
    assert_eq!(handle.snapshot().consecutive_failures, 1);
    let config = bulwark_breaker::BreakerConfig {
        consecutive_failures: Some(2),
        ..handle.config()
    };
    handle.reconfigure(config).unwrap();
    assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());
    assert_eq!(
        handle.state(),
        BreakerState::Open,
        "the count carried over and met the new limit"
    );
    assert_eq!(handle.config().consecutive_failures, Some(2));
}

#[tokio::test(start_paused = true)]
async fn a_slow_probe_reopens() {
    let layer = builder(5)
        .consecutive_failures(1)
        .slow_calls(Duration::from_secs(1), 1.0)
        .count_window(10)
        .build()
        .unwrap();
    let handle = layer.handle();
    let (mut svc, mut mock) = mock::spawn_layer(layer);
    assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());
    advance(Duration::from_secs(5)).await;
    let (mut probe, send) = start(&mut svc, &mut mock).await;
    advance(Duration::from_secs(2)).await;
    send.send_response("ok");
    assert_ready_ok!(probe.poll(), "the caller still gets its answer");
    assert_eq!(
        handle.state(),
        BreakerState::Open,
        "a success slower than the threshold is a failed probe"
    );
}

#[tokio::test(start_paused = true)]
async fn a_jittered_open_period_is_seeded_and_within_its_bounds() {
    let open_for = Backoff::constant(Duration::from_secs(10)).jitter(Jitter::Proportional(0.5));
    let mut seen = Vec::new();
    for _ in 0..2 {
        let layer = BreakerLayer::builder()
            .consecutive_failures(1)
            .open_for(open_for.clone())
            .seed(42)
            .build()
            .unwrap();
        let (mut svc, mut mock) = mock::spawn_layer(layer);
        assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());
        let open = rejected(&mut svc, &mut mock).retry_after().unwrap();
        assert!(
            open >= Duration::from_secs(5) && open <= Duration::from_secs(15),
            "{open:?}"
        );
        seen.push(open);
    }
    assert_eq!(seen[0], seen[1], "the same seed gives the same open period");
}

#[tokio::test(start_paused = true)]
async fn the_probe_permit_is_taken_in_call_and_a_lost_race_is_rejected() {
    for backpressure in [false, true] {
        let layer = builder(5)
            .consecutive_failures(1)
            .mode(mode(backpressure))
            .build()
            .unwrap();
        let handle = layer.handle();
        let (mut svc, mut mock) = mock::spawn_layer(layer);
        assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());
        advance(Duration::from_secs(5)).await;

        // Both see the one permit free, in either mode.
        let mut a = mock::Spawn::new(svc.get_ref().clone());
        let mut b = mock::Spawn::new(svc.get_ref().clone());
        assert_ready_ok!(a.poll_ready());
        assert_ready_ok!(b.poll_ready());
        assert_eq!(handle.state(), BreakerState::HalfOpen);
        // The first to call takes it; the second lost the race and is refused at once.
        let mut probe = task::spawn(a.call("req"));
        assert_pending!(probe.poll());
        let (_, send) = mock.next_request().await.unwrap();
        assert_eq!(
            rejected_call(&mut b, &mut mock).retry_after(),
            None,
            "backpressure {backpressure}"
        );
        send.send_response("ok");
        assert_ready_ok!(probe.poll());
        assert_eq!(handle.state(), BreakerState::Closed);
    }
}

#[tokio::test(start_paused = true)]
async fn an_admission_from_poll_ready_does_not_survive_a_trip() {
    let layer = builder(5).consecutive_failures(1).build().unwrap();
    let handle = layer.handle();
    let (mut svc, mut mock) = mock::spawn_layer(layer);
    let mut early = mock::Spawn::new(svc.get_ref().clone());
    assert_ready_ok!(early.poll_ready(), "admitted while closed");
    assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());
    assert_eq!(handle.state(), BreakerState::Open);
    // The breaker opened before the call, so it is refused without reaching the inner service.
    assert_eq!(
        rejected_call(&mut early, &mut mock).retry_after(),
        Some(Duration::from_secs(5))
    );
}

#[tokio::test(start_paused = true)]
async fn backpressure_waits_again_when_the_breaker_opens_before_the_inner_service_is_ready() {
    let layer = builder(5)
        .consecutive_failures(1)
        .backpressure()
        .build()
        .unwrap();
    let (mut svc, mut mock) = mock::spawn_layer(layer);
    let mut early = mock::Spawn::new(svc.get_ref().clone());
    mock.allow(0);
    assert_pending!(early.poll_ready(), "the inner service is not ready");
    mock.allow(1);
    assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());
    mock.allow(u64::MAX);
    assert_pending!(
        early.poll_ready(),
        "the breaker opened meanwhile: it waits for the breaker, not the inner service"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refusal_from_poll_ready_is_decided_again_in_call() {
    let layer = builder(5).consecutive_failures(1).build().unwrap();
    let handle = layer.handle();
    let (mut svc, mut mock) = mock::spawn_layer(layer);
    assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());

    // Refused in poll_ready, then the breaker closes before the call: the call goes through.
    let mut late = mock::Spawn::new(svc.get_ref().clone());
    assert_ready_ok!(late.poll_ready());
    handle.reset();
    let mut fut = task::spawn(late.call("req"));
    assert_pending!(fut.poll());
    let (req, send) = mock.next_request().await.expect("the call was sent");
    assert_eq!(req, "req");
    send.send_response("ok");
    assert_ready_ok!(fut.poll());

    // The same, but the inner service, never polled while the breaker refused, is not ready
    // when asked in `call`: the call is refused after all, and nothing is sent.
    assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());
    let mut late = mock::Spawn::new(svc.get_ref().clone());
    assert_ready_ok!(late.poll_ready());
    handle.reset();
    mock.allow(0);
    assert_eq!(
        rejected_call(&mut late, &mut mock).retry_after(),
        None,
        "the open period seen in poll_ready is over: no wait to name"
    );

    // And a probe permit taken for such a call is given back when it is refused.
    mock.allow(1);
    assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());
    let mut late = mock::Spawn::new(svc.get_ref().clone());
    assert_ready_ok!(late.poll_ready(), "refused: open");
    advance(Duration::from_secs(5)).await;
    mock.allow(0);
    rejected_call(&mut late, &mut mock);
    assert_eq!(handle.state(), BreakerState::HalfOpen);
    mock.allow(u64::MAX);
    assert!(
        roundtrip(&mut svc, &mut mock, true).await.is_ok(),
        "the permit came back, so this probe goes"
    );
    assert_eq!(handle.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_reconfiguration_during_half_open_keeps_the_probe_permit_accounting() {
    for finish in [false, true] {
        let layer = builder(5).consecutive_failures(1).build().unwrap();
        let handle = layer.handle();
        let (mut svc, mut mock) = mock::spawn_layer(layer);
        assert!(roundtrip(&mut svc, &mut mock, false).await.is_err());
        advance(Duration::from_secs(5)).await;
        let (mut probe, send) = start(&mut svc, &mut mock).await;
        assert_eq!(handle.state(), BreakerState::HalfOpen);

        let config = bulwark_breaker::BreakerConfig {
            half_open_successes: 2,
            ..handle.config()
        };
        handle.reconfigure(config).unwrap();
        assert_eq!(
            rejected(&mut svc, &mut mock).retry_after(),
            None,
            "the probe started before the reconfiguration still holds the one permit"
        );
        if finish {
            send.send_response("ok");
            assert_ready_ok!(probe.poll());
            assert_eq!(
                handle.state(),
                BreakerState::HalfOpen,
                "one success of the two the new config needs"
            );
        } else {
            drop(probe);
            drop(send);
        }
        // The permit came back: another probe goes, and closes the breaker in either case
        // once the successes the new config asks for are in.
        assert!(
            roundtrip(&mut svc, &mut mock, true).await.is_ok(),
            "{finish}"
        );
        if !finish {
            assert_eq!(handle.state(), BreakerState::HalfOpen);
            assert!(roundtrip(&mut svc, &mut mock, true).await.is_ok());
        }
        assert_eq!(handle.state(), BreakerState::Closed, "finish {finish}");
    }
}

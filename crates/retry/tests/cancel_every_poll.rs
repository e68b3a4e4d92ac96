//! Cancellation after every poll: the response future of a retry is driven under paused time
//! and dropped after poll 0, 1, 2, … until it finishes on its own; after each drop nothing is
//! left behind, and nothing more happens once time moves on.
//!
//! Checked after every drop: no copy of the request is alive; no upstream call is still in
//! flight; every upstream permit is back; the budget and the layer's shared state have the
//! reference counts they had before the call; the budget was charged only for retries decided
//! (one token per retry, never refunded, never charged again); and a further second of time
//! sends nothing and charges nothing.

use std::sync::Arc;
use std::time::Duration;

use bulwark_policy::{Backoff, IgnoreDeadline, RetryBudget};
use bulwark_retry::RetryLayer;
use bulwark_test_support::cancel::{assert_no_copies, drive, Tracked, Upstream};
use tower::{Layer, Service, ServiceExt};

/// One scenario: a layer, an upstream, and what a finished call returns.
struct Case {
    max_attempts: u32,
    fail_first: usize,
    latency: Duration,
    backoff: Duration,
    limit: usize,
    /// When another caller takes every permit, and for how long it keeps them.
    busy: Option<(Duration, Duration)>,
}

async fn check(case: &Case) {
    let mut finished_after = None;
    for stop in 0.. {
        let budget = Arc::new(RetryBudget::new(Duration::from_secs(60), 1, 0.0).unwrap());
        let layer = RetryLayer::builder()
            .max_attempts(case.max_attempts)
            .backoff(Backoff::constant(case.backoff))
            .budget(budget.clone())
            .deadline(IgnoreDeadline)
            .build()
            .unwrap();
        let upstream = Upstream::new(case.limit, case.fail_first, case.latency);
        let shared = upstream.shared().clone();
        let mut svc = layer.layer(upstream.clone());
        let live = Arc::new(());
        let tokens = budget.available();
        let budget_refs = Arc::strong_count(&budget);
        let shared_refs = Arc::strong_count(&shared);
        // Another caller takes every permit for a while, so a retry waits for readiness.
        let hog = case.busy.map(|(at, hold)| upstream.hog(at, hold));

        ServiceExt::<Tracked>::ready(&mut svc).await.unwrap();
        let fut = svc.call(Tracked(live.clone()));
        let (polls, out) = drive(fut, stop).await;
        if let Some(out) = &out {
            finished_after.get_or_insert(polls);
            let want_ok = case.fail_first < case.max_attempts as usize;
            assert_eq!(
                out.is_ok(),
                want_ok,
                "the finished call's result: {:?}",
                out.as_ref().err()
            );
        }
        // Let the other caller finish, and anything left over have a chance to misbehave.
        tokio::time::advance(Duration::from_millis(200)).await;
        if let Some(hog) = hog {
            hog.await.unwrap();
        }

        let calls = shared.calls();
        let charged = tokens - budget.available();
        assert_no_copies(&live, stop);
        shared.assert_idle("the upstream", stop);
        assert_eq!(
            Arc::strong_count(&budget),
            budget_refs,
            "the budget's count (stop {stop})"
        );
        drop(svc);
        drop(upstream);
        assert_eq!(
            Arc::strong_count(&shared),
            shared_refs - 2,
            "the upstream's shared state (stop {stop})"
        );
        // One token per retry decided: the retries sent, plus one decided and not yet sent.
        let retries_sent = calls.saturating_sub(1) as u64;
        assert!(
            charged == retries_sent || charged == retries_sent + 1,
            "charged {charged} for {calls} calls (stop {stop})"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            shared.calls(),
            calls,
            "a call was sent after the drop (stop {stop})"
        );
        assert_eq!(
            tokens - budget.available(),
            charged,
            "charged after the drop (stop {stop})"
        );
        if out.is_some() {
            break;
        }
    }
    assert!(
        finished_after.is_some_and(|n| n > 2),
        "the scenario should take several polls"
    );
}

#[tokio::test(start_paused = true)]
async fn dropped_after_any_poll_of_a_call_that_succeeds_on_the_third_attempt() {
    check(&Case {
        max_attempts: 3,
        fail_first: 2,
        latency: Duration::from_millis(20),
        backoff: Duration::from_millis(30),
        limit: 1,
        busy: None,
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn dropped_after_any_poll_of_a_call_that_runs_out_of_attempts() {
    check(&Case {
        max_attempts: 3,
        fail_first: 10,
        latency: Duration::from_millis(12),
        backoff: Duration::from_millis(7),
        limit: 2,
        busy: None,
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn dropped_after_any_poll_while_retries_wait_for_a_permit() {
    check(&Case {
        max_attempts: 4,
        fail_first: 2,
        latency: Duration::from_millis(10),
        backoff: Duration::from_millis(5),
        limit: 1,
        busy: Some((Duration::from_millis(12), Duration::from_millis(40))),
    })
    .await;
}

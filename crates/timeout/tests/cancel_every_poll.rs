//! Cancellation after every poll: a timeout's response future (alone, and as a total timeout
//! around a retry) is driven under paused time and dropped after poll 0, 1, 2, … until it
//! finishes on its own, by answering or by elapsing.
//!
//! Checked after every drop: no copy of the request is alive; no upstream call is still in
//! flight; every permit is back; shared state (the upstream's, the retry budget) has the
//! reference count it had before the call; and a further second of time sends nothing more.

use std::sync::Arc;
use std::time::Duration;

use bulwark_policy::{Backoff, RetryBudget};
use bulwark_retry::RetryLayer;
use bulwark_test_support::cancel::{assert_no_copies, drive, Tracked, Upstream};
use bulwark_timeout::{Elapsed, TimeoutLayer};
use tower::{Layer, Service, ServiceExt};

type Req = http::Request<Tracked>;

/// Drops the future after every poll in turn; `make` builds a fresh service over a fresh
/// upstream each time, and `finished` checks the result of the run that was not dropped.
async fn check<S, M>(make: M, finished: impl Fn(&Result<S::Response, S::Error>))
where
    S: Service<Req>,
    M: Fn(Upstream) -> S,
{
    for stop in 0.. {
        let upstream = Upstream::new(1, 2, Duration::from_millis(30));
        let shared = upstream.shared().clone();
        let refs = Arc::strong_count(&shared);
        let mut svc = make(upstream);
        let live = Arc::new(());
        svc.ready().await.ok().unwrap();
        let (polls, out) = drive(svc.call(http::Request::new(Tracked(live.clone()))), stop).await;
        tokio::time::advance(Duration::from_millis(200)).await;
        let calls = shared.calls();
        assert_no_copies(&live, stop);
        shared.assert_idle("the upstream", stop);
        drop(svc);
        assert_eq!(
            Arc::strong_count(&shared),
            refs - 1,
            "the upstream's state (stop {stop})"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(shared.calls(), calls, "sent after the drop (stop {stop})");
        if let Some(out) = out {
            assert!(polls > 2, "the scenario should take several polls");
            finished(&out);
            break;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn dropped_after_any_poll_of_a_call_that_times_out() {
    check(
        |up| TimeoutLayer::new(Duration::from_millis(25)).layer(up),
        |out| assert!(out.as_ref().unwrap_err().is::<Elapsed>()),
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn dropped_after_any_poll_of_a_call_that_answers_in_time() {
    check(
        |up| TimeoutLayer::new(Duration::from_millis(40)).layer(up),
        |out| assert_eq!(out.as_ref().unwrap_err().to_string(), "unavailable"),
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn dropped_after_any_poll_of_a_total_timeout_around_retries_and_a_per_attempt_timeout() {
    let budget = Arc::new(RetryBudget::new(Duration::from_secs(60), 10, 0.2).unwrap());
    let refs = Arc::strong_count(&budget);
    let make = |up: Upstream| {
        let retry = RetryLayer::builder()
            .max_attempts(4)
            .backoff(Backoff::constant(Duration::from_millis(10)))
            .budget(budget.clone())
            .build()
            .unwrap();
        let per_attempt = TimeoutLayer::new(Duration::from_millis(35));
        TimeoutLayer::new(Duration::from_millis(150)).layer(retry.layer(per_attempt.layer(up)))
    };
    // Two failures, then an answer: 30 + 10 + 30 + 10 + 30 ms, inside the total timeout.
    check(make, |out| assert_eq!(*out.as_ref().unwrap(), "ok")).await;
    assert_eq!(
        Arc::strong_count(&budget),
        refs,
        "every service and future let the budget go"
    );
}

#[tokio::test(start_paused = true)]
async fn dropped_after_any_poll_of_a_total_timeout_that_cuts_the_retries_short() {
    let make = |up: Upstream| {
        let retry = RetryLayer::builder()
            .max_attempts(10)
            .backoff(Backoff::constant(Duration::from_millis(10)))
            .build()
            .unwrap();
        TimeoutLayer::new(Duration::from_millis(60)).layer(retry.layer(up))
    };
    // The retry sees the deadline the total timeout put on the request and does not start an
    // attempt that cannot finish before it: the last real failure comes back.
    check(make, |out| {
        assert_eq!(out.as_ref().unwrap_err().to_string(), "unavailable")
    })
    .await;
}

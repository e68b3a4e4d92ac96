//! Cancellation after every poll: a balanced call (alone, and behind a retry) is driven under
//! paused time and dropped after poll 0, 1, 2, … until it finishes on its own.
//!
//! Checked after every drop: every endpoint's pending count is back to zero; no upstream call
//! is in flight; every endpoint permit is back; no copy of the request is alive; the shared
//! state has the reference counts it had before; a cancelled call ejects nobody (only a
//! finished failure counts); and a further second of time sends nothing more.

use std::sync::Arc;
use std::time::Duration;

use bulwark_balance::{Balance, BalanceLayer, OutlierDetection};
use bulwark_policy::{Backoff, IgnoreDeadline, RetryBudget};
use bulwark_retry::RetryLayer;
use bulwark_test_support::cancel::{assert_no_copies, drive, Shared, Tracked, Upstream};
use tower::{Layer, Service, ServiceExt};

struct Pool {
    lb: Balance<&'static str, Upstream>,
    shared: Vec<Arc<Shared>>,
}

/// Three endpoints of one permit each: `a` always fails after 20 ms, `b` and `c` answer after
/// 20 ms and 35 ms. One failure ejects.
fn pool(seed: u64) -> Pool {
    let eps = [("a", 100, 20), ("b", 0, 20), ("c", 0, 35)]
        .map(|(k, fail, ms)| (k, Upstream::new(1, fail, Duration::from_millis(ms))));
    let shared = eps.iter().map(|(_, u)| u.shared().clone()).collect();
    let outlier = OutlierDetection::builder()
        .consecutive_failures(Some(1))
        .max_ejection_percent(100.0)
        .panic_threshold(0.0)
        .build()
        .unwrap();
    let lb = BalanceLayer::builder()
        .outlier_detection(outlier)
        .seed(seed)
        .build()
        .endpoints(eps);
    Pool { lb, shared }
}

impl Pool {
    fn calls(&self) -> usize {
        self.shared.iter().map(|s| s.calls()).sum()
    }

    fn assert_released(&self, stop: usize) {
        for e in self.lb.handle().endpoints() {
            assert_eq!(
                e.pending, 0,
                "{} still counts a pending call (stop {stop})",
                e.key
            );
        }
        for s in &self.shared {
            s.assert_idle("an endpoint", stop);
        }
    }

    /// After a dropped or finished call: everything is released, no copy of the request is
    /// left, and a further second sends nothing more. Returns the calls made.
    async fn assert_quiet(&self, live: &Arc<()>, stop: usize) -> usize {
        self.assert_released(stop);
        assert_no_copies(live, stop);
        let calls = self.calls();
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            self.calls(),
            calls,
            "a call was sent after the drop (stop {stop})"
        );
        calls
    }

    fn ejected(&self) -> usize {
        self.lb
            .handle()
            .endpoints()
            .iter()
            .filter(|e| e.ejected)
            .count()
    }
}

#[tokio::test(start_paused = true)]
async fn dropped_after_any_poll_of_a_balanced_call() {
    for seed in 0..6 {
        for stop in 0.. {
            let mut pool = pool(seed);
            let refs: Vec<_> = pool.shared.iter().map(Arc::strong_count).collect();
            let live = Arc::new(());
            ServiceExt::<Tracked>::ready(&mut pool.lb).await.unwrap();
            let (polls, out) = drive(pool.lb.call(Tracked(live.clone())), stop).await;
            tokio::time::advance(Duration::from_millis(100)).await;
            let calls = pool.assert_quiet(&live, stop).await;
            assert!(calls <= 1);
            // Only a finished failure is counted against an endpoint (an ejection lasts 30 s).
            let failed = out.as_ref().is_some_and(|o| o.is_err());
            assert_eq!(
                pool.ejected(),
                usize::from(failed),
                "stop {stop}: {:?}",
                pool.lb.handle().endpoints()
            );
            let handle = pool.lb.handle();
            drop(pool.lb);
            drop(handle);
            let now: Vec<_> = pool.shared.iter().map(Arc::strong_count).collect();
            assert!(
                now.iter().zip(&refs).all(|(n, r)| n < r),
                "the balancer let its endpoints go: {now:?} {refs:?}"
            );
            if out.is_some() {
                assert!(polls > 2);
                break;
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn dropped_after_any_poll_of_a_retry_over_the_balancer() {
    for seed in 0..6 {
        for stop in 0.. {
            let pool = pool(seed);
            let budget = Arc::new(RetryBudget::new(Duration::from_secs(60), 10, 0.2).unwrap());
            let budget_refs = Arc::strong_count(&budget);
            let retry = RetryLayer::builder()
                .max_attempts(3)
                .backoff(Backoff::constant(Duration::from_millis(10)))
                .budget(budget.clone())
                .deadline(IgnoreDeadline)
                .build()
                .unwrap();
            let mut svc = retry.layer(pool.lb.clone());
            let live = Arc::new(());
            ServiceExt::<Tracked>::ready(&mut svc).await.unwrap();
            let (polls, out) = drive(svc.call(Tracked(live.clone())), stop).await;
            tokio::time::advance(Duration::from_millis(100)).await;
            pool.assert_quiet(&live, stop).await;
            drop((svc, retry));
            assert_eq!(Arc::strong_count(&budget), budget_refs, "stop {stop}");
            if let Some(out) = out {
                assert!(polls > 2);
                // Where `a` was tried, it failed and was ejected at once, and a retry went to
                // `b` or `c`.
                assert_eq!(out.unwrap(), "ok");
                assert_eq!(pool.ejected(), usize::from(pool.shared[0].calls() > 0));
                break;
            }
        }
    }
}

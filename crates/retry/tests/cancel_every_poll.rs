//! Cancellation after every poll: the response future of a retry is driven under paused time
//! and dropped after poll 0, 1, 2, … until it finishes on its own; after each drop nothing is
//! left behind, and nothing more happens once time moves on.
//!
//! Checked after every drop: no copy of the request is alive; no upstream call is still in
//! flight; every upstream permit is back; the budget and the layer's shared state have the
//! reference counts they had before the call; the budget was charged only for retries decided
//! (one token per retry, never refunded, never charged again); and a further second of time
//! sends nothing and charges nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bulwark_policy::{Backoff, BoxError, IgnoreDeadline, RetryBudget};
use bulwark_retry::RetryLayer;
use tokio_test::task;
use tower::{Layer, Service, ServiceExt};

const STEP: Duration = Duration::from_millis(5);

/// A request whose live copies are counted through the `Arc` they share.
#[derive(Debug, Clone)]
struct Tracked(#[allow(dead_code)] Arc<()>);

/// An upstream with `limit` permits, taken in `poll_ready` and held by the call it pays for;
/// each call takes `latency`, and the first `fail_first` calls fail.
struct Shared {
    limit: usize,
    in_use: AtomicUsize,
    calls: AtomicUsize,
    fail_first: usize,
    latency: Duration,
    /// Cloned into every call in flight.
    in_flight: Arc<()>,
    wakers: Mutex<Vec<Waker>>,
}

struct Permit(Arc<Shared>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.in_use.fetch_sub(1, Ordering::SeqCst);
        for w in self.0.wakers.lock().unwrap().drain(..) {
            w.wake();
        }
    }
}

struct Upstream {
    shared: Arc<Shared>,
    permit: Option<Permit>,
}

impl Clone for Upstream {
    /// A clone starts without a permit, as tower's `ConcurrencyLimit` does.
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            permit: None,
        }
    }
}

impl Upstream {
    fn new(limit: usize, fail_first: usize, latency: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                limit,
                in_use: AtomicUsize::new(0),
                calls: AtomicUsize::new(0),
                fail_first,
                latency,
                in_flight: Arc::new(()),
                wakers: Mutex::new(Vec::new()),
            }),
            permit: None,
        }
    }
}

impl Service<Tracked> for Upstream {
    type Response = &'static str;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<&'static str, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if self.permit.is_some() {
            return Poll::Ready(Ok(()));
        }
        let s = &self.shared;
        let taken = s
            .in_use
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < s.limit).then_some(n + 1)
            });
        if taken.is_ok() {
            self.permit = Some(Permit(s.clone()));
            Poll::Ready(Ok(()))
        } else {
            s.wakers.lock().unwrap().push(cx.waker().clone());
            Poll::Pending
        }
    }

    fn call(&mut self, req: Tracked) -> Self::Future {
        let permit = self.permit.take().expect("poll_ready first");
        let n = self.shared.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let fail = n <= self.shared.fail_first;
        let latency = self.shared.latency;
        let in_flight = self.shared.in_flight.clone();
        Box::pin(async move {
            let _held = (permit, in_flight, req);
            tokio::time::sleep(latency).await;
            if fail {
                Err("unavailable".into())
            } else {
                Ok("ok")
            }
        })
    }
}

/// Polls `fut` until it finishes, or drops it after `stop` polls; moves the paused clock by
/// `STEP` after every pending poll. The output, or `None` when it was dropped.
async fn drive<F: Future>(fut: F, stop: usize) -> (usize, Option<F::Output>) {
    let mut fut = task::spawn(fut);
    for polls in 0.. {
        if polls == stop {
            return (polls, None);
        }
        if let Poll::Ready(out) = fut.poll() {
            return (polls + 1, Some(out));
        }
        tokio::time::advance(STEP).await;
    }
    unreachable!()
}

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
        let shared = upstream.shared.clone();
        let mut svc = layer.layer(upstream.clone());
        let live = Arc::new(());
        let tokens = budget.available();
        let budget_refs = Arc::strong_count(&budget);
        let shared_refs = Arc::strong_count(&shared);
        // Another caller takes every permit for a while, so a retry waits for readiness.
        let hog = case.busy.map(|(at, hold)| {
            let (upstream, limit) = (upstream.clone(), case.limit);
            tokio::spawn(async move {
                tokio::time::sleep(at).await;
                let mut held = Vec::new();
                for _ in 0..limit {
                    let mut clone = upstream.clone();
                    clone.ready().await.unwrap();
                    held.push(clone);
                }
                tokio::time::sleep(hold).await;
            })
        });

        svc.ready().await.unwrap();
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

        let calls = shared.calls.load(Ordering::SeqCst);
        let charged = tokens - budget.available();
        assert_eq!(
            Arc::strong_count(&live),
            1,
            "a request copy outlived the future (stop {stop})"
        );
        assert_eq!(
            Arc::strong_count(&shared.in_flight),
            1,
            "an upstream call is still in flight (stop {stop})"
        );
        assert_eq!(
            shared.in_use.load(Ordering::SeqCst),
            0,
            "a permit was not given back (stop {stop})"
        );
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
            shared.calls.load(Ordering::SeqCst),
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

//! Cancellation after every poll: a timeout's response future (alone, and as a total timeout
//! around a retry) is driven under paused time and dropped after poll 0, 1, 2, … until it
//! finishes on its own, by answering or by elapsing.
//!
//! Checked after every drop: no copy of the request is alive; no upstream call is still in
//! flight; every permit is back; shared state (the upstream's, the retry budget) has the
//! reference count it had before the call; and a further second of time sends nothing more.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bulwark_policy::{Backoff, BoxError, RetryBudget};
use bulwark_retry::RetryLayer;
use bulwark_timeout::{Elapsed, TimeoutLayer};
use tokio_test::task;
use tower::{Layer, Service, ServiceExt};

/// A request whose live copies are counted through the `Arc` they share.
#[derive(Debug, Clone)]
struct Tracked(#[allow(dead_code)] Arc<()>);

type Req = http::Request<Tracked>;

const STEP: Duration = Duration::from_millis(5);

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

impl Service<Req> for Upstream {
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

    fn call(&mut self, req: Req) -> Self::Future {
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

/// Drops the future after every poll in turn; `make` builds a fresh service over a fresh
/// upstream each time, and `finished` checks the result of the run that was not dropped.
async fn check<S, M>(make: M, finished: impl Fn(&Result<S::Response, S::Error>))
where
    S: Service<Req>,
    M: Fn(Upstream) -> S,
{
    for stop in 0.. {
        let upstream = Upstream::new(1, 2, Duration::from_millis(30));
        let shared = upstream.shared.clone();
        let refs = Arc::strong_count(&shared);
        let mut svc = make(upstream);
        let live = Arc::new(());
        svc.ready().await.ok().unwrap();
        let (polls, out) = drive(svc.call(http::Request::new(Tracked(live.clone()))), stop).await;
        tokio::time::advance(Duration::from_millis(200)).await;
        let calls = shared.calls.load(Ordering::SeqCst);
        assert_eq!(
            Arc::strong_count(&live),
            1,
            "a request copy outlived the future (stop {stop})"
        );
        assert_eq!(
            Arc::strong_count(&shared.in_flight),
            1,
            "a call is in flight (stop {stop})"
        );
        assert_eq!(
            shared.in_use.load(Ordering::SeqCst),
            0,
            "a permit is held (stop {stop})"
        );
        drop(svc);
        assert_eq!(
            Arc::strong_count(&shared),
            refs - 1,
            "the upstream's state (stop {stop})"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            shared.calls.load(Ordering::SeqCst),
            calls,
            "sent after the drop (stop {stop})"
        );
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

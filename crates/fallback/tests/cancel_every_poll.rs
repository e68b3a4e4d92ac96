//! Cancellation after every poll: a fallback's response future is driven under paused time
//! and dropped after poll 0, 1, 2, … until it finishes on its own, through the primary's
//! call, the wait for the backup's readiness, the backup's call and a `from_fn` future.
//!
//! Checked after every drop: no copy of the request is alive; no call to the primary or the
//! backup is still in flight; every permit of both is back; their shared state has the
//! reference count it had before the call; and a further second of time sends nothing more.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bulwark_fallback::FallbackLayer;
use bulwark_policy::BoxError;
use tokio_test::task;
use tower::{Layer, Service, ServiceExt};

/// A request whose live copies are counted through the `Arc` they share.
#[derive(Debug, Clone)]
struct Tracked(#[allow(dead_code)] Arc<()>);

type Req = Tracked;

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

/// Another caller takes every permit of `upstream` at `at` and keeps them for `hold`.
fn hog(upstream: &Upstream, at: Duration, hold: Duration) -> tokio::task::JoinHandle<()> {
    let upstream = upstream.clone();
    tokio::spawn(async move {
        tokio::time::sleep(at).await;
        let mut held = Vec::new();
        for _ in 0..upstream.shared.limit {
            let mut clone = upstream.clone();
            clone.ready().await.unwrap();
            held.push(clone);
        }
        tokio::time::sleep(hold).await;
    })
}

struct Case {
    primary_fails: bool,
    backup_fails: bool,
    /// When another caller takes the backup's permits, and for how long.
    backup_busy: Option<(Duration, Duration)>,
}

async fn check_service(case: &Case) {
    let mut finished = false;
    for stop in 0.. {
        let primary = Upstream::new(
            1,
            usize::from(case.primary_fails) * 100,
            Duration::from_millis(20),
        );
        let backup = Upstream::new(
            1,
            usize::from(case.backup_fails) * 100,
            Duration::from_millis(15),
        );
        let (p, b) = (primary.shared.clone(), backup.shared.clone());
        let mut svc = FallbackLayer::service(backup.clone()).layer(primary.clone());
        let live = Arc::new(());
        let (p_refs, b_refs) = (Arc::strong_count(&p), Arc::strong_count(&b));
        let hog = case.backup_busy.map(|(at, hold)| hog(&backup, at, hold));

        svc.ready().await.unwrap();
        let (polls, out) = drive(svc.call(Tracked(live.clone())), stop).await;
        if let Some(out) = &out {
            finished = true;
            assert!(polls > 2, "the scenario should take several polls");
            let want_ok = !case.primary_fails || !case.backup_fails;
            assert_eq!(out.is_ok(), want_ok, "{:?}", out.as_ref().err());
        }
        tokio::time::advance(Duration::from_millis(200)).await;
        if let Some(hog) = hog {
            hog.await.unwrap();
        }
        let calls = (
            p.calls.load(Ordering::SeqCst),
            b.calls.load(Ordering::SeqCst),
        );
        assert_eq!(
            Arc::strong_count(&live),
            1,
            "a request copy outlived the future (stop {stop})"
        );
        for (name, s) in [("primary", &p), ("backup", &b)] {
            assert_eq!(
                Arc::strong_count(&s.in_flight),
                1,
                "a {name} call is in flight (stop {stop})"
            );
            assert_eq!(
                s.in_use.load(Ordering::SeqCst),
                0,
                "a {name} permit is held (stop {stop})"
            );
        }
        drop(svc);
        drop((primary, backup));
        assert_eq!(
            Arc::strong_count(&p),
            p_refs - 2,
            "the primary's state (stop {stop})"
        );
        assert_eq!(
            Arc::strong_count(&b),
            b_refs - 2,
            "the backup's state (stop {stop})"
        );
        assert!(calls.0 <= 1 && calls.1 <= 1, "{calls:?}");
        tokio::time::advance(Duration::from_secs(1)).await;
        let after = (
            p.calls.load(Ordering::SeqCst),
            b.calls.load(Ordering::SeqCst),
        );
        assert_eq!(after, calls, "a call was sent after the drop (stop {stop})");
        if finished {
            break;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn dropped_after_any_poll_while_the_backup_answers() {
    check_service(&Case {
        primary_fails: true,
        backup_fails: false,
        backup_busy: None,
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn dropped_after_any_poll_when_both_fail() {
    check_service(&Case {
        primary_fails: true,
        backup_fails: true,
        backup_busy: None,
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn dropped_after_any_poll_while_the_backup_is_busy() {
    let busy = Some((Duration::from_millis(10), Duration::from_millis(30)));
    check_service(&Case {
        primary_fails: true,
        backup_fails: false,
        backup_busy: busy,
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn dropped_after_any_poll_of_a_call_the_primary_answers() {
    check_service(&Case {
        primary_fails: false,
        backup_fails: false,
        backup_busy: None,
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn dropped_after_any_poll_of_a_from_fn_fallback() {
    for stop in 0.. {
        let primary = Upstream::new(1, 100, Duration::from_millis(20));
        let p = primary.shared.clone();
        let held = Arc::new(());
        let in_fn = held.clone();
        let mut svc = FallbackLayer::from_fn(move |_: Result<&'static str, BoxError>| {
            let guard = in_fn.clone();
            async move {
                let _guard = guard;
                tokio::time::sleep(Duration::from_millis(25)).await;
                Ok::<_, BoxError>("from cache")
            }
        })
        .layer(primary);
        let live = Arc::new(());
        svc.ready().await.unwrap();
        let (polls, out) = drive(svc.call(Tracked(live.clone())), stop).await;
        tokio::time::advance(Duration::from_millis(200)).await;
        assert_eq!(Arc::strong_count(&live), 1, "stop {stop}");
        assert_eq!(Arc::strong_count(&p.in_flight), 1, "stop {stop}");
        assert_eq!(p.in_use.load(Ordering::SeqCst), 0, "stop {stop}");
        assert_eq!(
            Arc::strong_count(&held),
            2,
            "the fallback's future was dropped (stop {stop})"
        );
        if let Some(out) = out {
            assert!(polls > 2);
            assert_eq!(out.unwrap(), "from cache");
            break;
        }
    }
}

//! A harness for cancellation after every poll: a response future is driven under paused
//! time and dropped after poll 0, 1, 2, … until it finishes on its own; after each drop the
//! test checks that nothing was left behind.
//!
//! - [`Tracked`] is a request whose live copies are counted through the `Arc` they share.
//! - [`Upstream`] is a service with a few permits, taken in `poll_ready` and held by the call
//!   they pay for; it counts its calls and the calls in flight ([`Shared`]).
//! - [`drive`] polls a future until it finishes or a given number of polls has been made,
//!   moving the paused clock by [`STEP`] after every pending poll.
//! - [`Upstream::hog`] has another caller take every permit for a while.
//!
//! Behind the cargo feature `cancel`; the tests need tokio's `test-util` (paused time).
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use bulwark_test_support::cancel::{assert_no_copies, drive, Tracked, Upstream};
//! use tower_service::Service;
//!
//! # let rt = tokio::runtime::Builder::new_current_thread()
//! #     .enable_time()
//! #     .start_paused(true)
//! #     .build()
//! #     .unwrap();
//! # rt.block_on(async {
//! for stop in 0.. {
//!     // One permit; the first call fails; every call takes 20 ms.
//!     let mut upstream = Upstream::new(1, 1, Duration::from_millis(20));
//!     let shared = upstream.shared().clone();
//!     let live = Arc::new(());
//!     std::future::poll_fn(|cx| Service::<Tracked>::poll_ready(&mut upstream, cx))
//!         .await
//!         .unwrap();
//!     let (polls, out) = drive(upstream.call(Tracked(live.clone())), stop).await;
//!     assert_no_copies(&live, stop);
//!     shared.assert_idle("the upstream", stop);
//!     if let Some(out) = out {
//!         assert!(polls > 1);
//!         assert_eq!(out.unwrap_err().to_string(), "unavailable");
//!         break;
//!     }
//! }
//! # });
//! ```

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bulwark_policy::BoxError;
use tower_service::Service;

/// How far [`drive`] moves the paused clock after every pending poll: 5 ms.
pub const STEP: Duration = Duration::from_millis(5);

/// A request whose live copies are counted through the `Arc` they share: keep one clone of
/// the `Arc`, and once every copy of the request is gone its strong count is back to 1.
///
/// ```
/// use std::sync::Arc;
///
/// use bulwark_test_support::cancel::Tracked;
///
/// let live = Arc::new(());
/// let request = Tracked(live.clone());
/// let copy = request.clone();
/// assert_eq!(Arc::strong_count(&live), 3);
/// drop((request, copy));
/// assert_eq!(Arc::strong_count(&live), 1);
/// ```
#[derive(Debug, Clone)]
pub struct Tracked(pub Arc<()>);

/// Asserts that no copy of a [`Tracked`] request made from `live` is left: the strong count
/// is back to 1. `stop` names the poll after which the future was dropped.
///
/// ```
/// use std::sync::Arc;
///
/// use bulwark_test_support::cancel::{assert_no_copies, Tracked};
///
/// let live = Arc::new(());
/// drop(Tracked(live.clone()));
/// assert_no_copies(&live, 0);
/// ```
///
/// # Panics
///
/// If a copy is still alive.
pub fn assert_no_copies(live: &Arc<()>, stop: usize) {
    assert_eq!(
        Arc::strong_count(live),
        1,
        "a request copy outlived the future (stop {stop})"
    );
}

/// The state an [`Upstream`] and its clones share: the permits, the calls made and the calls
/// in flight.
///
/// ```
/// use std::time::Duration;
///
/// use bulwark_test_support::cancel::Upstream;
///
/// let upstream = Upstream::new(2, 0, Duration::from_millis(10));
/// let shared = upstream.shared();
/// assert_eq!(shared.limit(), 2);
/// assert_eq!((shared.calls(), shared.in_flight(), shared.permits_in_use()), (0, 0, 0));
/// shared.assert_idle("the upstream", 0);
/// ```
#[derive(Debug)]
pub struct Shared {
    limit: usize,
    in_use: AtomicUsize,
    calls: AtomicUsize,
    fail_first: usize,
    latency: Duration,
    /// Cloned into every call in flight.
    in_flight: Arc<()>,
    wakers: Mutex<Vec<Waker>>,
}

impl Shared {
    /// How many permits there are.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How many calls have been made so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// How many calls are still in flight: their futures are alive.
    pub fn in_flight(&self) -> usize {
        Arc::strong_count(&self.in_flight) - 1
    }

    /// How many permits are taken, by a ready clone or a call in flight.
    pub fn permits_in_use(&self) -> usize {
        self.in_use.load(Ordering::SeqCst)
    }

    /// Asserts that no call to the upstream `what` is in flight and that every permit is
    /// back; a failure names `what` and the `stop` (the poll after which the future was
    /// dropped).
    pub fn assert_idle(&self, what: impl Display, stop: usize) {
        assert_eq!(
            self.in_flight(),
            0,
            "a call to {what} is still in flight (stop {stop})"
        );
        assert_eq!(
            self.permits_in_use(),
            0,
            "a permit of {what} was not given back (stop {stop})"
        );
    }
}

/// A permit, held by a ready [`Upstream`] or by the call it pays for; dropping it gives it
/// back and wakes whoever waits for one.
#[derive(Debug)]
struct Permit(Arc<Shared>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.in_use.fetch_sub(1, Ordering::SeqCst);
        let wakers =
            std::mem::take(&mut *self.0.wakers.lock().unwrap_or_else(PoisonError::into_inner));
        for w in wakers {
            w.wake();
        }
    }
}

/// An upstream with `limit` permits, taken in `poll_ready` and held by the call it pays for;
/// each call takes `latency` (a tokio sleep), answers `"ok"`, and the first `fail_first`
/// calls fail with `"unavailable"` instead. Every call holds its request until it finishes.
///
/// A clone shares the permits and the counts, and starts without a permit, as tower's
/// `ConcurrencyLimit` does.
///
/// ```
/// use std::time::Duration;
///
/// use bulwark_test_support::cancel::Upstream;
/// use tower_service::Service;
///
/// # let rt = tokio::runtime::Builder::new_current_thread()
/// #     .enable_time()
/// #     .start_paused(true)
/// #     .build()
/// #     .unwrap();
/// # rt.block_on(async {
/// let mut upstream = Upstream::new(1, 1, Duration::from_millis(30));
/// let mut other = upstream.clone();
/// std::future::poll_fn(|cx| Service::<()>::poll_ready(&mut upstream, cx)).await.unwrap();
/// // The only permit is taken: the clone waits.
/// let waker = std::task::Waker::noop();
/// let mut cx = std::task::Context::from_waker(&waker);
/// assert!(Service::<()>::poll_ready(&mut other, &mut cx).is_pending());
/// assert!(upstream.call(()).await.is_err());
/// assert!(Service::<()>::poll_ready(&mut other, &mut cx).is_ready());
/// assert_eq!(other.call(()).await.unwrap(), "ok");
/// assert_eq!(upstream.shared().calls(), 2);
/// # });
/// ```
#[derive(Debug)]
pub struct Upstream {
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
    /// An upstream with `limit` permits whose calls take `latency`, the first `fail_first`
    /// of them failing.
    pub fn new(limit: usize, fail_first: usize, latency: Duration) -> Self {
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

    /// The state this upstream shares with its clones; its `Arc` count shows who still holds
    /// the upstream.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Another caller takes every permit at `at` from now and keeps them for `hold`, so that
    /// a call (or a retry) in that time waits for readiness. Needs a tokio runtime; await the
    /// handle to see the other caller finish.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use bulwark_test_support::cancel::Upstream;
    ///
    /// # let rt = tokio::runtime::Builder::new_current_thread()
    /// #     .enable_time()
    /// #     .start_paused(true)
    /// #     .build()
    /// #     .unwrap();
    /// # rt.block_on(async {
    /// let upstream = Upstream::new(2, 0, Duration::from_millis(10));
    /// let hog = upstream.hog(Duration::from_millis(5), Duration::from_millis(20));
    /// tokio::time::sleep(Duration::from_millis(10)).await;
    /// assert_eq!(upstream.shared().permits_in_use(), 2);
    /// hog.await.unwrap();
    /// assert_eq!(upstream.shared().permits_in_use(), 0);
    /// # });
    /// ```
    pub fn hog(&self, at: Duration, hold: Duration) -> tokio::task::JoinHandle<()> {
        let upstream = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(at).await;
            let mut held = Vec::new();
            for _ in 0..upstream.shared.limit {
                let mut clone = upstream.clone();
                std::future::poll_fn(|cx| clone.take_permit(cx))
                    .await
                    .expect("the upstream is always ready once a permit is free");
                held.push(clone);
            }
            tokio::time::sleep(hold).await;
        })
    }

    fn take_permit(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
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
            s.wakers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(cx.waker().clone());
            Poll::Pending
        }
    }
}

impl<Req: Send + 'static> Service<Req> for Upstream {
    type Response = &'static str;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<&'static str, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.take_permit(cx)
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
/// [`STEP`] after every pending poll. Returns the polls made and the output, or `None` when
/// the future was dropped. Needs a tokio runtime with paused time.
///
/// ```
/// use std::time::Duration;
///
/// use bulwark_test_support::cancel::drive;
///
/// # let rt = tokio::runtime::Builder::new_current_thread()
/// #     .enable_time()
/// #     .start_paused(true)
/// #     .build()
/// #     .unwrap();
/// # rt.block_on(async {
/// let sleep = || tokio::time::sleep(Duration::from_millis(12));
/// assert_eq!(drive(sleep(), 1).await, (1, None));
/// // Pending at 0, 5 and 10 ms, ready at 15.
/// assert_eq!(drive(sleep(), 10).await, (4, Some(())));
/// # });
/// ```
pub async fn drive<F: Future>(fut: F, stop: usize) -> (usize, Option<F::Output>) {
    let mut fut = tokio_test::task::spawn(fut);
    for polls in 0.. {
        if polls == stop {
            return (polls, None);
        }
        if let Poll::Ready(out) = fut.poll() {
            return (polls + 1, Some(out));
        }
        tokio::time::advance(STEP).await;
    }
    unreachable!("a test drives a future fewer than usize::MAX times")
}

//! Every interleaving, up to loom's preemption bound, of concurrent calls on one breaker: its
//! state word, half-open permits, transitions and window counters.
//!
//! Run with (release, as loom explores hundreds of thousands of executions; about a minute on
//! two cores, `-- --nocapture` prints how many each test took):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p bulwark-breaker --release --test loom
//! ```
//!
//! No preemption bound is set, so the exploration is exhaustive for the threads each test runs;
//! `LOOM_MAX_PREEMPTIONS=3` makes it a quick (under a second) bounded pass. The many-thread
//! stress test (`tests/stress.rs`) covers more threads than loom can, at random.
//!
//! Under `--cfg loom` the breaker's atomics and locks are loom's (see `src/sync.rs`). Each model
//! builds a fresh breaker whose open period is zero and which reads no clock on the closed path,
//! so every execution makes the same decisions for the same interleaving, as loom requires.
#![cfg(loom)]

use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bulwark_breaker::{Breaker, BreakerLayer, Rejected};
use bulwark_policy::{Backoff, BoxError, BreakerState, Event, EventKind, FnHook, Jitter, Outcome};
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use tower::{Layer, Service};

/// What a request asks the inner service to answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ask {
    Success,
    Failure,
    Ignore,
}

/// The inner service: counts the calls it is running, from `call` until the answer is seen or
/// the future dropped, and the most it ever ran at once.
#[derive(Clone)]
struct Inner {
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

struct Running {
    running: Arc<AtomicUsize>,
    answer: Option<Ask>,
}

impl Future for Running {
    type Output = Result<Ask, BoxError>;
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        let ask = self.answer.take().expect("polled once");
        self.running.fetch_sub(1, SeqCst);
        Poll::Ready(match ask {
            Ask::Failure => Err(BoxError::from("down")),
            ask => Ok(ask),
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.answer.is_some() {
            self.running.fetch_sub(1, SeqCst);
        }
    }
}

impl Service<Ask> for Inner {
    type Response = Ask;
    type Error = BoxError;
    type Future = Running;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, ask: Ask) -> Running {
        let now = self.running.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(now, SeqCst);
        Running {
            running: self.running.clone(),
            answer: Some(ask),
        }
    }
}

type Classify = fn(&Result<Ask, BoxError>) -> Outcome;
type Svc = Breaker<Inner, Classify>;

fn classify(r: &Result<Ask, BoxError>) -> Outcome {
    match r {
        Ok(Ask::Success) => Outcome::Success,
        Ok(_) => Outcome::Ignore,
        Err(e) => Outcome::Failure(bulwark_policy::classify_error(e)),
    }
}

struct Setup {
    svc: Svc,
    layer: BreakerLayer<Classify>,
    inner: Inner,
    transitions: Arc<AtomicUsize>,
}

/// A breaker with a zero open period (so it half-opens at the next call after a trip, without
/// depending on the clock), `probes` permits and `successes` successes to close.
fn setup(failures: u32, probes: u32, successes: u32, window: Option<u32>) -> Setup {
    let transitions = Arc::new(AtomicUsize::new(0));
    let seen = transitions.clone();
    let hook = FnHook::new(move |e: &Event<'_>| {
        if matches!(e.kind(), EventKind::BreakerTransition { .. }) {
            seen.fetch_add(1, SeqCst);
        }
    });
    let mut b = BreakerLayer::builder()
        .consecutive_failures(failures)
        .open_for(Backoff::constant(Duration::ZERO).jitter(Jitter::None))
        .half_open_probes(probes)
        .half_open_successes(successes)
        .seed(1)
        .hook(hook);
    if let Some(n) = window {
        b = b.failure_rate(1.0).count_window(n).min_calls(n);
    }
    let layer = b.classify(classify as Classify).build().unwrap();
    let inner = Inner {
        running: Arc::new(AtomicUsize::new(0)),
        peak: Arc::new(AtomicUsize::new(0)),
    };
    Setup {
        svc: layer.layer(inner.clone()),
        layer,
        inner,
        transitions,
    }
}

/// `poll_ready` then `call`; the future, not yet polled.
fn send(svc: &mut Svc, ask: Ask) -> <Svc as Service<Ask>>::Future {
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    svc.call(ask)
}

/// Sends and polls to the end; `Err(true)` for a rejection.
fn roundtrip(svc: &mut Svc, ask: Ask) -> Result<Ask, bool> {
    let fut = send(svc, ask);
    match pin!(fut).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(a)) => Ok(a),
        Poll::Ready(Err(e)) => Err(e.is::<Rejected>()),
        Poll::Pending => unreachable!("the inner service answers at once"),
    }
}

/// Explores `f` under every interleaving loom distinguishes, with no preemption bound unless
/// `LOOM_MAX_PREEMPTIONS` sets one, and prints how many executions that took.
fn model(name: &str, f: impl Fn() + Sync + Send + 'static) {
    static EXECUTIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let before = EXECUTIONS.load(std::sync::atomic::Ordering::SeqCst);
    let builder = loom::model::Builder::new();
    builder.check(move || {
        EXECUTIONS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        f();
    });
    let n = EXECUTIONS.load(std::sync::atomic::Ordering::SeqCst) - before;
    eprintln!("{name}: {n} executions");
    assert!(n > 1, "loom explored more than one interleaving");
}

/// Trips the breaker (one failure), so that the next call half-opens it.
fn trip(s: &mut Setup) {
    assert_eq!(roundtrip(&mut s.svc, Ask::Failure), Err(false));
    assert_eq!(s.layer.handle().state(), BreakerState::Open);
}

#[test]
fn half_open_never_admits_more_than_its_permits_and_loses_none() {
    model(
        "half_open_never_admits_more_than_its_permits_and_loses_none",
        || {
            let mut s = setup(1, 1, u32::MAX, None);
            trip(&mut s);
            let threads: Vec<_> = [Ask::Ignore, Ask::Success]
                .into_iter()
                .map(|ask| {
                    let mut svc = s.svc.clone();
                    thread::spawn(move || {
                        // Held across the other thread's call: a second probe must be refused.
                        let fut = send(&mut svc, ask);
                        let r = pin!(fut).poll(&mut Context::from_waker(Waker::noop()));
                        matches!(r, Poll::Ready(Ok(_)))
                    })
                })
                .collect();
            let admitted = threads
                .into_iter()
                .map(|t| t.join().unwrap())
                .filter(|ok| *ok)
                .count();
            assert!(admitted >= 1, "the permit was free for the first to call");
            assert_eq!(s.inner.peak.load(SeqCst), 1, "never two probes at once");
            assert_eq!(s.inner.running.load(SeqCst), 0);
            assert_eq!(s.layer.handle().state(), BreakerState::HalfOpen);
            // No permit lost: exactly one probe can be in flight now.
            let mut a = s.svc.clone();
            let mut b = s.svc.clone();
            let held = send(&mut a, Ask::Ignore);
            assert_eq!(roundtrip(&mut b, Ask::Ignore), Err(true));
            drop(held);
            assert_eq!(roundtrip(&mut b, Ask::Ignore), Ok(Ask::Ignore));
        },
    );
}

#[test]
fn a_dropped_probe_and_a_finished_probe_both_give_their_permits_back() {
    model(
        "a_dropped_probe_and_a_finished_probe_both_give_their_permits_back",
        || {
            let mut s = setup(1, 2, u32::MAX, None);
            trip(&mut s);
            let mut a = s.svc.clone();
            let ta = thread::spawn(move || drop(send(&mut a, Ask::Success)));
            let mut b = s.svc.clone();
            let tb = thread::spawn(move || roundtrip(&mut b, Ask::Success));
            ta.join().unwrap();
            assert!(tb.join().unwrap().is_ok(), "two permits, two calls");
            assert_eq!(s.inner.running.load(SeqCst), 0);
            // Both permits are back.
            let mut c = s.svc.clone();
            let mut d = s.svc.clone();
            let mut e = s.svc.clone();
            let held = (send(&mut c, Ask::Ignore), send(&mut d, Ask::Ignore));
            assert_eq!(roundtrip(&mut e, Ask::Ignore), Err(true));
            drop(held);
        },
    );
}

#[test]
fn concurrent_failures_trip_it_exactly_once() {
    model("concurrent_failures_trip_it_exactly_once", || {
        let s = setup(2, 1, 1, None);
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let mut svc = s.svc.clone();
                thread::spawn(move || roundtrip(&mut svc, Ask::Failure))
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), Err(false), "both were sent and failed");
        }
        let handle = s.layer.handle();
        assert_eq!(handle.state(), BreakerState::Open, "no failure was lost");
        assert_eq!(handle.snapshot().trips, 1);
        assert_eq!(s.transitions.load(SeqCst), 1, "one Closed -> Open");
    });
}

#[test]
fn a_success_and_a_failure_keep_the_consecutive_count_consistent() {
    model(
        "a_success_and_a_failure_keep_the_consecutive_count_consistent",
        || {
            let s = setup(2, 1, 1, Some(2));
            let threads: Vec<_> = [Ask::Success, Ask::Failure]
                .into_iter()
                .map(|ask| {
                    let mut svc = s.svc.clone();
                    thread::spawn(move || {
                        let _ = roundtrip(&mut svc, ask);
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            let snap = s.layer.handle().snapshot();
            assert_eq!(
                snap.state,
                BreakerState::Closed,
                "one failure trips nothing"
            );
            assert!(snap.consecutive_failures <= 1);
            let w = snap.count_window.unwrap();
            assert_eq!((w.calls, w.failures), (2, 1), "the window holds both calls");
            assert_eq!(s.transitions.load(SeqCst), 0);
        },
    );
}

#[test]
fn racing_probes_make_exactly_one_transition_out_of_half_open() {
    model(
        "racing_probes_make_exactly_one_transition_out_of_half_open",
        || {
            let mut s = setup(1, 2, 1, None);
            trip(&mut s);
            let mut a = s.svc.clone();
            let mut b = s.svc.clone();
            // Both probes hold their permits before either finishes.
            let fa = send(&mut a, Ask::Success);
            let fb = send(&mut b, Ask::Failure);
            let finish = |fut: <Svc as Service<Ask>>::Future| {
                thread::spawn(move || {
                    let _ = pin!(fut).poll(&mut Context::from_waker(Waker::noop()));
                })
            };
            let (ta, tb) = (finish(fa), finish(fb));
            ta.join().unwrap();
            tb.join().unwrap();
            let state = s.layer.handle().state();
            assert!(
                matches!(state, BreakerState::Closed | BreakerState::Open),
                "{state:?}"
            );
            // Closed -> Open, Open -> HalfOpen, then exactly one of HalfOpen -> Closed / Open.
            assert_eq!(s.transitions.load(SeqCst), 3);
        },
    );
}

#[test]
fn a_stale_probe_never_overrides_a_state_set_by_hand() {
    model("a_stale_probe_never_overrides_a_state_set_by_hand", || {
        let mut s = setup(1, 1, 1, None);
        trip(&mut s);
        let mut a = s.svc.clone();
        let fut = send(&mut a, Ask::Success);
        let probe = thread::spawn(move || {
            let _ = pin!(fut).poll(&mut Context::from_waker(Waker::noop()));
        });
        let handle = s.layer.handle();
        let operator = thread::spawn(move || handle.force_open());
        probe.join().unwrap();
        operator.join().unwrap();
        assert_eq!(s.layer.handle().state(), BreakerState::ForcedOpen);
    });
}

//! The breaker against a simple sequential reference model, over random sequences of outcomes,
//! calls held open, cancellations and clock advances.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bulwark_breaker::{BreakerLayer, Rejected};
use bulwark_policy::{Backoff, BoxError, BreakerState, Jitter, Outcome};
use proptest::prelude::*;
use tokio::sync::oneshot;
use tower::{service_fn, Layer, Service};

#[derive(Debug, Clone, Copy, PartialEq)]
enum O {
    Success,
    Failure,
    Ignore,
}

#[derive(Debug, Clone)]
enum Op {
    /// A call answered at once.
    Call(O),
    /// A call left in flight.
    Start,
    /// A call in flight answers.
    Finish(usize, O),
    /// A call in flight is cancelled.
    Drop(usize),
    /// A clone is polled ready and kept, not called yet (as axum and tonic keep them).
    Ready,
    /// A clone kept ready is called, and answered at once: its admission is decided now.
    CallReady(usize, O),
    Advance(u64),
}

#[derive(Debug, Clone)]
struct Config {
    consecutive: Option<u32>,
    rate: Option<(f64, u32, u32)>,
    probes: u32,
    successes: u32,
    open_ms: u64,
}

fn outcome() -> impl Strategy<Value = O> {
    prop_oneof![3 => Just(O::Success), 3 => Just(O::Failure), 1 => Just(O::Ignore)]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        4 => outcome().prop_map(Op::Call),
        2 => Just(Op::Start),
        2 => (any::<usize>(), outcome()).prop_map(|(i, o)| Op::Finish(i, o)),
        1 => any::<usize>().prop_map(Op::Drop),
        1 => Just(Op::Ready),
        1 => (any::<usize>(), outcome()).prop_map(|(i, o)| Op::CallReady(i, o)),
        2 => (0u64..40).prop_map(Op::Advance),
    ];
    proptest::collection::vec(op, 1..60)
}

fn configs() -> impl Strategy<Value = Config> {
    let rate = (prop_oneof![Just(0.25), Just(0.5), Just(1.0)], 1u32..8)
        .prop_flat_map(|(r, n)| (Just(r), Just(n), 1..=n));
    (
        proptest::option::of(1u32..4),
        proptest::option::of(rate),
        1u32..4,
        1u32..4,
        1u64..30,
    )
        .prop_filter("something must trip it", |(c, r, ..)| {
            c.is_some() || r.is_some()
        })
        .prop_map(|(consecutive, rate, probes, successes, open_ms)| Config {
            consecutive,
            rate,
            probes,
            successes,
            open_ms,
        })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum St {
    Closed,
    Open,
    HalfOpen,
}

/// The semantics the crate documents, written as plainly as possible.
#[derive(Debug)]
struct Model {
    c: Config,
    st: St,
    gen: u64,
    now: u64,
    open_until: u64,
    consecutive: u32,
    ring: VecDeque<bool>,
    in_flight: u32,
    successes: u32,
}

impl Model {
    fn set(&mut self, st: St) {
        self.gen += 1;
        self.st = st;
        match st {
            St::Open => self.open_until = self.now + self.c.open_ms,
            St::HalfOpen => (self.in_flight, self.successes) = (0, 0),
            St::Closed => {
                self.consecutive = 0;
                self.ring.clear();
            }
        }
    }

    /// What `poll_ready` does: an open period that has ended half-opens; nothing is reserved.
    fn poll_ready(&mut self) {
        if self.st == St::Open && self.now >= self.open_until {
            self.set(St::HalfOpen);
        }
    }

    /// `Some((generation, is_probe))` when admitted.
    fn admit(&mut self) -> Option<(u64, bool)> {
        self.poll_ready();
        match self.st {
            St::Closed => Some((self.gen, false)),
            St::HalfOpen if self.in_flight < self.c.probes => {
                self.in_flight += 1;
                Some((self.gen, true))
            }
            _ => None,
        }
    }

    fn finish(&mut self, (gen, probe): (u64, bool), o: Option<O>) {
        if gen != self.gen {
            return;
        }
        if probe {
            self.in_flight -= 1;
            match o {
                Some(O::Failure) => self.set(St::Open),
                Some(O::Success) => {
                    self.successes += 1;
                    if self.successes >= self.c.successes {
                        self.set(St::Closed);
                    }
                }
                _ => {}
            }
            return;
        }
        let failed = match o {
            Some(O::Success) => false,
            Some(O::Failure) => true,
            _ => return,
        };
        self.consecutive = if failed { self.consecutive + 1 } else { 0 };
        if let Some((_, n, _)) = self.c.rate {
            if self.ring.len() == n as usize {
                self.ring.pop_front();
            }
            self.ring.push_back(failed);
        }
        if failed && self.trips() {
            self.set(St::Open);
        }
    }

    fn trips(&self) -> bool {
        if self.c.consecutive.is_some_and(|n| self.consecutive >= n) {
            return true;
        }
        self.c.rate.is_some_and(|(r, _, min)| {
            let calls = self.ring.len() as f64;
            let failures = self.ring.iter().filter(|f| **f).count() as f64;
            calls >= f64::from(min) && failures > 0.0 && failures >= r * calls
        })
    }

    fn state(&self) -> BreakerState {
        match self.st {
            St::Closed => BreakerState::Closed,
            St::Open => BreakerState::Open,
            St::HalfOpen => BreakerState::HalfOpen,
        }
    }
}

type Fut = Pin<Box<dyn Future<Output = Result<bool, BoxError>>>>;

fn poll(fut: &mut Fut) -> Poll<Result<bool, BoxError>> {
    fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
}

fn code(o: O) -> u8 {
    match o {
        O::Success => 0,
        O::Failure => 1,
        O::Ignore => 2,
    }
}

/// A call in flight: its future, the sender of its answer, and the model's ticket.
type Held = (Fut, oneshot::Sender<u8>, (u64, bool));

/// Calls `s`, already polled ready, and checks its admission against the model's. An admitted
/// call is answered at once with `answer`, or left in `held` without one.
fn call_and_check<S>(
    s: &mut S,
    model: &mut Model,
    answer: Option<O>,
    held: &mut Vec<Held>,
) -> Result<(), TestCaseError>
where
    S: Service<oneshot::Receiver<u8>, Response = bool, Error = BoxError>,
    S::Future: 'static,
{
    let (tx, rx) = oneshot::channel();
    let mut fut: Fut = Box::pin(s.call(rx));
    match (poll(&mut fut), model.admit()) {
        (Poll::Ready(Err(e)), None) => prop_assert!(e.is::<Rejected>()),
        (Poll::Pending, Some(ticket)) => match answer {
            Some(o) => {
                tx.send(code(o)).unwrap();
                prop_assert!(poll(&mut fut).is_ready());
                model.finish(ticket, Some(o));
            }
            None => held.push((fut, tx, ticket)),
        },
        (got, want) => prop_assert!(
            false,
            "admission: got {:?}, model {:?}",
            got.is_pending(),
            want
        ),
    }
    Ok(())
}

async fn check(c: Config, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut b = BreakerLayer::builder()
        .open_for(Backoff::constant(Duration::from_millis(c.open_ms)).jitter(Jitter::None))
        .half_open_probes(c.probes)
        .half_open_successes(c.successes)
        .no_consecutive_failures();
    if let Some(n) = c.consecutive {
        b = b.consecutive_failures(n);
    }
    if let Some((r, n, min)) = c.rate {
        b = b.failure_rate(r).count_window(n).min_calls(min);
    }
    let layer = b
        .classify(|r: &Result<bool, BoxError>| match r {
            Ok(true) => Outcome::Success,
            Ok(false) => Outcome::Ignore,
            Err(e) => Outcome::Failure(bulwark_policy::classify_error(e)),
        })
        .build()
        .unwrap();
    let handle = layer.handle();
    let svc = layer.layer(service_fn(|rx: oneshot::Receiver<u8>| async move {
        match rx.await {
            Ok(0) => Ok(true),
            Ok(2) => Ok(false),
            _ => Err(BoxError::from("down")),
        }
    }));
    let mut model = Model {
        c,
        st: St::Closed,
        gen: 0,
        now: 0,
        open_until: 0,
        consecutive: 0,
        ring: VecDeque::new(),
        in_flight: 0,
        successes: 0,
    };
    let mut held = Vec::new();
    let mut ready = Vec::new();
    let mut cx = Context::from_waker(Waker::noop());

    for op in ops {
        match op {
            Op::Call(_) | Op::Start => {
                let mut s = svc.clone();
                prop_assert!(matches!(s.poll_ready(&mut cx), Poll::Ready(Ok(()))));
                let answer = match op {
                    Op::Call(o) => Some(o),
                    _ => None,
                };
                call_and_check(&mut s, &mut model, answer, &mut held)?;
            }
            Op::Finish(i, o) if !held.is_empty() => {
                let (mut fut, tx, ticket) = held.remove(i % held.len());
                tx.send(code(o)).unwrap();
                prop_assert!(poll(&mut fut).is_ready());
                model.finish(ticket, Some(o));
            }
            Op::Drop(i) if !held.is_empty() => {
                let (fut, _, ticket) = held.remove(i % held.len());
                drop(fut);
                model.finish(ticket, None);
            }
            Op::Ready => {
                let mut s = svc.clone();
                prop_assert!(matches!(s.poll_ready(&mut cx), Poll::Ready(Ok(()))));
                model.poll_ready();
                ready.push(s);
            }
            Op::CallReady(i, o) if !ready.is_empty() => {
                let mut s = ready.remove(i % ready.len());
                call_and_check(&mut s, &mut model, Some(o), &mut held)?;
            }
            Op::Finish(..) | Op::Drop(_) | Op::CallReady(..) => {}
            Op::Advance(ms) => {
                tokio::time::advance(Duration::from_millis(ms)).await;
                model.now += ms;
            }
        }
        let snap = handle.snapshot();
        prop_assert_eq!(snap.state, model.state(), "{:?}", model);
        prop_assert_eq!(snap.consecutive_failures, model.consecutive);
        if let Some(w) = snap.count_window {
            prop_assert_eq!(w.calls, model.ring.len() as u64);
            prop_assert_eq!(w.failures, model.ring.iter().filter(|f| **f).count() as u64);
        }
    }
    Ok(())
}

proptest! {
    // 10,000 cases keep this test near 20 s in a debug build on two cores; the ignored
    // variant below runs ten times as many.
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn the_breaker_follows_the_model(c in configs(), ops in ops()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        rt.block_on(check(c, ops))?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100_000))]

    /// The same, longer: `cargo test -p bulwark-breaker --test model -- --ignored`.
    #[test]
    #[ignore]
    fn the_breaker_follows_the_model_long(c in configs(), ops in ops()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        rt.block_on(check(c, ops))?;
    }
}

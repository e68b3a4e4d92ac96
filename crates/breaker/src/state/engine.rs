//! The engine: the compiled config, the windows it judges, admission and every transition.

use std::cell::Cell;
use std::mem;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use bulwark_policy::{BreakerState, EventKind, Outcome};
use tokio::time::Instant;

use super::{
    code, named, saturating_nanos, state_of, Admit, Refusal, Report, Slow, State, Ticket, CLOSED,
    DISABLED, FORCED_CLOSED, FORCED_OPEN, HALF_OPEN, METRICS_ONLY, OPEN, STATE_BITS,
};
use crate::config::BreakerConfig;
use crate::handle::{Snapshot, WindowCounts};
use crate::window::{CountRing, Counts, Sample, TimeBuckets};

/// The compiled configuration and the windows it judges; replaced whole by a reconfiguration.
pub(crate) struct Core {
    pub(crate) state: Arc<State>,
    pub(super) version: u64,
    config: BreakerConfig,
    consecutive: Option<u32>,
    failure_ppm: Option<u64>,
    slow_ppm: Option<u64>,
    slow_threshold: Option<Duration>,
    min_calls: u64,
    count: Option<CountRing>,
    time: Option<TimeBuckets>,
    /// Whether a call needs the clock: for slow calls, a time window or a hook's durations.
    pub(super) timing: bool,
}

/// How many lanes an engine has: enough that the threads of a busy process rarely share one.
const LANES: usize = 8;
const _: () = assert!(LANES.is_power_of_two());

/// One of an engine's reference counts. A call's ticket keeps the engine alive through the lane
/// of its thread, so threads calling at once touch different cache lines, not one shared count.
#[repr(align(64))]
pub(crate) struct Lane {
    core: Arc<Core>,
}

impl Deref for Lane {
    type Target = Core;

    fn deref(&self) -> &Core {
        &self.core
    }
}

/// This thread's lane, assigned round-robin on first use.
#[inline]
fn lane_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    // Const-initialised, so reading it is a plain thread-local load with no lazy-init check.
    thread_local! {
        static LANE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    LANE.with(|lane| match lane.get() {
        usize::MAX => {
            let assigned = NEXT.fetch_add(1, Relaxed) % LANES;
            lane.set(assigned);
            assigned
        }
        assigned => assigned,
    })
}

/// The engine in use: its [`Core`], and the lanes through which calls hold it.
pub(crate) struct Engine {
    core: Arc<Core>,
    lanes: [Arc<Lane>; LANES],
    /// The core's state and version again, one pointer closer to the service's hot path.
    shortcut: Arc<State>,
    version: u64,
}

impl Deref for Engine {
    type Target = Core;

    fn deref(&self) -> &Core {
        &self.core
    }
}

impl Engine {
    pub(super) fn new(state: Arc<State>, config: BreakerConfig, version: u64) -> Self {
        let core = Arc::new(Core::new(state.clone(), config, version));
        let lanes = std::array::from_fn(|_| Arc::new(Lane { core: core.clone() }));
        Self {
            core,
            lanes,
            shortcut: state,
            version,
        }
    }

    /// Whether a newer engine has been installed.
    #[inline]
    pub(crate) fn is_stale(&self) -> bool {
        self.shortcut.version.load(Relaxed) != self.version
    }

    /// Whether no call holds a ticket of this engine: every lane is referenced by the engine
    /// alone.
    pub(crate) fn no_call_in_flight(&self) -> bool {
        self.lanes.iter().all(|lane| Arc::strong_count(lane) == 1)
    }

    /// Whether the state word is still `word`: no transition since it was read.
    #[inline]
    pub(crate) fn is_current(&self, word: u64) -> bool {
        self.shortcut.word.load(Acquire) == word
    }

    #[inline]
    fn lane(&self) -> Arc<Lane> {
        // The mask spares a bounds check: `lane_index` is below `LANES`, a power of two.
        self.lanes[lane_index() & (LANES - 1)].clone()
    }

    /// The ticket of a call admitted in the closed-like state `word` and sent at `start`, as
    /// [`Core::started`] gave it.
    #[inline(always)]
    pub(crate) fn ticket(&self, word: u64, start: u64) -> Ticket {
        Ticket::new(self.lane(), word, start)
    }

    /// Decides whether a call may go ahead, taking a half-open permit if it is a probe. With a
    /// waker and in backpressure mode, a refusal registers the waker to be woken on the next
    /// transition or freed permit.
    #[inline]
    pub(crate) fn admit(&self, waker: Option<&Waker>) -> Admit {
        self.decide(waker)
    }

    /// The state word, if the breaker is plainly closed: the one test the hot path makes.
    #[inline(always)]
    pub(crate) fn closed(&self) -> Option<u64> {
        let word = self.shortcut.word.load(Acquire);
        (state_of(word) == CLOSED).then_some(word)
    }

    /// Whether the breaker is still plainly closed in the state word `word` that admitted a
    /// call: no transition since.
    #[inline(always)]
    pub(crate) fn still_closed(&self, word: u64) -> bool {
        state_of(word) == CLOSED && self.is_current(word)
    }

    /// What `poll_ready` asks: would a call be admitted now? Nothing is reserved: half-open
    /// answers `Ok` while a probe permit is free, and the permit is taken by [`admit`] when the
    /// call is sent. Returns the state word seen.
    ///
    /// [`admit`]: Self::admit
    pub(crate) fn check(&self, waker: &Waker) -> Result<u64, Refusal> {
        self.decide(Some(waker))
    }

    #[inline]
    fn decide<D: Decision>(&self, waker: Option<&Waker>) -> D {
        let state = &*self.shortcut;
        let word = state.word.load(Acquire);
        // Closed first and on its own: the one branch the hot path takes.
        if state_of(word) == CLOSED {
            return D::closed(word);
        }
        match state_of(word) {
            FORCED_CLOSED | METRICS_ONLY => return D::closed(word),
            DISABLED => return D::untracked(word),
            OPEN if waker.is_none() || !state.backpressure.load(Relaxed) => {
                let now = Instant::now();
                let left = state
                    .open_until
                    .load(Acquire)
                    .saturating_sub(state.nanos(now));
                if left > 0 {
                    return D::refused(Refusal {
                        retry_after: Some(Duration::from_nanos(left)),
                        wait: None,
                    });
                }
            }
            FORCED_OPEN if waker.is_none() || !state.backpressure.load(Relaxed) => {
                return D::refused(Refusal {
                    retry_after: None,
                    wait: None,
                });
            }
            _ => {}
        }
        self.admit_slow(waker)
    }

    #[cold]
    fn admit_slow<D: Decision>(&self, waker: Option<&Waker>) -> D {
        let state = &*self.state;
        let now = Instant::now();
        let mut report = Report::default();
        let mut slow = state.lock();
        let admit = loop {
            let word = state.word.load(Acquire);
            let (retry_after, wake_at) = match state_of(word) {
                OPEN => {
                    let until = state.open_until.load(Acquire);
                    let at = state.nanos(now);
                    if at >= until {
                        let t = self.set(&mut slow, HALF_OPEN, now);
                        report.push(t.0, t.1);
                        continue;
                    }
                    (
                        Some(Duration::from_nanos(until - at)),
                        Some(state.epoch + Duration::from_nanos(until)),
                    )
                }
                HALF_OPEN => {
                    let deadline = slow.max_wait.map(|w| slow.half_open_since + w);
                    if deadline.is_some_and(|d| now >= d) {
                        let t = self.set(&mut slow, OPEN, now);
                        report.push(t.0, t.1);
                        continue;
                    }
                    if slow.in_flight < slow.probes {
                        break D::probe(self, &mut slow, word);
                    }
                    (None, deadline)
                }
                FORCED_OPEN => (None, None),
                DISABLED => break D::untracked(word),
                _ => break D::closed(word),
            };
            let wait = match waker {
                Some(w) if state.backpressure.load(Relaxed) => {
                    if !slow.waiters.iter().any(|x| x.will_wake(w)) {
                        slow.waiters.push(w.clone());
                    }
                    Some(wake_at)
                }
                _ => None,
            };
            break D::refused(Refusal { retry_after, wait });
        };
        drop(slow);
        report.send(state);
        admit
    }
}

/// What a decision answers, by who asks. A call being sent gets an [`Admit`], which takes a
/// half-open probe permit; `poll_ready`'s [`Engine::check`] gets the state word that lets calls
/// through, or the refusal, and takes nothing.
trait Decision {
    /// Go ahead in the closed-like state `word`.
    fn closed(word: u64) -> Self;
    /// Go ahead in the disabled state `word`.
    fn untracked(word: u64) -> Self;
    /// Half-open in `word`, with a probe permit free in `slow`, the locked slow-path state.
    fn probe(engine: &Engine, slow: &mut Slow, word: u64) -> Self;
    /// Refused.
    fn refused(refusal: Refusal) -> Self;
}

impl Decision for Admit {
    #[inline(always)]
    fn closed(word: u64) -> Self {
        Admit::Closed(word)
    }

    #[inline(always)]
    fn untracked(_: u64) -> Self {
        Admit::Untracked
    }

    /// Takes the permit.
    fn probe(engine: &Engine, slow: &mut Slow, word: u64) -> Self {
        slow.in_flight += 1;
        Admit::Probe(Ticket::new(engine.lane(), word, 0))
    }

    #[inline(always)]
    fn refused(refusal: Refusal) -> Self {
        Admit::Reject(refusal)
    }
}

impl Decision for Result<u64, Refusal> {
    #[inline(always)]
    fn closed(word: u64) -> Self {
        Ok(word)
    }

    #[inline(always)]
    fn untracked(word: u64) -> Self {
        Ok(word)
    }

    /// Leaves the permit free: `admit` takes it when the call is sent.
    fn probe(_: &Engine, _: &mut Slow, word: u64) -> Self {
        Ok(word)
    }

    #[inline(always)]
    fn refused(refusal: Refusal) -> Self {
        Err(refusal)
    }
}

/// A rate as parts per million, so that `failures / calls >= rate` is compared exactly.
fn ppm(rate: Option<f64>) -> Option<u64> {
    rate.map(|r| (r * 1e6).round() as u64)
}

impl Core {
    fn new(state: Arc<State>, config: BreakerConfig, version: u64) -> Self {
        let timing = config.slow_call_threshold.is_some()
            || config.time_window.is_some()
            || state.hook.is_set();
        Self {
            version,
            consecutive: config.consecutive_failures,
            failure_ppm: ppm(config.failure_rate),
            slow_ppm: ppm(config.slow_call_rate),
            slow_threshold: config.slow_call_threshold,
            min_calls: u64::from(config.min_calls.max(1)),
            count: config.count_window.map(CountRing::new),
            time: config
                .time_window
                .map(|w| TimeBuckets::new(w, config.time_window_buckets)),
            timing,
            config,
            state,
        }
    }

    /// When a call is sent now, as its ticket keeps it: nanoseconds since the epoch plus one,
    /// or 0 when calls are not timed. Plain integers keep the ticket small on the hot path.
    #[inline(always)]
    pub(crate) fn started(&self) -> u64 {
        if self.timing {
            self.state.nanos(Instant::now()).saturating_add(1)
        } else {
            0
        }
    }

    pub(crate) fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// Moves to `to` under the lock; returns the transition to report and the waiters to wake.
    fn set(
        &self,
        slow: &mut Slow,
        to: u64,
        now: Instant,
    ) -> (Option<(BreakerState, BreakerState)>, Vec<Waker>) {
        let state = &*self.state;
        let word = state.word.load(Acquire);
        let from = state_of(word);
        match to {
            OPEN => {
                let delay = slow
                    .open_for
                    .delay(slow.trips, slow.prev_open, &mut slow.rng);
                slow.trips = slow.trips.saturating_add(1);
                slow.prev_open = delay;
                state.open_until.store(
                    state.nanos(now).saturating_add(saturating_nanos(delay)),
                    Release,
                );
            }
            HALF_OPEN => {
                slow.half_open_since = now;
                slow.in_flight = 0;
                slow.successes = 0;
            }
            CLOSED => {
                slow.trips = 0;
                slow.prev_open = Duration::ZERO;
                state.consecutive.store(0, Relaxed);
                self.clear_windows();
            }
            _ => {}
        }
        if from == to && to != OPEN {
            return (None, Vec::new());
        }
        let next = ((word >> STATE_BITS).wrapping_add(1) << STATE_BITS) | to;
        state.word.store(next, Release);
        state.watch.send_replace(named(to));
        (Some((named(from), named(to))), mem::take(&mut slow.waiters))
    }

    fn clear_windows(&self) {
        if let Some(c) = &self.count {
            c.clear();
        }
        if let Some(t) = &self.time {
            t.clear();
        }
    }

    /// Moves to `to` by hand, from whatever state the breaker is in.
    pub(crate) fn force(&self, to: BreakerState) {
        let mut slow = self.state.lock();
        let t = self.set(&mut slow, code(to), Instant::now());
        drop(slow);
        let mut report = Report::default();
        report.push(t.0, t.1);
        report.send(&self.state);
    }

    /// Records a finished call admitted by `ticket`.
    #[inline(always)]
    pub(super) fn finish(&self, ticket: &Ticket, outcome: Outcome) {
        // The hot path: a closed call that succeeded, untimed (so no hook, slow-call threshold
        // or time window either). Anything else takes the general path, out of line.
        if !self.timing && state_of(ticket.word) == CLOSED && matches!(outcome, Outcome::Success) {
            self.closed_success(ticket.word);
        } else {
            self.finish_general(ticket, outcome);
        }
    }

    /// What [`closed_done`](Self::closed_done) does for an untimed success in the plainly closed
    /// state `word`.
    #[inline(always)]
    fn closed_success(&self, word: u64) {
        debug_assert!(self.time.is_none(), "a time window makes calls timed");
        let state = &*self.state;
        if state.word.load(Acquire) != word {
            return;
        }
        if state.consecutive.load(Relaxed) != 0 {
            state.consecutive.store(0, Relaxed);
        }
        if let Some(c) = &self.count {
            c.record(Sample {
                failed: false,
                slow: false,
            });
        }
    }

    #[inline(never)]
    fn finish_general(&self, ticket: &Ticket, outcome: Outcome) {
        let end = if self.timing {
            self.state.nanos(Instant::now())
        } else {
            0
        };
        let duration = ticket.elapsed(end);
        self.state
            .emit(|| EventKind::BreakerCall { outcome, duration });
        let slow = self.slow_threshold.is_some_and(|t| duration > t);
        if ticket.probe() {
            self.probe_done(ticket.word, Some(outcome), slow);
        } else {
            self.closed_done(ticket.word, outcome, slow, end);
        }
    }

    fn closed_done(&self, word: u64, outcome: Outcome, slow: bool, at: u64) {
        let state = &*self.state;
        if state.word.load(Acquire) != word {
            return;
        }
        let mode = state_of(word);
        if mode == FORCED_CLOSED {
            return;
        }
        let failed = match outcome {
            Outcome::Success => false,
            Outcome::Failure(_) => true,
            _ => return,
        };
        let consecutive = if failed {
            state.consecutive.fetch_add(1, Relaxed).saturating_add(1)
        } else {
            if state.consecutive.load(Relaxed) != 0 {
                state.consecutive.store(0, Relaxed);
            }
            0
        };
        let sample = Sample { failed, slow };
        if let Some(c) = &self.count {
            c.record(sample);
        }
        if let Some(t) = &self.time {
            t.record(sample, at);
        }
        if mode == CLOSED && (failed || slow) && self.should_trip(consecutive, at) {
            self.trip(word);
        }
    }

    fn should_trip(&self, consecutive: u32, at: u64) -> bool {
        if self.consecutive.is_some_and(|n| consecutive >= n) {
            return true;
        }
        let judge = |c: Counts| {
            let over = |n: u64, ppm: Option<u64>| {
                ppm.is_some_and(|p| {
                    n > 0 && u128::from(n) * 1_000_000 >= u128::from(p) * u128::from(c.calls)
                })
            };
            c.calls >= self.min_calls
                && (over(c.failures, self.failure_ppm) || over(c.slow, self.slow_ppm))
        };
        self.count.as_ref().is_some_and(|w| judge(w.counts()))
            || self.time.as_ref().is_some_and(|w| judge(w.counts(at)))
    }

    #[cold]
    fn trip(&self, word: u64) {
        let mut slow = self.state.lock();
        if self.state.word.load(Acquire) != word {
            return;
        }
        let t = self.set(&mut slow, OPEN, Instant::now());
        drop(slow);
        let mut report = Report::default();
        report.push(t.0, t.1);
        report.send(&self.state);
    }

    /// A probe finished (`Some`) or was dropped (`None`): its permit comes back, and its outcome
    /// may close or re-open the breaker.
    #[cold]
    pub(super) fn probe_done(&self, word: u64, outcome: Option<Outcome>, slow_call: bool) {
        let state = &*self.state;
        let mut slow = state.lock();
        if state.word.load(Acquire) != word {
            return;
        }
        slow.in_flight = slow.in_flight.saturating_sub(1);
        let to = match outcome {
            Some(Outcome::Failure(_)) => Some(OPEN),
            Some(Outcome::Success) if slow_call => Some(OPEN),
            Some(Outcome::Success) => {
                slow.successes = slow.successes.saturating_add(1);
                (slow.successes >= slow.successes_needed).then_some(CLOSED)
            }
            _ => None,
        };
        let mut report = Report::default();
        match to {
            Some(to) => {
                let t = self.set(&mut slow, to, Instant::now());
                report.push(t.0, t.1);
            }
            None => report.wake = mem::take(&mut slow.waiters),
        }
        drop(slow);
        report.send(state);
    }

    /// The counts and state, for the handle.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let state = &*self.state;
        let trips = state.lock().trips;
        let at = state.nanos(Instant::now());
        Snapshot {
            state: state.state(),
            consecutive_failures: state.consecutive.load(Relaxed),
            trips,
            count_window: self.count.as_ref().map(|c| WindowCounts::from(c.counts())),
            time_window: self.time.as_ref().map(|t| WindowCounts::from(t.counts(at))),
        }
    }
}

//! The breaker itself: its state word, the policies that trip it, the half-open permits and
//! every transition.
//!
//! The state and a generation live in one atomic word. A closed call reads it once when
//! admitted and once when it finishes; a call finishing in a later generation than the one
//! that admitted it is stale and changes nothing. Everything that is not the closed path — open
//! and half-open admission, transitions — takes the `slow` mutex, which keeps the half-open
//! permit count exact under any concurrency.

use std::borrow::Cow;
use std::fmt;
use std::mem;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::*};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::time::Duration;

use bulwark_policy::{
    Backoff, BreakerState, ConfigError, Event, EventKind, Outcome, Rng, SharedHook,
};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::{BreakerConfig, Mode};
use crate::handle::{Snapshot, WindowCounts};
use crate::window::{CountRing, Counts, Sample, TimeBuckets};

const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;
const FORCED_OPEN: u64 = 3;
const FORCED_CLOSED: u64 = 4;
const DISABLED: u64 = 5;
const METRICS_ONLY: u64 = 6;
const STATE_BITS: u32 = 3;
const STATE_MASK: u64 = (1 << STATE_BITS) - 1;

fn state_of(word: u64) -> u64 {
    word & STATE_MASK
}

fn code(state: BreakerState) -> u64 {
    match state {
        BreakerState::Open => OPEN,
        BreakerState::HalfOpen => HALF_OPEN,
        BreakerState::ForcedOpen => FORCED_OPEN,
        BreakerState::ForcedClosed => FORCED_CLOSED,
        BreakerState::Disabled => DISABLED,
        BreakerState::MetricsOnly => METRICS_ONLY,
        _ => CLOSED,
    }
}

fn named(code: u64) -> BreakerState {
    match code {
        OPEN => BreakerState::Open,
        HALF_OPEN => BreakerState::HalfOpen,
        FORCED_OPEN => BreakerState::ForcedOpen,
        FORCED_CLOSED => BreakerState::ForcedClosed,
        DISABLED => BreakerState::Disabled,
        METRICS_ONLY => BreakerState::MetricsOnly,
        _ => BreakerState::Closed,
    }
}

fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// What lives as long as the breaker, across reconfigurations.
pub(crate) struct State {
    word: AtomicU64,
    /// The end of the open period, in nanoseconds since `epoch`.
    open_until: AtomicU64,
    consecutive: AtomicU32,
    /// Bumped by every reconfiguration, so services know to fetch the new engine.
    version: AtomicU64,
    backpressure: AtomicBool,
    /// When the breaker (or, keyed, its key) last admitted a call, in nanoseconds since `epoch`.
    last_used: AtomicU64,
    epoch: Instant,
    name: Cow<'static, str>,
    key: Option<Box<dyn fmt::Display + Send + Sync>>,
    hook: SharedHook,
    slow: Mutex<Slow>,
    watch: watch::Sender<BreakerState>,
}

/// Everything only the slow paths need, behind the mutex.
struct Slow {
    open_for: Backoff,
    probes: u32,
    successes_needed: u32,
    max_wait: Option<Duration>,
    rng: Rng,
    /// Trips since the breaker last closed.
    trips: u32,
    prev_open: Duration,
    half_open_since: Instant,
    in_flight: u32,
    successes: u32,
    waiters: Vec<Waker>,
}

impl State {
    fn nanos(&self, at: Instant) -> u64 {
        saturating_nanos(at.saturating_duration_since(self.epoch))
    }

    fn lock(&self) -> MutexGuard<'_, Slow> {
        self.slow.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn emit(&self, kind: EventKind) {
        self.hook.emit(|| {
            let event = Event::new(&self.name, kind);
            match &self.key {
                Some(key) => event.with_key(&**key),
                None => event,
            }
        });
    }

    pub(crate) fn state(&self) -> BreakerState {
        named(state_of(self.word.load(Acquire)))
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<BreakerState> {
        self.watch.subscribe()
    }

    /// How long since the last call was admitted through [`touch`](Self::touch).
    pub(crate) fn idle_for(&self, now: Instant) -> Duration {
        Duration::from_nanos(self.nanos(now).saturating_sub(self.last_used.load(Relaxed)))
    }

    pub(crate) fn touch(&self, now: Instant) {
        let at = self.nanos(now);
        // Written only when it moved by a millisecond, to spare the cache line.
        if at.saturating_sub(self.last_used.load(Relaxed)) >= 1_000_000 {
            self.last_used.store(at, Relaxed);
        }
    }

    pub(crate) fn emit_rejected(&self, retry_after: Option<Duration>) {
        self.emit(EventKind::BreakerRejected { retry_after });
    }
}

/// Transitions made under the lock, reported once it is released so that a hook may use the
/// handle.
#[derive(Default)]
struct Report {
    transitions: [Option<(BreakerState, BreakerState)>; 2],
    wake: Vec<Waker>,
}

impl Report {
    fn push(&mut self, t: Option<(BreakerState, BreakerState)>, wake: Vec<Waker>) {
        if let Some(slot) = self.transitions.iter_mut().find(|s| s.is_none()) {
            *slot = t;
        }
        self.wake.extend(wake);
    }

    fn send(self, state: &State) {
        for (from, to) in self.transitions.into_iter().flatten() {
            state.emit(EventKind::BreakerTransition { from, to });
        }
        for w in self.wake {
            w.wake();
        }
    }
}

/// The compiled configuration and the windows it judges; replaced whole by a reconfiguration.
pub(crate) struct Engine {
    pub(crate) state: Arc<State>,
    version: u64,
    config: BreakerConfig,
    consecutive: Option<u32>,
    failure_ppm: Option<u64>,
    slow_ppm: Option<u64>,
    slow_threshold: Option<Duration>,
    min_calls: u64,
    count: Option<CountRing>,
    time: Option<TimeBuckets>,
    /// Whether a call needs the clock: for slow calls, a time window or a hook's durations.
    timing: bool,
}

/// A rate as parts per million, so that `failures / calls >= rate` is compared exactly.
fn ppm(rate: Option<f64>) -> Option<u64> {
    rate.map(|r| (r * 1e6).round() as u64)
}

impl Engine {
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

    /// The ticket of a call admitted in the closed-like state `word`, sent now.
    #[inline]
    pub(crate) fn ticket(self: &Arc<Self>, word: u64) -> Ticket {
        let mut ticket = Ticket::new(self.clone(), word, false);
        ticket.start();
        ticket
    }

    /// Whether a newer engine has been installed.
    #[inline]
    pub(crate) fn is_stale(&self) -> bool {
        self.state.version.load(Relaxed) != self.version
    }

    pub(crate) fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// Decides whether a call may go ahead. With a waker and in backpressure mode, a refusal
    /// registers the waker to be woken on the next transition or freed permit.
    #[inline]
    pub(crate) fn admit(self: &Arc<Self>, waker: Option<&Waker>) -> Admit {
        let state = &*self.state;
        let word = state.word.load(Acquire);
        match state_of(word) {
            CLOSED | FORCED_CLOSED | METRICS_ONLY => return Admit::Closed(word),
            DISABLED => return Admit::Untracked,
            OPEN if waker.is_none() || !state.backpressure.load(Relaxed) => {
                let now = Instant::now();
                let left = state
                    .open_until
                    .load(Acquire)
                    .saturating_sub(state.nanos(now));
                if left > 0 {
                    return Admit::Reject(Refusal {
                        retry_after: Some(Duration::from_nanos(left)),
                        wait: None,
                    });
                }
            }
            FORCED_OPEN if waker.is_none() || !state.backpressure.load(Relaxed) => {
                return Admit::Reject(Refusal {
                    retry_after: None,
                    wait: None,
                });
            }
            _ => {}
        }
        self.admit_slow(waker)
    }

    #[cold]
    fn admit_slow(self: &Arc<Self>, waker: Option<&Waker>) -> Admit {
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
                        slow.in_flight += 1;
                        break Admit::Probe(Ticket::new(self.clone(), word, true));
                    }
                    (None, deadline)
                }
                FORCED_OPEN => (None, None),
                DISABLED => break Admit::Untracked,
                _ => break Admit::Closed(word),
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
            break Admit::Reject(Refusal { retry_after, wait });
        };
        drop(slow);
        report.send(state);
        admit
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
    #[inline]
    fn finish(&self, ticket: &Ticket, outcome: Outcome) {
        let end = if self.timing {
            self.state.nanos(Instant::now())
        } else {
            0
        };
        let duration = ticket.elapsed(end);
        self.state
            .emit(EventKind::BreakerCall { outcome, duration });
        let slow = self.slow_threshold.is_some_and(|t| duration > t);
        if ticket.probe {
            self.probe_done(ticket.word, Some(outcome), slow);
        } else {
            self.closed_done(ticket.word, outcome, slow, end);
        }
    }

    #[inline]
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
    fn probe_done(&self, word: u64, outcome: Option<Outcome>, slow_call: bool) {
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
                slow.successes += 1;
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

/// What admission decided.
pub(crate) enum Admit {
    /// Go ahead, admitted in the closed-like state `word`; [`Engine::ticket`] makes its ticket
    /// when the call is sent, so `poll_ready` holds no reference.
    Closed(u64),
    /// Go ahead as a half-open probe, holding a permit.
    Probe(Ticket),
    /// Go ahead; the breaker is disabled and records nothing.
    Untracked,
    /// Refused.
    Reject(Refusal),
}

/// A refused call.
pub(crate) struct Refusal {
    pub(crate) retry_after: Option<Duration>,
    /// In backpressure mode: the caller's waker is registered, and it should also wake itself at
    /// this instant, if any.
    pub(crate) wait: Option<Option<Instant>>,
}

/// An admitted call. Finishing it records its outcome; dropping it unfinished counts as a
/// cancellation, which records nothing and gives a probe's permit back.
pub(crate) struct Ticket {
    engine: Arc<Engine>,
    word: u64,
    /// When the call was sent, in nanoseconds since the breaker's epoch, plus one; 0 when the
    /// call is not timed. Plain integers keep the ticket small on the hot path.
    start: u64,
    probe: bool,
    done: bool,
}

impl Ticket {
    fn new(engine: Arc<Engine>, word: u64, probe: bool) -> Self {
        Self {
            engine,
            word,
            start: 0,
            probe,
            done: false,
        }
    }

    /// Marks the moment the call is sent.
    #[inline]
    pub(crate) fn start(&mut self) {
        if self.engine.timing {
            self.start = self.engine.state.nanos(Instant::now()).saturating_add(1);
        }
    }

    /// How long the call ran until `end` (nanoseconds since the epoch); zero when untimed.
    fn elapsed(&self, end: u64) -> Duration {
        match self.start {
            0 => Duration::ZERO,
            start => Duration::from_nanos(end.saturating_sub(start - 1)),
        }
    }

    #[inline]
    pub(crate) fn finish(mut self, outcome: Outcome) {
        self.done = true;
        self.engine.finish(&self, outcome);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if self.start != 0 {
            let duration = self.elapsed(self.engine.state.nanos(Instant::now()));
            self.engine.state.emit(EventKind::BreakerCall {
                outcome: Outcome::Ignore,
                duration,
            });
        }
        if self.probe {
            self.engine.probe_done(self.word, None, false);
        }
    }
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("probe", &self.probe)
            .finish()
    }
}

/// One breaker: the engine in use, replaced by reconfiguration. Services, layers and handles
/// share it through an `Arc`.
pub(crate) struct Shared {
    engine: Mutex<Arc<Engine>>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.engine();
        f.debug_struct("Breaker")
            .field("name", &e.state.name)
            .field("state", &e.state.state())
            .finish()
    }
}

/// What a breaker is built from besides its config.
#[derive(Clone, Debug)]
pub(crate) struct Identity {
    pub(crate) name: Cow<'static, str>,
    pub(crate) hook: SharedHook,
    pub(crate) seed: Option<u64>,
}

impl Shared {
    pub(crate) fn new(
        config: BreakerConfig,
        id: &Identity,
        key: Option<Box<dyn fmt::Display + Send + Sync>>,
    ) -> Arc<Self> {
        let now = Instant::now();
        let slow = Slow {
            open_for: config.open_for.clone(),
            probes: config.half_open_probes,
            successes_needed: config.half_open_successes,
            max_wait: config.half_open_max_wait,
            rng: id.seed.map_or_else(Rng::from_entropy, Rng::new),
            trips: 0,
            prev_open: Duration::ZERO,
            half_open_since: now,
            in_flight: 0,
            successes: 0,
            waiters: Vec::new(),
        };
        let state = Arc::new(State {
            word: AtomicU64::new(CLOSED),
            open_until: AtomicU64::new(0),
            consecutive: AtomicU32::new(0),
            version: AtomicU64::new(0),
            backpressure: AtomicBool::new(config.mode == Mode::Backpressure),
            last_used: AtomicU64::new(0),
            epoch: now,
            name: id.name.clone(),
            key,
            hook: id.hook.clone(),
            slow: Mutex::new(slow),
            watch: watch::channel(BreakerState::Closed).0,
        });
        Arc::new(Self {
            engine: Mutex::new(Arc::new(Engine::new(state, config, 0))),
        })
    }

    pub(crate) fn engine(&self) -> Arc<Engine> {
        self.engine
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Installs `config`: the state, the trip count and the consecutive failures carry over; the
    /// windows start empty.
    pub(crate) fn reconfigure(&self, config: BreakerConfig) -> Result<(), ConfigError> {
        config.validate()?;
        let mut current = self.engine.lock().unwrap_or_else(PoisonError::into_inner);
        let state = current.state.clone();
        {
            let mut slow = state.lock();
            slow.open_for = config.open_for.clone();
            slow.probes = config.half_open_probes;
            slow.successes_needed = config.half_open_successes;
            slow.max_wait = config.half_open_max_wait;
        }
        state
            .backpressure
            .store(config.mode == Mode::Backpressure, Relaxed);
        let version = current.version.wrapping_add(1);
        *current = Arc::new(Engine::new(state.clone(), config, version));
        state.version.store(version, Release);
        drop(current);
        // Waiters re-check under the new mode and limits.
        let wake = mem::take(&mut state.lock().waiters);
        wake.into_iter().for_each(Waker::wake);
        Ok(())
    }
}

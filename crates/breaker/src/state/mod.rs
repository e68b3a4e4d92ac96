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
use std::sync::atomic::Ordering::*;
use std::sync::{Arc, PoisonError};
use std::task::Waker;
use std::time::Duration;

use bulwark_policy::{Backoff, BreakerState, ConfigError, Event, EventKind, Rng, SharedHook};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::{BreakerConfig, Mode};
use crate::sync::{AtomicBool, AtomicU32, AtomicU64, Mutex, MutexGuard};

mod engine;
mod ticket;

pub(crate) use engine::Engine;
pub(crate) use ticket::{Admit, Refusal, Ticket};

const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;
const FORCED_OPEN: u64 = 3;
const FORCED_CLOSED: u64 = 4;
const DISABLED: u64 = 5;
const METRICS_ONLY: u64 = 6;
const STATE_BITS: u32 = 3;
const STATE_MASK: u64 = (1 << STATE_BITS) - 1;

const fn state_of(word: u64) -> u64 {
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

    /// Reports the event `kind` builds, if a hook is set; with none, nothing is built.
    #[inline]
    fn emit(&self, kind: impl FnOnce() -> EventKind) {
        self.hook.emit(|| {
            let event = Event::new(&self.name, kind());
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
        self.emit(|| EventKind::BreakerRejected { retry_after });
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
            state.emit(|| EventKind::BreakerTransition { from, to });
        }
        for w in self.wake {
            w.wake();
        }
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

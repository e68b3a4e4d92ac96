//! Admission's answer and the ticket an admitted call carries to its end.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bulwark_policy::{EventKind, Outcome};
use tokio::time::Instant;

use super::engine::Lane;
use super::{state_of, HALF_OPEN, METRICS_ONLY};

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
///
/// Three words and nothing else, so that moving the future that holds it is plain word copies.
pub(crate) struct Ticket {
    lane: Arc<Lane>,
    /// The state word that admitted the call: a probe's is half-open. [`FINISHED`] once the
    /// outcome is recorded.
    pub(super) word: u64,
    /// When the call was sent, as [`Core::started`](super::engine::Core::started) gives it.
    start: u64,
}

/// A ticket's word once its outcome is recorded: no state word has all state bits set.
const FINISHED: u64 = u64::MAX;
const _: () = assert!(state_of(FINISHED) > METRICS_ONLY);

impl Ticket {
    #[inline(always)]
    pub(super) fn new(lane: Arc<Lane>, word: u64, start: u64) -> Self {
        Self { lane, word, start }
    }

    /// Whether the call is a half-open probe, holding a permit.
    #[inline(always)]
    pub(super) fn probe(&self) -> bool {
        state_of(self.word) == HALF_OPEN
    }

    /// Marks the moment the call is sent.
    #[inline]
    pub(crate) fn start(&mut self) {
        self.start = self.lane.started();
    }

    /// How long the call ran until `end` (nanoseconds since the epoch); zero when untimed.
    pub(super) fn elapsed(&self, end: u64) -> Duration {
        match self.start {
            0 => Duration::ZERO,
            start => Duration::from_nanos(end.saturating_sub(start - 1)),
        }
    }

    /// Records the outcome, once. Finishing in place, rather than by value, spares the hot path
    /// a copy of the ticket.
    #[inline(always)]
    pub(crate) fn finish(&mut self, outcome: Outcome) {
        if self.word == FINISHED {
            return;
        }
        self.lane.finish(self, outcome);
        // Set only now: if a hook panics above, the drop still gives a probe's permit back.
        self.word = FINISHED;
    }
}

impl Drop for Ticket {
    #[inline]
    fn drop(&mut self) {
        if self.word != FINISHED {
            self.cancel();
        }
    }
}

impl Ticket {
    /// The call ended unfinished.
    #[cold]
    fn cancel(&mut self) {
        if self.start != 0 && !std::thread::panicking() {
            let duration = self.elapsed(self.lane.state.nanos(Instant::now()));
            self.lane.state.emit(|| EventKind::BreakerCall {
                outcome: Outcome::Ignore,
                duration,
            });
        }
        if self.probe() {
            self.lane.probe_done(self.word, None, false);
        }
    }
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("probe", &self.probe())
            .finish()
    }
}

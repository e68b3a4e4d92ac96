//! Admission's answer and the ticket an admitted call carries to its end.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bulwark_policy::{EventKind, Outcome};
use tokio::time::Instant;

use super::engine::Lane;

/// What admission decided.
pub(crate) enum Admit {
    /// Go ahead, admitted in the closed-like state `word`; [`Engine::ticket`] makes its ticket
    /// when the call is sent, so `poll_ready` holds no reference.
    Closed(u64),
    /// Go ahead as a half-open probe, holding a permit.
    Probe(Ticket),
    /// Only from [`Engine::check`]: half-open in the state word given, with a probe permit
    /// free, which is not taken.
    ///
    /// [`Engine::check`]: super::Engine::check
    Free(u64),
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
    lane: Arc<Lane>,
    pub(super) word: u64,
    /// When the call was sent, in nanoseconds since the breaker's epoch, plus one; 0 when the
    /// call is not timed. Plain integers keep the ticket small on the hot path.
    start: u64,
    pub(super) probe: bool,
    done: bool,
}

impl Ticket {
    pub(super) fn new(lane: Arc<Lane>, word: u64, probe: bool) -> Self {
        Self {
            lane,
            word,
            start: 0,
            probe,
            done: false,
        }
    }

    /// Marks the moment the call is sent.
    #[inline]
    pub(crate) fn start(&mut self) {
        if self.lane.timing {
            self.start = self.lane.state.nanos(Instant::now()).saturating_add(1);
        }
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
    #[inline]
    pub(crate) fn finish(&mut self, outcome: Outcome) {
        if self.done {
            return;
        }
        self.lane.finish(self, outcome);
        // Set only now: if a hook panics above, the drop still gives a probe's permit back.
        self.done = true;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if self.start != 0 && !std::thread::panicking() {
            let duration = self.elapsed(self.lane.state.nanos(Instant::now()));
            self.lane.state.emit(|| EventKind::BreakerCall {
                outcome: Outcome::Ignore,
                duration,
            });
        }
        if self.probe {
            self.lane.probe_done(self.word, None, false);
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

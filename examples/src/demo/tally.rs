//! The hook that counts what bulwark's layers did during the run.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bulwark_policy::{BreakerState, Event, EventKind, Hook};
use tokio::time::Instant;

use super::upstream::Fault;

/// A breaker's change of state, as the hook saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// When, from the scenario's start.
    pub at: Duration,
    /// The replica whose breaker it was.
    pub replica: Fault,
    /// The state it left.
    pub from: BreakerState,
    /// The state it entered.
    pub to: BreakerState,
}

/// Counts of the events bulwark's layers reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventCounts {
    /// Retries sent (attempts after the first).
    pub retries: u64,
    /// Requests that used every attempt and still failed.
    pub retries_exhausted: u64,
    /// Requests whose retries the budget refused.
    pub budget_exhausted: u64,
    /// Attempts cut by the per-attempt timeout.
    pub attempt_timeouts: u64,
    /// Calls cut by the total timeout.
    pub total_timeouts: u64,
    /// Answers made up by the fallback.
    pub fallbacks: u64,
    /// Replicas ejected by the balancer's outlier detection.
    pub ejections: u64,
    /// Ejected replicas let back in.
    pub restorations: u64,
    /// Every breaker transition, in order.
    pub transitions: Vec<Transition>,
}

/// The live state of one replica as bulwark's layers see it.
#[derive(Debug)]
struct ReplicaState {
    breaker: AtomicU8,
    ejected: AtomicBool,
}

/// A [`Hook`] that counts retries, timeouts, fallbacks, ejections and breaker transitions, and
/// keeps each replica's breaker state and ejection for the status line.
///
/// The counts sit behind a lock: every event they count comes from a failure path (a retry, a
/// timeout, a fallback, an ejection, a transition), never from a success.
#[derive(Debug)]
pub(crate) struct Tally {
    start: Instant,
    counts: Mutex<EventCounts>,
    replicas: [ReplicaState; 3],
}

fn replica(name: &str) -> Option<usize> {
    Fault::ALL.iter().position(|f| f.name() == name)
}

fn state_index(state: BreakerState) -> u8 {
    BreakerState::ALL
        .iter()
        .position(|s| *s == state)
        .unwrap_or(0) as u8
}

impl Tally {
    pub(crate) fn new(start: Instant) -> Self {
        let closed = state_index(BreakerState::Closed);
        Self {
            start,
            counts: Mutex::default(),
            replicas: std::array::from_fn(|_| ReplicaState {
                breaker: AtomicU8::new(closed),
                ejected: AtomicBool::new(false),
            }),
        }
    }

    /// The breaker state and ejection of each replica, in [`Fault::ALL`] order.
    pub(crate) fn replica_states(&self) -> [(BreakerState, bool); 3] {
        std::array::from_fn(|i| {
            let state = self.replicas[i].breaker.load(Ordering::Relaxed);
            (
                BreakerState::ALL[state as usize],
                self.replicas[i].ejected.load(Ordering::Relaxed),
            )
        })
    }

    pub(crate) fn counts(&self) -> EventCounts {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, EventCounts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn endpoint(&self, event: &Event<'_>) -> Option<&ReplicaState> {
        let key = event.key()?.to_string();
        replica(&key).map(|i| &self.replicas[i])
    }
}

impl Hook for Tally {
    fn on_event(&self, event: &Event<'_>) {
        match *event.kind() {
            EventKind::RetryAttempt { .. } => self.lock().retries += 1,
            EventKind::RetriesExhausted { .. } => self.lock().retries_exhausted += 1,
            EventKind::BudgetExhausted { .. } => self.lock().budget_exhausted += 1,
            EventKind::TimeoutElapsed { .. } if event.name() == "total" => {
                self.lock().total_timeouts += 1;
            }
            EventKind::TimeoutElapsed { .. } => self.lock().attempt_timeouts += 1,
            EventKind::FallbackUsed { .. } => self.lock().fallbacks += 1,
            EventKind::EndpointEjected { .. } => {
                self.lock().ejections += 1;
                if let Some(r) = self.endpoint(event) {
                    r.ejected.store(true, Ordering::Relaxed);
                }
            }
            EventKind::EndpointRestored => {
                self.lock().restorations += 1;
                if let Some(r) = self.endpoint(event) {
                    r.ejected.store(false, Ordering::Relaxed);
                }
            }
            EventKind::BreakerTransition { from, to } => {
                let Some(i) = replica(event.name()) else {
                    return;
                };
                self.replicas[i]
                    .breaker
                    .store(state_index(to), Ordering::Relaxed);
                self.lock().transitions.push(Transition {
                    at: self.start.elapsed(),
                    replica: Fault::ALL[i],
                    from,
                    to,
                });
            }
            _ => {}
        }
    }
}

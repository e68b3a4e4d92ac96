//! The hook that counts what bulwark's layers did during the run.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;
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
#[derive(Debug)]
pub(crate) struct Tally {
    start: Instant,
    retries: AtomicU64,
    retries_exhausted: AtomicU64,
    budget_exhausted: AtomicU64,
    attempt_timeouts: AtomicU64,
    total_timeouts: AtomicU64,
    fallbacks: AtomicU64,
    ejections: AtomicU64,
    restorations: AtomicU64,
    transitions: Mutex<Vec<Transition>>,
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
            retries: AtomicU64::new(0),
            retries_exhausted: AtomicU64::new(0),
            budget_exhausted: AtomicU64::new(0),
            attempt_timeouts: AtomicU64::new(0),
            total_timeouts: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            ejections: AtomicU64::new(0),
            restorations: AtomicU64::new(0),
            transitions: Mutex::new(Vec::new()),
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
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        EventCounts {
            retries: n(&self.retries),
            retries_exhausted: n(&self.retries_exhausted),
            budget_exhausted: n(&self.budget_exhausted),
            attempt_timeouts: n(&self.attempt_timeouts),
            total_timeouts: n(&self.total_timeouts),
            fallbacks: n(&self.fallbacks),
            ejections: n(&self.ejections),
            restorations: n(&self.restorations),
            transitions: self
                .transitions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }

    fn endpoint(&self, event: &Event<'_>) -> Option<&ReplicaState> {
        let key = event.key()?.to_string();
        replica(&key).map(|i| &self.replicas[i])
    }
}

impl Hook for Tally {
    fn on_event(&self, event: &Event<'_>) {
        let bump = |c: &AtomicU64| {
            c.fetch_add(1, Ordering::Relaxed);
        };
        match *event.kind() {
            EventKind::RetryAttempt { .. } => bump(&self.retries),
            EventKind::RetriesExhausted { .. } => bump(&self.retries_exhausted),
            EventKind::BudgetExhausted { .. } => bump(&self.budget_exhausted),
            EventKind::TimeoutElapsed { .. } if event.name() == "total" => {
                bump(&self.total_timeouts)
            }
            EventKind::TimeoutElapsed { .. } => bump(&self.attempt_timeouts),
            EventKind::FallbackUsed { .. } => bump(&self.fallbacks),
            EventKind::EndpointEjected { .. } => {
                bump(&self.ejections);
                if let Some(r) = self.endpoint(event) {
                    r.ejected.store(true, Ordering::Relaxed);
                }
            }
            EventKind::EndpointRestored => {
                bump(&self.restorations);
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
                self.transitions
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Transition {
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

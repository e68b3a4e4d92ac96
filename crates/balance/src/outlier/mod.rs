//! Outlier detection: taking sick endpoints out of rotation for a while, as Envoy and Finagle
//! do.
//!
//! Every finished call is classified by the balancer's [`Classify`](bulwark_policy::Classify),
//! the same verdict retry and the breaker use, and counted against the endpoint that served it.
//! An endpoint is *ejected* after too many consecutive failures, or when its failure
//! percentage over an interval, once it has seen enough calls, reaches a threshold.
//!
//! - **Ejection time** is `base × n` for the endpoint's `n`-th ejection in a row, capped, with
//!   proportional jitter, so an endpoint that keeps failing stays out longer each time. The
//!   count starts over once the endpoint has stayed in rotation for the cap.
//! - **Restoration** is lazy: the first pick after an ejection ends puts the endpoint back and
//!   reports [`EndpointRestored`](bulwark_policy::EventKind::EndpointRestored). No timer task
//!   is needed.
//! - **The maximum ejection percentage** bounds how many endpoints may be out at once (at least
//!   one, when it is above zero, as in Envoy), so a failure that is everyone's fault does not
//!   empty the pool.
//! - **The panic threshold**: when fewer than that percentage of endpoints are healthy,
//!   ejections are ignored and every endpoint takes traffic again. A balancer in panic spreads
//!   load over all endpoints rather than crushing the last healthy ones.

use std::fmt::Display;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bulwark_policy::{Event, EventKind, Outcome};

use crate::endpoint::{lock, nanos, Cluster, Endpoint};

mod config;

use config::FailureRate;
pub use config::{OutlierDetection, OutlierDetectionBuilder};

/// One endpoint's outlier counters.
#[derive(Debug, Default)]
pub(crate) struct Health {
    consecutive: AtomicU32,
    window_start: AtomicU64,
    window_ok: AtomicU32,
    window_failed: AtomicU32,
    /// When the current ejection ends, in nanoseconds since the cluster's epoch; 0 when in
    /// rotation.
    ejected_until: AtomicU64,
    ejections: AtomicU32,
    restored_at: AtomicU64,
}

impl Health {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    #[inline]
    pub(crate) fn is_ejected(&self) -> bool {
        self.ejected_until.load(Ordering::Relaxed) != 0
    }

    /// Ends any ejection; whether there was one.
    pub(crate) fn clear_ejection(&self) -> bool {
        self.ejected_until.swap(0, Ordering::SeqCst) != 0
    }

    /// How many times in a row the endpoint has been ejected.
    pub(crate) fn ejections(&self) -> u32 {
        self.ejections.load(Ordering::Relaxed)
    }
}

/// Whether ejections are honoured now: some endpoint is ejected and the balancer is not in
/// panic.
#[inline]
pub(crate) fn ejections_apply(cluster: &Cluster, total: usize) -> bool {
    let ejected = cluster.ejected.load(Ordering::Relaxed);
    if ejected == 0 {
        return false;
    }
    let threshold = cluster.outlier.as_ref().map_or(0.0, |o| o.panic_threshold);
    let healthy = total.saturating_sub(ejected) as f64;
    healthy * 100.0 >= threshold * total as f64
}

/// Puts back every endpoint whose ejection has ended. Cheap unless one is due.
pub(crate) fn restore_expired<K: Display, S>(cluster: &Cluster, list: &[Arc<Endpoint<K, S>>]) {
    let now = cluster.now();
    if now < cluster.next_expiry.load(Ordering::SeqCst) {
        return;
    }
    cluster.next_expiry.store(u64::MAX, Ordering::SeqCst);
    for ep in list {
        let until = ep.health.ejected_until.load(Ordering::SeqCst);
        if until == 0 {
            continue;
        }
        if now < until {
            cluster.next_expiry.fetch_min(until, Ordering::SeqCst);
            continue;
        }
        let won = ep
            .health
            .ejected_until
            .compare_exchange(until, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        if won {
            cluster.ejected.fetch_sub(1, Ordering::SeqCst);
            ep.health.restored_at.store(now, Ordering::Relaxed);
            cluster
                .hook
                .emit(|| Event::new(&cluster.name, EventKind::EndpointRestored).with_key(&ep.key));
        }
    }
}

/// Counts a finished call against its endpoint, and ejects the endpoint if it crossed a line.
#[inline]
pub(crate) fn record<K: Display, S>(ep: &Endpoint<K, S>, outcome: &Outcome) {
    if let Some(cfg) = &ep.cluster.outlier {
        count(ep, cfg, outcome);
    }
}

fn count<K: Display, S>(ep: &Endpoint<K, S>, cfg: &OutlierDetection, outcome: &Outcome) {
    let h = &ep.health;
    match outcome {
        Outcome::Success => {
            if h.consecutive.load(Ordering::Relaxed) != 0 {
                h.consecutive.store(0, Ordering::Relaxed);
            }
            if let Some(rate) = &cfg.failure_rate {
                window_add(h, rate, ep.cluster.now(), false);
            }
        }
        Outcome::Failure(_) => {
            let mut eject = cfg
                .consecutive_failures
                .is_some_and(|n| h.consecutive.fetch_add(1, Ordering::Relaxed) + 1 >= n);
            if let Some(rate) = &cfg.failure_rate {
                let (ok, failed) = window_add(h, rate, ep.cluster.now(), true);
                let total = ok.saturating_add(failed);
                eject |= total >= rate.min_requests
                    && f64::from(failed) * 100.0 >= rate.percent * f64::from(total);
            }
            if eject && !h.is_ejected() {
                try_eject(ep, cfg);
            }
        }
        _ => {}
    }
}

/// Adds one call to the endpoint's current interval, starting a new one when it is over.
fn window_add(h: &Health, rate: &FailureRate, now: u64, failed: bool) -> (u32, u32) {
    let start = h.window_start.load(Ordering::Relaxed);
    if now.saturating_sub(start) >= nanos(rate.interval)
        && h.window_start
            .compare_exchange(start, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        h.window_ok.store(0, Ordering::Relaxed);
        h.window_failed.store(0, Ordering::Relaxed);
    }
    let (add_ok, add_failed) = if failed { (0, 1) } else { (1, 0) };
    let ok = h.window_ok.fetch_add(add_ok, Ordering::Relaxed) + add_ok;
    let failed = h.window_failed.fetch_add(add_failed, Ordering::Relaxed) + add_failed;
    (ok, failed)
}

fn try_eject<K: Display, S>(ep: &Endpoint<K, S>, cfg: &OutlierDetection) {
    let cluster = &ep.cluster;
    let h = &ep.health;
    let limit = cfg.max_ejected(cluster.total.load(Ordering::Relaxed));
    let reserved = cluster
        .ejected
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |e| {
            (e < limit).then_some(e + 1)
        });
    if reserved.is_err() {
        return;
    }
    let now = cluster.now();
    let mut previous = h.ejections.load(Ordering::Relaxed);
    if now.saturating_sub(h.restored_at.load(Ordering::Relaxed)) >= nanos(cfg.max_ejection_time) {
        previous = 0;
    }
    let count = previous.saturating_add(1);
    let duration = cfg
        .backoff
        .delay(previous, Duration::ZERO, &mut lock(&cluster.rng));
    let until = now.saturating_add(nanos(duration)).max(1);
    if h.ejected_until
        .compare_exchange(0, until, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        cluster.ejected.fetch_sub(1, Ordering::SeqCst);
        return;
    }
    // A removal that ran between the reservation and the ejection saw nothing to undo.
    if ep.is_removed() {
        if h.clear_ejection() {
            cluster.ejected.fetch_sub(1, Ordering::SeqCst);
        }
        return;
    }
    h.ejections.store(count, Ordering::Relaxed);
    h.consecutive.store(0, Ordering::Relaxed);
    h.window_ok.store(0, Ordering::Relaxed);
    h.window_failed.store(0, Ordering::Relaxed);
    cluster.next_expiry.fetch_min(until, Ordering::SeqCst);
    cluster.hook.emit(|| {
        Event::new(
            &cluster.name,
            EventKind::EndpointEjected {
                ejections: count,
                duration,
            },
        )
        .with_key(&ep.key)
    });
}

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

use bulwark_policy::{Backoff, ConfigError, Event, EventKind, Jitter, Outcome};

use crate::endpoint::{lock, nanos, Cluster, Endpoint};

/// Outlier detection settings, validated.
///
/// The defaults are Envoy's: eject after 5 consecutive failures for 30 s times the ejection
/// count, at most 300 s, with at most 10% of endpoints out at once and a panic threshold of 50%.
/// With the `serde` feature it deserialises from the same fields, validated as the builder
/// validates, with durations written like `"30s"`.
///
/// ```
/// use std::time::Duration;
/// use bulwark_balance::OutlierDetection;
///
/// let outlier = OutlierDetection::builder()
///     .consecutive_failures(Some(3))
///     .failure_percentage(50.0, 20, Duration::from_secs(10))
///     .base_ejection_time(Duration::from_secs(5))
///     .max_ejection_percent(50.0)
///     .build()
///     .unwrap();
/// assert_eq!(outlier.get_consecutive_failures(), Some(3));
/// assert!(OutlierDetection::builder().max_ejection_percent(120.0).build().is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct OutlierDetection {
    consecutive_failures: Option<u32>,
    failure_rate: Option<FailureRate>,
    base_ejection_time: Duration,
    max_ejection_time: Duration,
    jitter: f64,
    max_ejection_percent: f64,
    panic_threshold: f64,
    backoff: Backoff,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct FailureRate {
    percent: f64,
    min_requests: u32,
    interval: Duration,
}

impl Default for OutlierDetection {
    fn default() -> Self {
        OutlierDetectionBuilder::default()
            .build()
            .expect("the default settings are valid")
    }
}

impl OutlierDetection {
    /// A builder starting from the defaults.
    ///
    /// ```
    /// let o = bulwark_balance::OutlierDetection::builder().build().unwrap();
    /// assert_eq!(o, bulwark_balance::OutlierDetection::default());
    /// ```
    pub fn builder() -> OutlierDetectionBuilder {
        OutlierDetectionBuilder::default()
    }

    /// After how many consecutive failures an endpoint is ejected, if that rule is on.
    ///
    /// ```
    /// assert_eq!(bulwark_balance::OutlierDetection::default().get_consecutive_failures(), Some(5));
    /// ```
    pub fn get_consecutive_failures(&self) -> Option<u32> {
        self.consecutive_failures
    }

    /// The ejection time of a first ejection.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let o = bulwark_balance::OutlierDetection::default();
    /// assert_eq!(o.get_base_ejection_time(), Duration::from_secs(30));
    /// ```
    pub fn get_base_ejection_time(&self) -> Duration {
        self.base_ejection_time
    }

    /// The percentage of endpoints that may be ejected at once.
    ///
    /// ```
    /// assert_eq!(bulwark_balance::OutlierDetection::default().get_max_ejection_percent(), 10.0);
    /// ```
    pub fn get_max_ejection_percent(&self) -> f64 {
        self.max_ejection_percent
    }

    /// Below this percentage of healthy endpoints, ejections are ignored.
    ///
    /// ```
    /// assert_eq!(bulwark_balance::OutlierDetection::default().get_panic_threshold(), 50.0);
    /// ```
    pub fn get_panic_threshold(&self) -> f64 {
        self.panic_threshold
    }

    fn max_ejected(&self, total: usize) -> usize {
        if self.max_ejection_percent <= 0.0 {
            return 0;
        }
        ((total as f64 * self.max_ejection_percent / 100.0).floor() as usize).max(1)
    }
}

/// Builds an [`OutlierDetection`]; [`build`](Self::build) refuses nonsense.
///
/// ```
/// use std::time::Duration;
/// use bulwark_balance::OutlierDetection;
///
/// let err = OutlierDetection::builder()
///     .failure_percentage(50.0, 10, Duration::ZERO)
///     .build()
///     .unwrap_err();
/// assert_eq!(err.field(), "failure_percentage.interval");
/// ```
#[derive(Debug, Clone)]
pub struct OutlierDetectionBuilder {
    consecutive_failures: Option<u32>,
    failure_rate: Option<FailureRate>,
    base_ejection_time: Duration,
    max_ejection_time: Duration,
    jitter: f64,
    max_ejection_percent: f64,
    panic_threshold: f64,
}

impl Default for OutlierDetectionBuilder {
    fn default() -> Self {
        Self {
            consecutive_failures: Some(5),
            failure_rate: None,
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            jitter: 0.0,
            max_ejection_percent: 10.0,
            panic_threshold: 50.0,
        }
    }
}

impl OutlierDetectionBuilder {
    /// Ejects after `n` failures in a row; `None` turns the rule off. Default 5.
    ///
    /// ```
    /// let o = bulwark_balance::OutlierDetection::builder().consecutive_failures(Some(2)).build().unwrap();
    /// assert_eq!(o.get_consecutive_failures(), Some(2));
    /// ```
    pub fn consecutive_failures(mut self, n: Option<u32>) -> Self {
        self.consecutive_failures = n;
        self
    }

    /// Ejects an endpoint whose failures reach `percent` (in `0..=100`) of its calls within one
    /// `interval`, once it has had `min_requests` calls in it. Off by default.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let o = bulwark_balance::OutlierDetection::builder()
    ///     .consecutive_failures(None)
    ///     .failure_percentage(25.0, 50, Duration::from_secs(30))
    ///     .build();
    /// assert!(o.is_ok());
    /// ```
    pub fn failure_percentage(
        mut self,
        percent: f64,
        min_requests: u32,
        interval: Duration,
    ) -> Self {
        self.failure_rate = Some(FailureRate {
            percent,
            min_requests,
            interval,
        });
        self
    }

    /// The first ejection's length; the `n`-th in a row lasts `n` times as long. Default 30 s.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let o = bulwark_balance::OutlierDetection::builder().base_ejection_time(Duration::from_secs(1)).build().unwrap();
    /// assert_eq!(o.get_base_ejection_time(), Duration::from_secs(1));
    /// ```
    pub fn base_ejection_time(mut self, base: Duration) -> Self {
        self.base_ejection_time = base;
        self
    }

    /// The longest ejection. Default 300 s.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = bulwark_balance::OutlierDetection::builder();
    /// assert!(b.max_ejection_time(Duration::from_secs(1)).build().is_err(), "shorter than the base");
    /// ```
    pub fn max_ejection_time(mut self, max: Duration) -> Self {
        self.max_ejection_time = max;
        self
    }

    /// Spreads ejection times by ± this fraction (in `0..=1`), still capped. Default 0.
    ///
    /// ```
    /// let b = bulwark_balance::OutlierDetection::builder();
    /// assert!(b.clone().ejection_jitter(0.2).build().is_ok());
    /// assert!(b.ejection_jitter(1.5).build().is_err());
    /// ```
    pub fn ejection_jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction;
        self
    }

    /// At most this percentage (in `0..=100`) of endpoints is ejected at once, and at least one
    /// when it is above zero. Default 10.
    ///
    /// ```
    /// let o = bulwark_balance::OutlierDetection::builder().max_ejection_percent(30.0).build().unwrap();
    /// assert_eq!(o.get_max_ejection_percent(), 30.0);
    /// ```
    pub fn max_ejection_percent(mut self, percent: f64) -> Self {
        self.max_ejection_percent = percent;
        self
    }

    /// Below this percentage (in `0..=100`) of healthy endpoints every endpoint takes traffic.
    /// Default 50; 0 turns panic mode off.
    ///
    /// ```
    /// let o = bulwark_balance::OutlierDetection::builder().panic_threshold(0.0).build().unwrap();
    /// assert_eq!(o.get_panic_threshold(), 0.0);
    /// ```
    pub fn panic_threshold(mut self, percent: f64) -> Self {
        self.panic_threshold = percent;
        self
    }

    /// Checks the settings.
    ///
    /// ```
    /// let err = bulwark_balance::OutlierDetection::builder().panic_threshold(101.0).build().unwrap_err();
    /// assert_eq!(err.field(), "panic_threshold");
    /// ```
    pub fn build(self) -> Result<OutlierDetection, ConfigError> {
        fn percent(field: &'static str, p: f64) -> Result<(), ConfigError> {
            if (0.0..=100.0).contains(&p) {
                Ok(())
            } else {
                Err(ConfigError::new(
                    field,
                    format!("must lie in 0..=100, got {p}"),
                ))
            }
        }
        if self.consecutive_failures == Some(0) {
            return Err(ConfigError::new(
                "consecutive_failures",
                "must be at least 1",
            ));
        }
        if let Some(rate) = self.failure_rate {
            percent("failure_percentage.percent", rate.percent)?;
            if rate.min_requests == 0 {
                return Err(ConfigError::new(
                    "failure_percentage.min_requests",
                    "must be at least 1",
                ));
            }
            if rate.interval.is_zero() {
                return Err(ConfigError::new(
                    "failure_percentage.interval",
                    "must be longer than zero",
                ));
            }
        }
        if self.consecutive_failures.is_none() && self.failure_rate.is_none() {
            return Err(ConfigError::new(
                "consecutive_failures",
                "with no failure percentage either, nothing would ever be ejected",
            ));
        }
        if self.base_ejection_time.is_zero() {
            return Err(ConfigError::new(
                "base_ejection_time",
                "must be longer than zero",
            ));
        }
        percent("max_ejection_percent", self.max_ejection_percent)?;
        percent("panic_threshold", self.panic_threshold)?;
        let backoff = Backoff::linear(self.base_ejection_time, self.base_ejection_time)
            .max_delay(self.max_ejection_time)
            .jitter(Jitter::Proportional(self.jitter));
        backoff.validate().map_err(|e| match e.field() {
            "max_delay" => ConfigError::new("max_ejection_time", e.reason().to_owned()),
            "jitter" => ConfigError::new("ejection_jitter", e.reason().to_owned()),
            _ => e,
        })?;
        Ok(OutlierDetection {
            consecutive_failures: self.consecutive_failures,
            failure_rate: self.failure_rate,
            base_ejection_time: self.base_ejection_time,
            max_ejection_time: self.max_ejection_time,
            jitter: self.jitter,
            max_ejection_percent: self.max_ejection_percent,
            panic_threshold: self.panic_threshold,
            backoff,
        })
    }
}

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
pub(crate) fn record<K: Display, S>(ep: &Endpoint<K, S>, outcome: &Outcome) {
    let Some(cfg) = &ep.cluster.outlier else {
        return;
    };
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

#[cfg(feature = "serde")]
mod de {
    use super::*;
    use bulwark_policy::serde_duration;
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Rate {
        percent: f64,
        min_requests: u32,
        #[serde(with = "serde_duration")]
        interval: Duration,
    }

    #[derive(Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Raw {
        consecutive_failures: Option<u32>,
        failure_percentage: Option<Rate>,
        #[serde(with = "serde_duration")]
        base_ejection_time: Duration,
        #[serde(with = "serde_duration")]
        max_ejection_time: Duration,
        ejection_jitter: f64,
        max_ejection_percent: f64,
        panic_threshold: f64,
    }

    impl Default for Raw {
        fn default() -> Self {
            let b = OutlierDetectionBuilder::default();
            Self {
                consecutive_failures: b.consecutive_failures,
                failure_percentage: None,
                base_ejection_time: b.base_ejection_time,
                max_ejection_time: b.max_ejection_time,
                ejection_jitter: b.jitter,
                max_ejection_percent: b.max_ejection_percent,
                panic_threshold: b.panic_threshold,
            }
        }
    }

    impl<'de> Deserialize<'de> for OutlierDetection {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let raw = Raw::deserialize(d)?;
            let mut b = OutlierDetection::builder()
                .consecutive_failures(raw.consecutive_failures)
                .base_ejection_time(raw.base_ejection_time)
                .max_ejection_time(raw.max_ejection_time)
                .ejection_jitter(raw.ejection_jitter)
                .max_ejection_percent(raw.max_ejection_percent)
                .panic_threshold(raw.panic_threshold);
            if let Some(r) = raw.failure_percentage {
                b = b.failure_percentage(r.percent, r.min_requests, r.interval);
            }
            b.build().map_err(serde::de::Error::custom)
        }
    }
}

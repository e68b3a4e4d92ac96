//! The run-time controls of one chaos instance, the per-call decision, and [`ChaosHandle`].

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bulwark_policy::{ConfigError, Event, EventKind, Fault, Rng, SharedHook};
use tokio::time::Instant;

use crate::config::{check_rate, Latency, OutageAnswer, OutageWindow};

/// Mixes the call number into the seed; any odd constant keeps the mapping one-to-one.
const CALL_MIX: u64 = 0xD1B5_4A32_D192_ED03;

const ERRORS: usize = 0;
const RESPONSES: usize = 1;
const DELAYS: usize = 2;
const OUTAGES: usize = 3;

/// What one call gets, decided when it is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    /// How long to wait before the action; zero for none.
    pub(crate) delay: Duration,
    pub(crate) action: Action,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Call the inner service.
    Call,
    /// Answer with the injected error.
    Error,
    /// Answer with the chosen response.
    Response,
}

impl Plan {
    const PASS: Plan = Plan {
        delay: Duration::ZERO,
        action: Action::Call,
    };
}

/// The state every clone of a layer, every service it wrapped and every handle share.
///
/// Everything a call reads is an atomic or immutable, so the call path takes no lock.
pub(crate) struct Controls {
    enabled: AtomicBool,
    // Rates are `f64` bits, so a handle reads back exactly the rate it set.
    error_rate: AtomicU64,
    response_rate: AtomicU64,
    latency_rate: AtomicU64,
    // In nanoseconds. A call racing `set_latency` may see one bound old and one new; if they
    // cross, `Rng::duration_between` returns `min`.
    latency_min: AtomicU64,
    latency_max: AtomicU64,
    has_error: bool,
    has_response: bool,
    seed: u64,
    start: Instant,
    outages: Box<[OutageWindow]>,
    outage_answer: OutageAnswer,
    calls: AtomicU64,
    injected: [AtomicU64; 4],
    pub(crate) name: Cow<'static, str>,
    pub(crate) hook: SharedHook,
}

/// The settings [`Controls::new`] takes, already validated.
pub(crate) struct Settings {
    pub(crate) enabled: bool,
    pub(crate) seed: u64,
    pub(crate) error_rate: f64,
    pub(crate) response_rate: f64,
    pub(crate) latency_rate: f64,
    pub(crate) latency: Latency,
    pub(crate) outages: Vec<OutageWindow>,
    pub(crate) outage_answer: OutageAnswer,
    pub(crate) has_error: bool,
    pub(crate) has_response: bool,
    pub(crate) start: Instant,
    pub(crate) name: Cow<'static, str>,
    pub(crate) hook: SharedHook,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Controls {
    pub(crate) fn new(s: Settings) -> Self {
        Self {
            enabled: AtomicBool::new(s.enabled),
            error_rate: AtomicU64::new(s.error_rate.to_bits()),
            response_rate: AtomicU64::new(s.response_rate.to_bits()),
            latency_rate: AtomicU64::new(s.latency_rate.to_bits()),
            latency_min: AtomicU64::new(nanos(s.latency.min)),
            latency_max: AtomicU64::new(nanos(s.latency.max)),
            has_error: s.has_error,
            has_response: s.has_response,
            seed: s.seed,
            start: s.start,
            outages: s.outages.into_boxed_slice(),
            outage_answer: s.outage_answer,
            calls: AtomicU64::new(0),
            injected: Default::default(),
            name: s.name,
            hook: s.hook,
        }
    }

    /// Decides what the next call gets, counts it and reports it.
    ///
    /// The call takes the next number from the shared counter, and its draws come from a
    /// generator seeded with that number mixed into the seed: the k-th call through an
    /// instance gets the same draws on every run, with no lock and no shared generator state
    /// to contend on. Each call makes the same draws whatever the rates, so changing one rate
    /// does not shift the others' decisions.
    pub(crate) fn plan(&self) -> Plan {
        if !self.enabled.load(Relaxed) {
            return Plan::PASS;
        }
        let n = self.calls.fetch_add(1, Relaxed);
        // The clock is read only when there is a schedule to check it against.
        if !self.outages.is_empty() && self.dark_at(Instant::now()) {
            self.count(OUTAGES, Fault::Outage);
            let action = match self.outage_answer {
                OutageAnswer::Response => Action::Response,
                OutageAnswer::Error => Action::Error,
            };
            return Plan {
                delay: Duration::ZERO,
                action,
            };
        }

        // One SplitMix64 step spreads the call seeds apart; seeding with `seed + n` directly
        // would make call n's second draw equal call n + 1's first.
        let mut rng = Rng::new(Rng::new(self.seed ^ n.wrapping_mul(CALL_MIX)).next_u64());
        let delay_draw = rng.next_f64();
        let answer_draw = rng.next_f64();
        let delay = rng.duration_between(
            Duration::from_nanos(self.latency_min.load(Relaxed)),
            Duration::from_nanos(self.latency_max.load(Relaxed)),
        );

        let delay = if delay_draw < rate(&self.latency_rate) && !delay.is_zero() {
            self.count(DELAYS, Fault::Latency(delay));
            delay
        } else {
            Duration::ZERO
        };
        // Errors and responses split one draw, so each holds its own rate exactly.
        let error_rate = rate(&self.error_rate);
        let action = if answer_draw < error_rate {
            self.count(ERRORS, Fault::Error);
            Action::Error
        } else if answer_draw < error_rate + rate(&self.response_rate) {
            self.count(RESPONSES, Fault::Response);
            Action::Response
        } else {
            Action::Call
        };
        Plan { delay, action }
    }

    fn dark_at(&self, now: Instant) -> bool {
        // Before an explicit start, no window has begun.
        match now.checked_duration_since(self.start) {
            Some(elapsed) => self.outages.iter().any(|w| w.contains(elapsed)),
            None => false,
        }
    }

    fn count(&self, which: usize, fault: Fault) {
        self.injected[which].fetch_add(1, Relaxed);
        self.hook
            .emit(|| Event::new(&self.name, EventKind::FaultInjected { fault }));
    }
}

fn rate(cell: &AtomicU64) -> f64 {
    f64::from_bits(cell.load(Relaxed))
}

impl fmt::Debug for Controls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Controls")
            .field("name", &self.name)
            .field("enabled", &self.enabled.load(Relaxed))
            .field("error_rate", &rate(&self.error_rate))
            .field("response_rate", &rate(&self.response_rate))
            .field("latency_rate", &rate(&self.latency_rate))
            .field("outages", &self.outages)
            .field("hook", &self.hook)
            .finish_non_exhaustive()
    }
}

/// Switches a chaos instance on and off and changes its rates while it runs.
///
/// Get one from [`ChaosLayer::handle`](crate::ChaosLayer::handle) or
/// [`Chaos::handle`](crate::Chaos::handle). Every handle, every clone of the layer and every
/// service it wrapped share one instance, so a change applies to all of them at once, from the
/// next call on. The setters are atomic stores: the call path never waits for them.
///
/// ```
/// use bulwark_chaos::ChaosLayer;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = ChaosLayer::builder().seed(1).error_rate(1.0).build().unwrap();
/// let handle = layer.handle();
/// let svc = layer.layer(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n) }));
///
/// assert!(svc.clone().oneshot(1).await.is_err());
/// handle.disable();
/// assert_eq!(svc.clone().oneshot(2).await.unwrap(), 2);
/// handle.enable();
/// handle.set_error_rate(0.0).unwrap();
/// assert_eq!(svc.oneshot(3).await.unwrap(), 3);
/// assert_eq!(handle.stats().errors, 1);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ChaosHandle {
    controls: Arc<Controls>,
}

/// What a chaos instance has done since it was built.
///
/// `calls` counts the calls made while it was enabled; each other field counts one kind of
/// fault. A delayed call that also got an injected answer counts in both.
///
/// ```
/// use bulwark_chaos::ChaosLayer;
///
/// let layer = ChaosLayer::<()>::builder().build().unwrap();
/// let stats = layer.handle().stats();
/// assert_eq!(stats.calls, 0);
/// assert_eq!(stats.injected(), 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ChaosStats {
    /// Calls made while enabled.
    pub calls: u64,
    /// Calls answered with an injected error, outages not included.
    pub errors: u64,
    /// Calls answered with a chosen response, outages not included.
    pub responses: u64,
    /// Calls delayed.
    pub delays: u64,
    /// Calls that fell in an outage window.
    pub outages: u64,
}

impl ChaosStats {
    /// Every fault injected, of any kind.
    ///
    /// ```
    /// let stats = bulwark_chaos::ChaosStats::default();
    /// assert_eq!(stats.injected(), 0);
    /// ```
    pub fn injected(&self) -> u64 {
        self.errors
            .saturating_add(self.responses)
            .saturating_add(self.delays)
            .saturating_add(self.outages)
    }
}

impl ChaosHandle {
    pub(crate) fn new(controls: Arc<Controls>) -> Self {
        Self { controls }
    }

    /// Starts injecting again.
    ///
    /// ```
    /// let handle = bulwark_chaos::ChaosLayer::<()>::builder().enabled(false).build().unwrap().handle();
    /// handle.enable();
    /// assert!(handle.is_enabled());
    /// ```
    pub fn enable(&self) {
        self.set_enabled(true);
    }

    /// Stops injecting: every call goes straight to the inner service, and is not counted.
    ///
    /// ```
    /// let handle = bulwark_chaos::ChaosLayer::<()>::builder().build().unwrap().handle();
    /// handle.disable();
    /// assert!(!handle.is_enabled());
    /// ```
    pub fn disable(&self) {
        self.set_enabled(false);
    }

    /// Enables or disables injection.
    ///
    /// ```
    /// let handle = bulwark_chaos::ChaosLayer::<()>::builder().build().unwrap().handle();
    /// handle.set_enabled(false);
    /// assert!(!handle.is_enabled());
    /// ```
    pub fn set_enabled(&self, enabled: bool) {
        self.controls.enabled.store(enabled, Relaxed);
    }

    /// Whether it injects.
    ///
    /// ```
    /// let handle = bulwark_chaos::ChaosLayer::<()>::builder().build().unwrap().handle();
    /// assert!(handle.is_enabled());
    /// ```
    pub fn is_enabled(&self) -> bool {
        self.controls.enabled.load(Relaxed)
    }

    /// Sets the probability that a call fails with an injected error; refuses one outside
    /// 0..=1, or above 0 when the layer was built
    /// [`without_errors`](crate::ChaosBuilder::without_errors).
    ///
    /// ```
    /// let handle = bulwark_chaos::ChaosLayer::<()>::builder().build().unwrap().handle();
    /// handle.set_error_rate(0.25).unwrap();
    /// assert_eq!(handle.error_rate(), 0.25);
    /// assert!(handle.set_error_rate(1.5).is_err());
    /// assert_eq!(handle.error_rate(), 0.25);
    /// ```
    pub fn set_error_rate(&self, rate: f64) -> Result<(), ConfigError> {
        check_rate("error_rate", rate)?;
        if rate > 0.0 && !self.controls.has_error {
            return Err(no_error("error_rate"));
        }
        self.controls.error_rate.store(rate.to_bits(), Relaxed);
        Ok(())
    }

    /// The probability that a call fails with an injected error.
    ///
    /// ```
    /// let handle = bulwark_chaos::ChaosLayer::<()>::builder().error_rate(0.1).build().unwrap().handle();
    /// assert_eq!(handle.error_rate(), 0.1);
    /// ```
    pub fn error_rate(&self) -> f64 {
        rate(&self.controls.error_rate)
    }

    /// Sets the probability that a call gets the chosen response; refuses one outside 0..=1,
    /// or above 0 when the layer was built without
    /// [`response_with`](crate::ChaosBuilder::response_with).
    ///
    /// ```
    /// use bulwark_chaos::ChaosLayer;
    ///
    /// let with = ChaosLayer::builder().response_with(|| 503u16).build().unwrap().handle();
    /// with.set_response_rate(0.5).unwrap();
    /// assert_eq!(with.response_rate(), 0.5);
    ///
    /// let without = ChaosLayer::<u16>::builder().build().unwrap().handle();
    /// assert!(without.set_response_rate(0.5).is_err());
    /// assert!(without.set_response_rate(0.0).is_ok());
    /// ```
    pub fn set_response_rate(&self, rate: f64) -> Result<(), ConfigError> {
        check_rate("response_rate", rate)?;
        if rate > 0.0 && !self.controls.has_response {
            return Err(no_response("response_rate"));
        }
        self.controls.response_rate.store(rate.to_bits(), Relaxed);
        Ok(())
    }

    /// The probability that a call gets the chosen response.
    ///
    /// ```
    /// let handle = bulwark_chaos::ChaosLayer::<()>::builder().build().unwrap().handle();
    /// assert_eq!(handle.response_rate(), 0.0);
    /// ```
    pub fn response_rate(&self) -> f64 {
        rate(&self.controls.response_rate)
    }

    /// Sets the probability that a call is delayed; refuses one outside 0..=1.
    ///
    /// ```
    /// let handle = bulwark_chaos::ChaosLayer::<()>::builder().build().unwrap().handle();
    /// handle.set_latency_rate(1.0).unwrap();
    /// assert_eq!(handle.latency_rate(), 1.0);
    /// assert!(handle.set_latency_rate(f64::NAN).is_err());
    /// ```
    pub fn set_latency_rate(&self, rate: f64) -> Result<(), ConfigError> {
        check_rate("latency_rate", rate)?;
        self.controls.latency_rate.store(rate.to_bits(), Relaxed);
        Ok(())
    }

    /// The probability that a call is delayed.
    ///
    /// ```
    /// let handle = bulwark_chaos::ChaosLayer::<()>::builder().latency_rate(0.3).build().unwrap().handle();
    /// assert_eq!(handle.latency_rate(), 0.3);
    /// ```
    pub fn latency_rate(&self) -> f64 {
        rate(&self.controls.latency_rate)
    }

    /// Sets how long a delayed call waits; refuses `min > max`. Durations are kept to the
    /// nanosecond, up to about 584 years.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_chaos::Latency;
    ///
    /// let handle = bulwark_chaos::ChaosLayer::<()>::builder().build().unwrap().handle();
    /// let spike = Latency::uniform(Duration::from_millis(100), Duration::from_millis(900));
    /// handle.set_latency(spike).unwrap();
    /// assert_eq!(handle.latency(), spike);
    /// assert!(handle.set_latency(Latency::uniform(Duration::from_secs(1), Duration::ZERO)).is_err());
    /// ```
    pub fn set_latency(&self, latency: Latency) -> Result<(), ConfigError> {
        latency.validate()?;
        self.controls.latency_max.store(nanos(latency.max), Relaxed);
        self.controls.latency_min.store(nanos(latency.min), Relaxed);
        Ok(())
    }

    /// How long a delayed call waits.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_chaos::{ChaosLayer, Latency};
    ///
    /// let fixed = Latency::fixed(Duration::from_millis(20));
    /// let handle = ChaosLayer::<()>::builder().latency(fixed).build().unwrap().handle();
    /// assert_eq!(handle.latency(), fixed);
    /// ```
    pub fn latency(&self) -> Latency {
        Latency::uniform(
            Duration::from_nanos(self.controls.latency_min.load(Relaxed)),
            Duration::from_nanos(self.controls.latency_max.load(Relaxed)),
        )
    }

    /// Whether a call made now would fall in an outage window.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_chaos::ChaosLayer;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let layer = ChaosLayer::<()>::builder()
    ///     .outage(Duration::from_secs(1), Duration::from_secs(2))
    ///     .build()
    ///     .unwrap();
    /// let handle = layer.handle();
    /// assert!(!handle.in_outage());
    /// tokio::time::sleep(Duration::from_secs(1)).await;
    /// assert!(handle.in_outage());
    /// # }
    /// ```
    pub fn in_outage(&self) -> bool {
        self.controls.dark_at(Instant::now())
    }

    /// The instant outage windows are measured from.
    ///
    /// ```
    /// use bulwark_chaos::ChaosLayer;
    /// use tokio::time::Instant;
    ///
    /// let start = Instant::now();
    /// let layer = ChaosLayer::<()>::builder().start_at(start).build().unwrap();
    /// assert_eq!(layer.handle().start(), start);
    /// ```
    pub fn start(&self) -> Instant {
        self.controls.start
    }

    /// The seed its draws come from, whether given or drawn from entropy; build a layer with
    /// it to replay a run.
    ///
    /// ```
    /// let handle = bulwark_chaos::ChaosLayer::<()>::builder().seed(42).build().unwrap().handle();
    /// assert_eq!(handle.seed(), 42);
    /// ```
    pub fn seed(&self) -> u64 {
        self.controls.seed
    }

    /// What it has done so far.
    ///
    /// ```
    /// use bulwark_chaos::ChaosLayer;
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let layer = ChaosLayer::builder().seed(3).error_rate(1.0).build().unwrap();
    /// let svc = layer.layer(service_fn(|n: u8| async move { Ok::<_, std::io::Error>(n) }));
    /// let _ = svc.oneshot(0).await;
    /// let stats = layer.handle().stats();
    /// assert_eq!((stats.calls, stats.errors), (1, 1));
    /// # }
    /// ```
    pub fn stats(&self) -> ChaosStats {
        let injected = |i: usize| self.controls.injected[i].load(Relaxed);
        ChaosStats {
            calls: self.controls.calls.load(Relaxed),
            errors: injected(ERRORS),
            responses: injected(RESPONSES),
            delays: injected(DELAYS),
            outages: injected(OUTAGES),
        }
    }
}

/// The complaint when a response is asked for and none was given.
pub(crate) fn no_response(field: &'static str) -> ConfigError {
    ConfigError::new(
        field,
        "there is no response to inject: give one with `ChaosBuilder::response_with`",
    )
}

/// The complaint when an error is asked for from a layer built without errors.
pub(crate) fn no_error(field: &'static str) -> ConfigError {
    ConfigError::new(
        field,
        "the layer was built `without_errors`: there is no error to inject",
    )
}

//! The breaker's configuration: plain data, validated by the builder, by
//! [`BreakerHandle::reconfigure`](crate::BreakerHandle::reconfigure) and by deserialisation.

use std::time::Duration;

use bulwark_policy::{Backoff, ConfigError, Jitter};

/// What `poll_ready` does while the breaker rejects calls.
///
/// ```
/// use bulwark_breaker::Mode;
///
/// assert_eq!(Mode::default(), Mode::FailFast);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Mode {
    /// `poll_ready` is `Ready` without touching the inner service, and `call` answers
    /// [`Rejected`](crate::Rejected) at once, like `tower::load_shed`.
    #[default]
    FailFast,
    /// `poll_ready` is `Pending` while the breaker is open, and wakes when it half-opens or a
    /// probe permit comes free: for endpoints inside a balancer, which then picks another.
    /// Half-open, every waiter is woken when a permit comes free and the first `call` takes
    /// it; the others lose the race and are refused with `Rejected { retry_after: None }`, as
    /// `call` cannot wait.
    Backpressure,
}

/// Everything a breaker is told: what trips it, how long it stays open, how it probes.
///
/// Any policy that is set can trip it: consecutive failures, the failure rate or the slow-call
/// rate over a count window, over a time window, or over both. The rates are judged only once a
/// window holds `min_calls` calls. [`BreakerLayer::builder`](crate::BreakerLayer::builder) is the
/// usual way to fill it in; with the feature `serde` it deserialises, durations written like
/// `"250ms"`, and is validated as it is read.
///
/// ```
/// use std::time::Duration;
/// use bulwark_breaker::BreakerConfig;
///
/// let config = BreakerConfig {
///     failure_rate: Some(0.5),
///     count_window: Some(100),
///     ..BreakerConfig::default()
/// };
/// config.validate().unwrap();
/// assert_eq!(config.consecutive_failures, Some(5));
///
/// let nonsense = BreakerConfig { failure_rate: Some(1.5), ..config };
/// assert_eq!(nonsense.validate().unwrap_err().field(), "failure_rate");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "serde_form::Form"))]
pub struct BreakerConfig {
    /// Trip after this many failures in a row. Default: 5.
    pub consecutive_failures: Option<u32>,
    /// Trip when at least this share (`0..=1`) of the calls in a window failed. Default: none.
    pub failure_rate: Option<f64>,
    /// Trip when at least this share (`0..=1`) of the calls in a window were slow. Default: none.
    pub slow_call_rate: Option<f64>,
    /// A call that runs longer than this is slow. Needed by, and only by, `slow_call_rate`.
    pub slow_call_threshold: Option<Duration>,
    /// Judge the rates over the last this many calls (a true ring). Default: none.
    pub count_window: Option<u32>,
    /// Judge the rates over the calls of this last span of time. Default: none.
    pub time_window: Option<Duration>,
    /// How many rolling buckets the time window is cut into. Default: 10.
    pub time_window_buckets: u32,
    /// No rate is judged before a window holds this many calls. Default: 10.
    pub min_calls: u32,
    /// How long the breaker stays open; attempt `n` is the `n`-th trip in a row, counted from 0
    /// and reset when it closes. Default: exponential from 5 s, doubling, at most 60 s, ±10 %.
    pub open_for: Backoff,
    /// At most this many probe calls in flight while half-open. Default: 1.
    pub half_open_probes: u32,
    /// This many successful probes close the breaker. Default: 1.
    pub half_open_successes: u32,
    /// Re-open if half-open has not closed after this long. Default: none, as a finite limit
    /// would keep re-opening a breaker that needs several successes under light traffic; only a
    /// probe call in flight holds a permit, so a timeout below the breaker bounds a hung probe.
    pub half_open_max_wait: Option<Duration>,
    /// What `poll_ready` does while calls are rejected. Default: [`Mode::FailFast`].
    pub mode: Mode,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: Some(5),
            failure_rate: None,
            slow_call_rate: None,
            slow_call_threshold: None,
            count_window: None,
            time_window: None,
            time_window_buckets: 10,
            min_calls: 10,
            open_for: Backoff::exponential(Duration::from_secs(5))
                .max_delay(Duration::from_secs(60))
                .jitter(Jitter::Proportional(0.1)),
            half_open_probes: 1,
            half_open_successes: 1,
            half_open_max_wait: None,
            mode: Mode::FailFast,
        }
    }
}

/// The largest count window: 1 Mi calls, one byte each.
const MAX_COUNT_WINDOW: u32 = 1 << 20;
/// The most buckets a time window may have.
const MAX_BUCKETS: u32 = 10_000;

fn rate(field: &'static str, r: Option<f64>) -> Result<(), ConfigError> {
    match r {
        Some(r) if !(0.0..=1.0).contains(&r) => Err(ConfigError::new(
            field,
            format!("a rate must lie in 0..=1, got {r}"),
        )),
        _ => Ok(()),
    }
}

fn at_least_one(field: &'static str, n: Option<u32>) -> Result<(), ConfigError> {
    match n {
        Some(0) => Err(ConfigError::new(field, "must be at least 1")),
        _ => Ok(()),
    }
}

impl BreakerConfig {
    /// Checks that the settings make sense together.
    ///
    /// Refused: a rate outside `0..=1`; a zero count, zero count window, zero time window or zero
    /// buckets; more buckets than nanoseconds in the window; a rate with no window or a window
    /// with no rate; a slow-call rate without its threshold or the reverse; a `min_calls` larger
    /// than the count window (the rate could never be judged); no policy at all; and an invalid
    /// `open_for`.
    ///
    /// ```
    /// use bulwark_breaker::BreakerConfig;
    ///
    /// let config = BreakerConfig { half_open_probes: 0, ..BreakerConfig::default() };
    /// assert_eq!(config.validate().unwrap_err().field(), "half_open_probes");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        at_least_one("consecutive_failures", self.consecutive_failures)?;
        rate("failure_rate", self.failure_rate)?;
        rate("slow_call_rate", self.slow_call_rate)?;
        at_least_one("half_open_probes", Some(self.half_open_probes))?;
        at_least_one("half_open_successes", Some(self.half_open_successes))?;
        if self.slow_call_rate.is_some() != self.slow_call_threshold.is_some() {
            return Err(ConfigError::new(
                "slow_call_threshold",
                "a slow-call rate and a slow-call threshold go together: set both or neither",
            ));
        }
        if let Some(n) = self.count_window {
            if n == 0 || n > MAX_COUNT_WINDOW {
                return Err(ConfigError::new(
                    "count_window",
                    format!("must be between 1 and {MAX_COUNT_WINDOW}, got {n}"),
                ));
            }
            if self.min_calls > n {
                return Err(ConfigError::new(
                    "min_calls",
                    format!(
                        "{} is more than the count window of {n}, so no rate would ever be judged",
                        self.min_calls
                    ),
                ));
            }
        }
        if let Some(length) = self.time_window {
            let b = self.time_window_buckets;
            if b == 0 || b > MAX_BUCKETS {
                return Err(ConfigError::new(
                    "time_window_buckets",
                    format!("must be between 1 and {MAX_BUCKETS}, got {b}"),
                ));
            }
            if length.as_nanos() < u128::from(b) {
                return Err(ConfigError::new(
                    "time_window",
                    format!("{length:?} is too short for {b} buckets"),
                ));
            }
        }
        let has_rate = self.failure_rate.is_some() || self.slow_call_rate.is_some();
        let has_window = self.count_window.is_some() || self.time_window.is_some();
        if has_rate && !has_window {
            return Err(ConfigError::new(
                "count_window",
                "a rate needs a count window or a time window",
            ));
        }
        if has_window && !has_rate {
            return Err(ConfigError::new(
                "failure_rate",
                "a window needs a failure rate or a slow-call rate",
            ));
        }
        if !has_rate && self.consecutive_failures.is_none() {
            return Err(ConfigError::new(
                "consecutive_failures",
                "no policy is set, so nothing could trip the breaker",
            ));
        }
        if self.half_open_max_wait == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "half_open_max_wait",
                "must be longer than zero",
            ));
        }
        self.open_for.validate()
    }
}

#[cfg(feature = "serde")]
mod serde_form {
    use super::*;
    use bulwark_policy::serde_duration;

    /// The serialised form, checked by [`BreakerConfig::validate`] as it is read.
    #[derive(serde::Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub(super) struct Form {
        consecutive_failures: Option<u32>,
        failure_rate: Option<f64>,
        slow_call_rate: Option<f64>,
        #[serde(with = "serde_duration::option")]
        slow_call_threshold: Option<Duration>,
        count_window: Option<u32>,
        #[serde(with = "serde_duration::option")]
        time_window: Option<Duration>,
        time_window_buckets: u32,
        min_calls: u32,
        open_for: Backoff,
        half_open_probes: u32,
        half_open_successes: u32,
        #[serde(with = "serde_duration::option")]
        half_open_max_wait: Option<Duration>,
        mode: Mode,
        /// Turns the default consecutive-failure policy off.
        no_consecutive_failures: bool,
    }

    impl Default for Form {
        fn default() -> Self {
            let d = BreakerConfig::default();
            Self {
                consecutive_failures: None,
                failure_rate: d.failure_rate,
                slow_call_rate: d.slow_call_rate,
                slow_call_threshold: d.slow_call_threshold,
                count_window: d.count_window,
                time_window: d.time_window,
                time_window_buckets: d.time_window_buckets,
                min_calls: d.min_calls,
                open_for: d.open_for,
                half_open_probes: d.half_open_probes,
                half_open_successes: d.half_open_successes,
                half_open_max_wait: d.half_open_max_wait,
                mode: d.mode,
                no_consecutive_failures: false,
            }
        }
    }

    impl TryFrom<Form> for BreakerConfig {
        type Error = ConfigError;

        fn try_from(f: Form) -> Result<Self, ConfigError> {
            if f.no_consecutive_failures && f.consecutive_failures.is_some() {
                return Err(ConfigError::new(
                    "no_consecutive_failures",
                    "contradicts the `consecutive_failures` also given",
                ));
            }
            let consecutive_failures = match (f.no_consecutive_failures, f.consecutive_failures) {
                (true, _) => None,
                (false, None) => BreakerConfig::default().consecutive_failures,
                (false, some) => some,
            };
            let config = BreakerConfig {
                consecutive_failures,
                failure_rate: f.failure_rate,
                slow_call_rate: f.slow_call_rate,
                slow_call_threshold: f.slow_call_threshold,
                count_window: f.count_window,
                time_window: f.time_window,
                time_window_buckets: f.time_window_buckets,
                min_calls: f.min_calls,
                open_for: f.open_for,
                half_open_probes: f.half_open_probes,
                half_open_successes: f.half_open_successes,
                half_open_max_wait: f.half_open_max_wait,
                mode: f.mode,
            };
            config.validate()?;
            Ok(config)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(c: BreakerConfig) -> &'static str {
        c.validate().unwrap_err().field()
    }

    #[test]
    fn refuses_nonsense() {
        let d = BreakerConfig::default;
        assert!(d().validate().is_ok());
        assert_eq!(
            field(BreakerConfig {
                consecutive_failures: Some(0),
                ..d()
            }),
            "consecutive_failures"
        );
        assert_eq!(
            field(BreakerConfig {
                failure_rate: Some(-0.1),
                count_window: Some(10),
                ..d()
            }),
            "failure_rate"
        );
        assert_eq!(
            field(BreakerConfig {
                failure_rate: Some(f64::NAN),
                count_window: Some(10),
                ..d()
            }),
            "failure_rate"
        );
        assert_eq!(
            field(BreakerConfig {
                failure_rate: Some(0.5),
                ..d()
            }),
            "count_window"
        );
        assert_eq!(
            field(BreakerConfig {
                count_window: Some(10),
                ..d()
            }),
            "failure_rate"
        );
        assert_eq!(
            field(BreakerConfig {
                failure_rate: Some(0.5),
                count_window: Some(0),
                ..d()
            }),
            "count_window"
        );
        assert_eq!(
            field(BreakerConfig {
                failure_rate: Some(0.5),
                count_window: Some(5),
                ..d()
            }),
            "min_calls"
        );
        let time = |w: Duration, b: u32| BreakerConfig {
            failure_rate: Some(0.5),
            time_window: Some(w),
            time_window_buckets: b,
            ..d()
        };
        assert_eq!(field(time(Duration::ZERO, 10)), "time_window");
        assert_eq!(
            field(time(Duration::from_secs(1), 0)),
            "time_window_buckets"
        );
        assert!(time(Duration::from_secs(1), 10).validate().is_ok());
        assert_eq!(
            field(BreakerConfig {
                slow_call_rate: Some(0.5),
                count_window: Some(10),
                ..d()
            }),
            "slow_call_threshold"
        );
        assert_eq!(
            field(BreakerConfig {
                half_open_successes: 0,
                ..d()
            }),
            "half_open_successes"
        );
        assert_eq!(
            field(BreakerConfig {
                half_open_max_wait: Some(Duration::ZERO),
                ..d()
            }),
            "half_open_max_wait"
        );
        assert_eq!(
            field(BreakerConfig {
                consecutive_failures: None,
                ..d()
            }),
            "consecutive_failures"
        );
        let bad_backoff =
            Backoff::constant(Duration::from_secs(2)).max_delay(Duration::from_secs(1));
        assert_eq!(
            field(BreakerConfig {
                open_for: bad_backoff,
                ..d()
            }),
            "max_delay"
        );
    }

    #[cfg(feature = "serde")]
    #[test]
    fn deserialises_and_validates() {
        let c: BreakerConfig = serde_json::from_str(
            r#"{"failure_rate":0.5,"count_window":20,"slow_call_rate":0.8,"slow_call_threshold":"250ms",
                "open_for":{"kind":"constant","base":"30s"},"half_open_probes":3,"mode":"backpressure"}"#,
        )
        .unwrap();
        assert_eq!(c.consecutive_failures, Some(5));
        assert_eq!(c.slow_call_threshold, Some(Duration::from_millis(250)));
        assert_eq!(c.open_for, Backoff::constant(Duration::from_secs(30)));
        assert_eq!((c.half_open_probes, c.mode), (3, Mode::Backpressure));
        let c: BreakerConfig = serde_json::from_str(
            r#"{"no_consecutive_failures":true,"failure_rate":0.5,"time_window":"10s"}"#,
        )
        .unwrap();
        assert_eq!(
            (c.consecutive_failures, c.time_window),
            (None, Some(Duration::from_secs(10)))
        );
        let err =
            serde_json::from_str::<BreakerConfig>(r#"{"failure_rate":2.0,"count_window":20}"#)
                .unwrap_err();
        assert!(err.to_string().contains("failure_rate"), "{err}");
        assert!(serde_json::from_str::<BreakerConfig>(r#"{"colour":"red"}"#).is_err());
    }
}

//! The settings of outlier detection, validated by their builder and by deserialisation.

use std::time::Duration;

use bulwark_policy::{Backoff, ConfigError, Jitter};

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
    pub(super) consecutive_failures: Option<u32>,
    pub(super) failure_rate: Option<FailureRate>,
    base_ejection_time: Duration,
    pub(super) max_ejection_time: Duration,
    jitter: f64,
    max_ejection_percent: f64,
    pub(super) panic_threshold: f64,
    pub(super) backoff: Backoff,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct FailureRate {
    pub(super) percent: f64,
    pub(super) min_requests: u32,
    pub(super) interval: Duration,
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

    pub(super) fn max_ejected(&self, total: usize) -> usize {
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

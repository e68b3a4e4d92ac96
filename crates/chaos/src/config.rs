//! [`ChaosConfig`]: what a [`ChaosLayer`](crate::ChaosLayer) injects, as plain data.

use std::time::Duration;

use bulwark_policy::ConfigError;

/// How long an injected delay lasts: fixed, or uniform in `[min, max]`.
///
/// A delay that comes out as zero is no fault: it is neither counted nor reported.
///
/// With the feature `serde` it deserialises from `{"min": "10ms", "max": "50ms"}`, or from
/// `{"min": "30ms"}` for a fixed delay.
///
/// ```
/// use std::time::Duration;
/// use bulwark_chaos::Latency;
///
/// let fixed = Latency::fixed(Duration::from_millis(30));
/// assert_eq!(fixed.min, fixed.max);
/// let spread = Latency::uniform(Duration::from_millis(10), Duration::from_millis(50));
/// assert!(spread.validate().is_ok());
/// assert!(Latency::uniform(Duration::from_secs(2), Duration::from_secs(1)).validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Latency {
    /// The shortest delay.
    pub min: Duration,
    /// The longest delay; at least `min`.
    pub max: Duration,
}

impl Latency {
    /// Always `delay`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let l = bulwark_chaos::Latency::fixed(Duration::from_millis(5));
    /// assert_eq!(l.max, Duration::from_millis(5));
    /// ```
    pub const fn fixed(delay: Duration) -> Self {
        Self {
            min: delay,
            max: delay,
        }
    }

    /// Uniform in `[min, max]`, to the nanosecond. [`validate`](Self::validate) refuses
    /// `min > max`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let l = bulwark_chaos::Latency::uniform(Duration::ZERO, Duration::from_secs(1));
    /// assert_eq!(l.min, Duration::ZERO);
    /// ```
    pub const fn uniform(min: Duration, max: Duration) -> Self {
        Self { min, max }
    }

    /// Refuses `min > max`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let err = bulwark_chaos::Latency::uniform(Duration::from_secs(1), Duration::ZERO)
    ///     .validate()
    ///     .unwrap_err();
    /// assert_eq!(err.field(), "latency");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.min > self.max {
            return Err(ConfigError::new(
                "latency",
                format!("min ({:?}) is greater than max ({:?})", self.min, self.max),
            ));
        }
        Ok(())
    }
}

/// A stretch of time during which every call fails: dark from `start` until `end`, measured
/// from the layer's start (when it was built, or the instant given to
/// [`ChaosBuilder::start_at`](crate::ChaosBuilder::start_at)).
///
/// The window includes `start` and excludes `end`: a call at exactly `end` goes through.
///
/// ```
/// use std::time::Duration;
/// use bulwark_chaos::OutageWindow;
///
/// let window = OutageWindow::new(Duration::from_secs(10), Duration::from_secs(20));
/// assert!(window.contains(Duration::from_secs(10)));
/// assert!(!window.contains(Duration::from_secs(20)));
/// assert!(OutageWindow::new(Duration::from_secs(5), Duration::from_secs(5)).validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutageWindow {
    /// When the outage begins, after the layer's start.
    pub start: Duration,
    /// When it ends, after the layer's start; later than `start`.
    pub end: Duration,
}

impl OutageWindow {
    /// Dark from `start` until `end`. [`validate`](Self::validate) refuses `end <= start`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let w = bulwark_chaos::OutageWindow::new(Duration::from_secs(1), Duration::from_secs(2));
    /// assert_eq!(w.end - w.start, Duration::from_secs(1));
    /// ```
    pub const fn new(start: Duration, end: Duration) -> Self {
        Self { start, end }
    }

    /// Whether a call `elapsed` after the layer's start falls in the window.
    ///
    /// ```
    /// use std::time::Duration;
    /// let w = bulwark_chaos::OutageWindow::new(Duration::from_secs(1), Duration::from_secs(2));
    /// assert!(!w.contains(Duration::from_millis(999)));
    /// assert!(w.contains(Duration::from_millis(1999)));
    /// ```
    pub fn contains(&self, elapsed: Duration) -> bool {
        self.start <= elapsed && elapsed < self.end
    }

    /// Refuses an empty or backwards window (`end <= start`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let err = bulwark_chaos::OutageWindow::new(Duration::from_secs(2), Duration::from_secs(1))
    ///     .validate()
    ///     .unwrap_err();
    /// assert_eq!(err.field(), "outages");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.end <= self.start {
            return Err(ConfigError::new(
                "outages",
                format!(
                    "a window must end after it starts, got {:?} to {:?}",
                    self.start, self.end
                ),
            ));
        }
        Ok(())
    }
}

/// What a call gets during an outage window.
///
/// ```
/// use bulwark_chaos::OutageAnswer;
/// assert_eq!(OutageAnswer::default(), OutageAnswer::Error);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum OutageAnswer {
    /// The error from [`ChaosBuilder::error_with`](crate::ChaosBuilder::error_with), or
    /// [`Injected`](crate::Injected) if none was given.
    #[default]
    Error,
    /// The response from [`ChaosBuilder::response_with`](crate::ChaosBuilder::response_with).
    Response,
}

/// What a [`ChaosLayer`](crate::ChaosLayer) injects, as plain data.
///
/// Rates are probabilities per call, from 0 to 1. Errors and chosen responses share one draw:
/// a call gets an error with probability `error_rate`, otherwise a response with probability
/// `response_rate`, so both rates hold exactly while they sum to at most 1 (past that,
/// responses get what errors leave). Latency is drawn separately and delays whatever follows,
/// an injected answer or the real call.
///
/// With the feature `serde` it deserialises, durations written like `"250ms"`, and is
/// validated as [`ChaosBuilder::build`](crate::ChaosBuilder::build) validates it. Every field
/// may be left out.
///
/// ```
/// use std::time::Duration;
/// use bulwark_chaos::{ChaosConfig, Latency};
///
/// let config = ChaosConfig {
///     error_rate: 0.05,
///     latency_rate: 0.1,
///     latency: Latency::uniform(Duration::from_millis(50), Duration::from_millis(200)),
///     ..ChaosConfig::default()
/// };
/// assert!(config.validate().is_ok());
/// assert!(ChaosConfig { error_rate: 1.5, ..config }.validate().is_err());
/// # #[cfg(feature = "serde")] {
/// let config: ChaosConfig = serde_json::from_str(
///     r#"{"seed":7,"error_rate":0.1,"outages":[{"start":"10s","end":"20s"}]}"#,
/// ).unwrap();
/// assert_eq!(config.outages[0].end, Duration::from_secs(20));
/// assert!(serde_json::from_str::<ChaosConfig>(r#"{"error_rate":2.0}"#).is_err());
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ChaosConfig {
    /// Whether it injects anything; a [`ChaosHandle`](crate::ChaosHandle) switches it at run
    /// time. Default `true`.
    pub enabled: bool,
    /// Makes a run reproducible; `None` (the default) seeds from entropy.
    pub seed: Option<u64>,
    /// The probability that a call fails with an injected error. Default 0.
    pub error_rate: f64,
    /// The probability that a call gets a chosen response in place of the real one. Default 0.
    pub response_rate: f64,
    /// The probability that a call is delayed. Default 0.
    pub latency_rate: f64,
    /// How long a delayed call waits. Default zero.
    pub latency: Latency,
    /// Scheduled outages; they may overlap. Default none.
    pub outages: Vec<OutageWindow>,
    /// What calls get during an outage. Default an error.
    pub outage_answer: OutageAnswer,
    /// The name its events carry; `"chaos"` if none.
    pub name: Option<String>,
}

impl Default for ChaosConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            seed: None,
            error_rate: 0.0,
            response_rate: 0.0,
            latency_rate: 0.0,
            latency: Latency::default(),
            outages: Vec::new(),
            outage_answer: OutageAnswer::Error,
            name: None,
        }
    }
}

impl ChaosConfig {
    /// Refuses rates outside 0..=1 (NaN included), latency with `min > max`, and outage
    /// windows that end before they start.
    ///
    /// ```
    /// use bulwark_chaos::ChaosConfig;
    ///
    /// let err = ChaosConfig { latency_rate: f64::NAN, ..Default::default() }.validate().unwrap_err();
    /// assert_eq!(err.field(), "latency_rate");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_rate("error_rate", self.error_rate)?;
        check_rate("response_rate", self.response_rate)?;
        check_rate("latency_rate", self.latency_rate)?;
        self.latency.validate()?;
        self.outages.iter().try_for_each(OutageWindow::validate)
    }
}

/// Refuses a probability outside 0..=1, NaN included.
pub(crate) fn check_rate(field: &'static str, rate: f64) -> Result<(), ConfigError> {
    if (0.0..=1.0).contains(&rate) {
        Ok(())
    } else {
        Err(ConfigError::new(
            field,
            format!("must be a probability from 0 to 1, got {rate}"),
        ))
    }
}

#[cfg(feature = "serde")]
mod de {
    //! Deserialisation through raw mirrors, so a config that makes no sense is refused with
    //! the builder's reason.

    use super::*;
    use bulwark_policy::serde_duration;
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawLatency {
        #[serde(with = "serde_duration")]
        min: Duration,
        #[serde(default, with = "serde_duration::option")]
        max: Option<Duration>,
    }

    impl<'de> Deserialize<'de> for Latency {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let raw = RawLatency::deserialize(d)?;
            let latency = Latency::uniform(raw.min, raw.max.unwrap_or(raw.min));
            latency.validate().map_err(serde::de::Error::custom)?;
            Ok(latency)
        }
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawWindow {
        #[serde(with = "serde_duration")]
        start: Duration,
        #[serde(with = "serde_duration")]
        end: Duration,
    }

    impl<'de> Deserialize<'de> for OutageWindow {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let raw = RawWindow::deserialize(d)?;
            let window = OutageWindow::new(raw.start, raw.end);
            window.validate().map_err(serde::de::Error::custom)?;
            Ok(window)
        }
    }

    #[derive(Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct RawConfig {
        enabled: bool,
        seed: Option<u64>,
        error_rate: f64,
        response_rate: f64,
        latency_rate: f64,
        latency: Latency,
        outages: Vec<OutageWindow>,
        outage_answer: OutageAnswer,
        name: Option<String>,
    }

    impl Default for RawConfig {
        fn default() -> Self {
            let ChaosConfig {
                enabled,
                seed,
                error_rate,
                response_rate,
                latency_rate,
                latency,
                outages,
                outage_answer,
                name,
            } = ChaosConfig::default();
            Self {
                enabled,
                seed,
                error_rate,
                response_rate,
                latency_rate,
                latency,
                outages,
                outage_answer,
                name,
            }
        }
    }

    impl<'de> Deserialize<'de> for ChaosConfig {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let raw = RawConfig::deserialize(d)?;
            let config = ChaosConfig {
                enabled: raw.enabled,
                seed: raw.seed,
                error_rate: raw.error_rate,
                response_rate: raw.response_rate,
                latency_rate: raw.latency_rate,
                latency: raw.latency,
                outages: raw.outages,
                outage_answer: raw.outage_answer,
                name: raw.name,
            };
            config.validate().map_err(serde::de::Error::custom)?;
            Ok(config)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_outside_zero_to_one_are_refused() {
        for bad in [-0.1, 1.0001, f64::NAN, f64::INFINITY] {
            let err = ChaosConfig {
                response_rate: bad,
                ..Default::default()
            }
            .validate()
            .unwrap_err();
            assert_eq!(err.field(), "response_rate");
        }
        for good in [0.0, 0.5, 1.0] {
            assert!(ChaosConfig {
                error_rate: good,
                ..Default::default()
            }
            .validate()
            .is_ok());
        }
    }

    #[test]
    fn one_bad_window_among_good_ones_is_refused() {
        let config = ChaosConfig {
            outages: vec![
                OutageWindow::new(Duration::from_secs(1), Duration::from_secs(2)),
                OutageWindow::new(Duration::from_secs(4), Duration::from_secs(3)),
            ],
            ..Default::default()
        };
        assert_eq!(config.validate().unwrap_err().field(), "outages");
    }

    #[cfg(feature = "serde")]
    #[test]
    fn deserialises_every_field_and_refuses_nonsense() {
        let config: ChaosConfig = serde_json::from_str(
            r#"{
                "enabled": false, "seed": 9, "error_rate": 0.1, "response_rate": 0.2,
                "latency_rate": 0.3, "latency": {"min": "10ms", "max": "20ms"},
                "outages": [{"start": "1s", "end": "2s"}], "outage_answer": "response",
                "name": "replica-a"
            }"#,
        )
        .unwrap();
        assert!(!config.enabled);
        assert_eq!(config.seed, Some(9));
        assert_eq!(config.response_rate, 0.2);
        assert_eq!(
            config.latency,
            Latency::uniform(Duration::from_millis(10), Duration::from_millis(20))
        );
        assert_eq!(config.outage_answer, OutageAnswer::Response);
        assert_eq!(config.name.as_deref(), Some("replica-a"));

        let fixed: Latency = serde_json::from_str(r#"{"min":"30ms"}"#).unwrap();
        assert_eq!(fixed, Latency::fixed(Duration::from_millis(30)));

        for bad in [
            r#"{"latency":{"min":"2s","max":"1s"}}"#,
            r#"{"outages":[{"start":"2s","end":"2s"}]}"#,
            r#"{"latency_rate":-0.5}"#,
            r#"{"eror_rate":0.1}"#,
            r#"{"latency":{"min":"soon"}}"#,
        ] {
            assert!(serde_json::from_str::<ChaosConfig>(bad).is_err(), "{bad}");
        }
        assert_eq!(
            serde_json::from_str::<ChaosConfig>("{}").unwrap(),
            ChaosConfig::default()
        );
    }
}

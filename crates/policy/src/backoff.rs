//! How long to wait between attempts.
//!
//! A [`Backoff`] is an *envelope* that grows with the attempt number (constant, linear or
//! exponential, never above `max_delay`) and a [`Jitter`] that spreads the actual delays inside
//! it, so that clients which failed together do not retry together. Randomness comes from a
//! caller-owned [`Rng`], so a seeded test sees the same delays every time.

use std::time::Duration;

use crate::{ConfigError, Rng};

/// How the envelope grows with the attempt number `n` (0 for the first retry).
///
/// ```
/// use std::time::Duration;
/// use bulwark_policy::{Backoff, BackoffKind};
///
/// let b = Backoff::linear(Duration::from_millis(100), Duration::from_millis(50));
/// assert_eq!(b.kind(), BackoffKind::Linear { step: Duration::from_millis(50) });
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum BackoffKind {
    /// Always `base`.
    Constant,
    /// `base + step * n`.
    Linear {
        /// Added for every further attempt.
        step: Duration,
    },
    /// `base * factor^n`.
    Exponential {
        /// The growth factor, at least 1.
        factor: f64,
    },
}

/// How delays are spread inside the envelope `e` for attempt `n`.
///
/// The bounds of each are documented on its variant, and hold for every attempt number.
///
/// ```
/// use std::time::Duration;
/// use bulwark_policy::{Backoff, Jitter, Rng};
///
/// let b = Backoff::constant(Duration::from_millis(100)).jitter(Jitter::Proportional(0.1));
/// let d = b.delay(0, Duration::ZERO, &mut Rng::new(1));
/// assert!(d >= Duration::from_millis(90) && d <= Duration::from_millis(110));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Jitter {
    /// Exactly `e`.
    None,
    /// Uniform in `[0, e]` ("full jitter").
    Full,
    /// Uniform in `[e/2, e]` ("equal jitter").
    Equal,
    /// Uniform in `[base, 3 × previous delay]`, capped by `max_delay` ("decorrelated jitter").
    /// It grows from the previous delay rather than from the envelope, so the kind's growth does
    /// not apply.
    Decorrelated,
    /// Uniform in `[e × (1 − p), e × (1 + p)]`, capped by `max_delay`; `p` is in `0..=1`.
    Proportional(f64),
}

/// A backoff: the delay before each retry, or a breaker's open period after each trip.
///
/// Built from a constructor, then adjusted. [`Backoff::validate`] refuses nonsense; the layers'
/// builders call it.
///
/// ```
/// use std::time::Duration;
/// use bulwark_policy::{Backoff, Jitter, Rng};
///
/// let backoff = Backoff::exponential(Duration::from_millis(100))
///     .factor(2.0)
///     .max_delay(Duration::from_secs(1))
///     .jitter(Jitter::None);
/// backoff.validate().unwrap();
///
/// let mut rng = Rng::new(0);
/// let delays: Vec<_> = (0..5).map(|n| backoff.delay(n, Duration::ZERO, &mut rng)).collect();
/// assert_eq!(delays, [100, 200, 400, 800, 1000].map(Duration::from_millis));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    kind: BackoffKind,
    base: Duration,
    max_delay: Duration,
    jitter: Jitter,
    retry_after_cap: Option<Duration>,
}

/// The `max_delay` a new backoff starts with.
const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(10);
/// The cap a new backoff puts on a server's `retry_after`.
const DEFAULT_RETRY_AFTER_CAP: Duration = Duration::from_secs(30);

impl Default for Backoff {
    /// Exponential from 100 ms, doubling, at most 10 s, with full jitter: the AWS
    /// recommendation, which spreads a synchronised burst of failures the most.
    fn default() -> Self {
        Self::exponential(Duration::from_millis(100)).jitter(Jitter::Full)
    }
}

impl Backoff {
    fn with_kind(kind: BackoffKind, base: Duration) -> Self {
        Self {
            kind,
            base,
            max_delay: DEFAULT_MAX_DELAY.max(base),
            jitter: Jitter::None,
            retry_after_cap: Some(DEFAULT_RETRY_AFTER_CAP),
        }
    }

    /// Always `delay`, with no jitter.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::{Backoff, Rng};
    ///
    /// let b = Backoff::constant(Duration::from_millis(20));
    /// assert_eq!(b.delay(9, Duration::ZERO, &mut Rng::new(0)), Duration::from_millis(20));
    /// ```
    pub fn constant(delay: Duration) -> Self {
        Self::with_kind(BackoffKind::Constant, delay)
    }

    /// `base + step * n`, with no jitter, at most 10 s unless [`max_delay`](Self::max_delay)
    /// says otherwise.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::{Backoff, Rng};
    ///
    /// let b = Backoff::linear(Duration::from_millis(10), Duration::from_millis(5));
    /// assert_eq!(b.delay(2, Duration::ZERO, &mut Rng::new(0)), Duration::from_millis(20));
    /// ```
    pub fn linear(base: Duration, step: Duration) -> Self {
        Self::with_kind(BackoffKind::Linear { step }, base)
    }

    /// `base * 2^n`, with no jitter, at most 10 s; [`factor`](Self::factor) changes the 2.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::{Backoff, Rng};
    ///
    /// let b = Backoff::exponential(Duration::from_millis(10));
    /// assert_eq!(b.delay(3, Duration::ZERO, &mut Rng::new(0)), Duration::from_millis(80));
    /// ```
    pub fn exponential(base: Duration) -> Self {
        Self::with_kind(BackoffKind::Exponential { factor: 2.0 }, base)
    }

    /// Sets the growth factor; turns a constant or linear backoff into an exponential one.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::Backoff;
    ///
    /// assert!(Backoff::exponential(Duration::from_millis(1)).factor(0.5).validate().is_err());
    /// ```
    pub fn factor(mut self, factor: f64) -> Self {
        self.kind = BackoffKind::Exponential { factor };
        self
    }

    /// Sets the largest delay the envelope and every jitter may produce.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::{Backoff, Rng};
    ///
    /// let b = Backoff::exponential(Duration::from_secs(1)).max_delay(Duration::from_secs(3));
    /// assert_eq!(b.delay(u32::MAX, Duration::ZERO, &mut Rng::new(0)), Duration::from_secs(3));
    /// ```
    pub fn max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// Sets the jitter.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::{Backoff, Jitter, Rng};
    ///
    /// let b = Backoff::constant(Duration::from_millis(100)).jitter(Jitter::Equal);
    /// let d = b.delay(0, Duration::ZERO, &mut Rng::new(5));
    /// assert!(d >= Duration::from_millis(50) && d <= Duration::from_millis(100));
    /// ```
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the longest server-given `retry_after` that is honoured; longer hints are cut to it.
    /// `None` ignores server hints. The default is 30 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::Backoff;
    ///
    /// let b = Backoff::constant(Duration::from_millis(100)).retry_after_cap(Some(Duration::from_secs(5)));
    /// let hint = Some(Duration::from_secs(60));
    /// assert_eq!(b.apply_retry_after(Duration::from_millis(100), hint), Duration::from_secs(5));
    /// ```
    pub fn retry_after_cap(mut self, cap: Option<Duration>) -> Self {
        self.retry_after_cap = cap;
        self
    }

    /// The growth of the envelope.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::{Backoff, BackoffKind};
    /// assert_eq!(Backoff::constant(Duration::from_secs(1)).kind(), BackoffKind::Constant);
    /// ```
    pub fn kind(&self) -> BackoffKind {
        self.kind
    }

    /// The first delay.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(bulwark_policy::Backoff::constant(Duration::from_secs(1)).base(), Duration::from_secs(1));
    /// ```
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The largest delay.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(bulwark_policy::Backoff::constant(Duration::from_secs(1)).get_max_delay(), Duration::from_secs(10));
    /// ```
    pub fn get_max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The jitter.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use bulwark_policy::{Backoff, Jitter};
    /// assert_eq!(Backoff::constant(Duration::from_secs(1)).get_jitter(), Jitter::None);
    /// ```
    pub fn get_jitter(&self) -> Jitter {
        self.jitter
    }

    /// The cap on server hints, if they are honoured.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(bulwark_policy::Backoff::default().get_retry_after_cap(), Some(Duration::from_secs(30)));
    /// ```
    pub fn get_retry_after_cap(&self) -> Option<Duration> {
        self.retry_after_cap
    }

    /// Checks the settings: a finite factor of at least 1, `max_delay >= base`, a linear step
    /// that is not zero is fine, and a proportional jitter within `0..=1`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::{Backoff, Jitter};
    ///
    /// let bad = Backoff::constant(Duration::from_secs(1)).jitter(Jitter::Proportional(1.5));
    /// assert_eq!(bad.validate().unwrap_err().field(), "jitter");
    /// let bad = Backoff::constant(Duration::from_secs(2)).max_delay(Duration::from_secs(1));
    /// assert_eq!(bad.validate().unwrap_err().field(), "max_delay");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let BackoffKind::Exponential { factor } = self.kind {
            if !factor.is_finite() || factor < 1.0 {
                return Err(ConfigError::new(
                    "factor",
                    format!("must be a finite number of at least 1, got {factor}"),
                ));
            }
        }
        if self.max_delay < self.base {
            return Err(ConfigError::new(
                "max_delay",
                format!(
                    "must be at least the base delay ({:?}), got {:?}",
                    self.base, self.max_delay
                ),
            ));
        }
        if let Jitter::Proportional(p) = self.jitter {
            if !(0.0..=1.0).contains(&p) {
                return Err(ConfigError::new(
                    "jitter",
                    format!("a proportional jitter must lie in 0..=1, got {p}"),
                ));
            }
        }
        Ok(())
    }

    /// The envelope for attempt `n`: the un-jittered delay, capped by `max_delay`. It never
    /// decreases as `n` grows, and never overflows.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::Backoff;
    ///
    /// let b = Backoff::exponential(Duration::from_millis(100)).factor(3.0);
    /// assert_eq!(b.envelope(2), Duration::from_millis(900));
    /// assert_eq!(b.envelope(u32::MAX), Duration::from_secs(10));
    /// ```
    pub fn envelope(&self, n: u32) -> Duration {
        let raw = match self.kind {
            BackoffKind::Constant => self.base,
            BackoffKind::Linear { step } => step
                .checked_mul(n)
                .and_then(|grown| self.base.checked_add(grown))
                .unwrap_or(Duration::MAX),
            // Zero times any growth is zero, also once the growth overflows a float.
            BackoffKind::Exponential { .. } if self.base.is_zero() => Duration::ZERO,
            BackoffKind::Exponential { factor } => {
                let nanos = self.base.as_nanos() as f64 * factor.powf(f64::from(n));
                if nanos.is_finite() && nanos < self.max_delay.as_nanos() as f64 {
                    // Below max_delay, so it fits a u64 of nanoseconds unless max_delay is
                    // beyond 584 years; saturate rather than trust that.
                    Duration::from_nanos(nanos.round().min(u64::MAX as f64) as u64)
                } else {
                    self.max_delay
                }
            }
        };
        raw.min(self.max_delay)
    }

    /// The delay before attempt `n` (0 for the first retry), given the previous delay (zero
    /// before the first) and a random source. Within the bounds its [`Jitter`] documents.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::{Backoff, Jitter, Rng};
    ///
    /// let b = Backoff::exponential(Duration::from_millis(100)).jitter(Jitter::Full);
    /// let mut rng = Rng::new(9);
    /// let d = b.delay(3, Duration::ZERO, &mut rng);
    /// assert!(d <= Duration::from_millis(800));
    /// ```
    pub fn delay(&self, n: u32, prev: Duration, rng: &mut Rng) -> Duration {
        match self.jitter {
            Jitter::None => self.envelope(n),
            Jitter::Full => rng.duration_between(Duration::ZERO, self.envelope(n)),
            Jitter::Equal => {
                let e = self.envelope(n);
                rng.duration_between(e - e / 2, e)
            }
            Jitter::Decorrelated => {
                let lo = self.base.min(self.max_delay);
                let hi = prev.max(lo).saturating_mul(3).min(self.max_delay);
                rng.duration_between(lo, hi)
            }
            Jitter::Proportional(p) => {
                let e = self.envelope(n);
                let p = if p.is_finite() {
                    p.clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let lo = scale(e, 1.0 - p).min(self.max_delay);
                let hi = scale(e, 1.0 + p).min(self.max_delay);
                rng.duration_between(lo, hi)
            }
        }
    }

    /// The delay to use when the server sent a hint: the hint, cut to the cap, in place of
    /// `computed`; or `computed` when there is no hint or hints are not honoured.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::Backoff;
    ///
    /// let b = Backoff::default();
    /// let computed = Duration::from_millis(100);
    /// assert_eq!(b.apply_retry_after(computed, None), computed);
    /// assert_eq!(b.apply_retry_after(computed, Some(Duration::from_secs(2))), Duration::from_secs(2));
    /// ```
    pub fn apply_retry_after(&self, computed: Duration, retry_after: Option<Duration>) -> Duration {
        match (retry_after, self.retry_after_cap) {
            (Some(hint), Some(cap)) => hint.min(cap),
            _ => computed,
        }
    }
}

/// `d × factor`, saturating instead of panicking.
fn scale(d: Duration, factor: f64) -> Duration {
    let nanos = d.as_nanos() as f64 * factor;
    if nanos >= u64::MAX as f64 {
        Duration::from_nanos(u64::MAX)
    } else {
        Duration::from_nanos(nanos.max(0.0).round() as u64)
    }
}

#[cfg(feature = "serde")]
mod config {
    use super::*;
    use crate::serde_duration;
    use serde::Deserialize;

    /// The serialised form: `{ kind = "exponential", base = "100ms", factor = 2.0,
    /// max_delay = "10s", jitter = "full", retry_after_cap = "30s" }`.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct BackoffConfig {
        kind: KindName,
        #[serde(with = "serde_duration")]
        base: Duration,
        #[serde(default, with = "serde_duration::option")]
        step: Option<Duration>,
        #[serde(default)]
        factor: Option<f64>,
        #[serde(default, with = "serde_duration::option")]
        max_delay: Option<Duration>,
        #[serde(default)]
        jitter: Option<JitterConfig>,
        #[serde(default, with = "serde_duration::option")]
        retry_after_cap: Option<Duration>,
        #[serde(default)]
        ignore_retry_after: bool,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum KindName {
        Constant,
        Linear,
        Exponential,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum JitterConfig {
        None,
        Full,
        Equal,
        Decorrelated,
        Proportional(f64),
    }

    impl TryFrom<BackoffConfig> for Backoff {
        type Error = ConfigError;

        fn try_from(c: BackoffConfig) -> Result<Self, ConfigError> {
            let mut b = match c.kind {
                KindName::Constant => Backoff::constant(c.base),
                KindName::Linear => Backoff::linear(c.base, c.step.unwrap_or(c.base)),
                KindName::Exponential => {
                    Backoff::exponential(c.base).factor(c.factor.unwrap_or(2.0))
                }
            };
            if !matches!(c.kind, KindName::Exponential) && c.factor.is_some() {
                return Err(ConfigError::new(
                    "factor",
                    "only an exponential backoff has a factor",
                ));
            }
            if !matches!(c.kind, KindName::Linear) && c.step.is_some() {
                return Err(ConfigError::new("step", "only a linear backoff has a step"));
            }
            if let Some(max) = c.max_delay {
                b = b.max_delay(max);
            }
            if let Some(j) = c.jitter {
                b = b.jitter(match j {
                    JitterConfig::None => Jitter::None,
                    JitterConfig::Full => Jitter::Full,
                    JitterConfig::Equal => Jitter::Equal,
                    JitterConfig::Decorrelated => Jitter::Decorrelated,
                    JitterConfig::Proportional(p) => Jitter::Proportional(p),
                });
            }
            if c.ignore_retry_after {
                b = b.retry_after_cap(None);
            } else if let Some(cap) = c.retry_after_cap {
                b = b.retry_after_cap(Some(cap));
            }
            b.validate()?;
            Ok(b)
        }
    }

    impl<'de> Deserialize<'de> for Backoff {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let c = BackoffConfig::deserialize(d)?;
            Backoff::try_from(c).map_err(serde::de::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{any, prop_assert, prop_oneof, proptest, Just, Strategy};

    fn jitters() -> impl Strategy<Value = Jitter> {
        prop_oneof![
            Just(Jitter::None),
            Just(Jitter::Full),
            Just(Jitter::Equal),
            Just(Jitter::Decorrelated),
            (0.0f64..=1.0).prop_map(Jitter::Proportional),
        ]
    }

    fn backoffs() -> impl Strategy<Value = Backoff> {
        let base = 0u64..5_000_000_000;
        let kind = prop_oneof![
            Just(BackoffKind::Constant),
            (0u64..10_000_000_000).prop_map(|s| BackoffKind::Linear {
                step: Duration::from_nanos(s)
            }),
            (1.0f64..100.0).prop_map(|factor| BackoffKind::Exponential { factor }),
        ];
        (base, kind, 0u64..u64::MAX / 2, jitters()).prop_map(|(base, kind, extra, jitter)| {
            let base = Duration::from_nanos(base);
            let b = Backoff {
                kind,
                base,
                max_delay: base.saturating_add(Duration::from_nanos(extra)),
                jitter,
                retry_after_cap: None,
            };
            b.validate().unwrap();
            b
        })
    }

    fn bounds(b: &Backoff, n: u32, prev: Duration) -> (Duration, Duration) {
        let e = b.envelope(n);
        match b.jitter {
            Jitter::None => (e, e),
            Jitter::Full => (Duration::ZERO, e),
            Jitter::Equal => (e / 2, e),
            Jitter::Decorrelated => (b.base, prev.max(b.base).saturating_mul(3).min(b.max_delay)),
            Jitter::Proportional(p) => (scale(e, 1.0 - p), scale(e, 1.0 + p).min(b.max_delay)),
        }
    }

    proptest! {
        #[test]
        fn every_delay_lies_within_its_bounds(b in backoffs(), n in any::<u32>(), prev in any::<u64>(), seed in any::<u64>()) {
            let prev = Duration::from_nanos(prev);
            let d = b.delay(n, prev, &mut Rng::new(seed));
            let (lo, hi) = bounds(&b, n, prev);
            prop_assert!(d >= lo && d <= hi, "{d:?} outside [{lo:?}, {hi:?}] for {b:?}, n={n}");
            prop_assert!(d <= b.max_delay);
        }

        #[test]
        fn the_envelope_never_decreases(b in backoffs(), n in 0u32..u32::MAX) {
            prop_assert!(b.envelope(n + 1) >= b.envelope(n));
            prop_assert!(b.envelope(n) <= b.max_delay);
        }

        #[test]
        fn extreme_attempt_numbers_do_not_overflow(b in backoffs(), seed in any::<u64>()) {
            let mut rng = Rng::new(seed);
            for n in [u32::MAX, u32::MAX - 1, i32::MAX as u32 + 1, 1 << 20] {
                let d = b.delay(n, Duration::MAX, &mut rng);
                prop_assert!(d <= b.max_delay);
            }
        }
    }

    #[test]
    fn exact_delays_for_each_kind() {
        let ms = Duration::from_millis;
        let mut rng = Rng::new(0);
        let lin = Backoff::linear(ms(100), ms(50)).max_delay(ms(260));
        assert_eq!(
            (0..5)
                .map(|n| lin.delay(n, Duration::ZERO, &mut rng))
                .collect::<Vec<_>>(),
            [100, 150, 200, 250, 260].map(ms)
        );
        let exp = Backoff::exponential(ms(10)).factor(1.5);
        assert_eq!(
            exp.delay(3, Duration::ZERO, &mut rng),
            Duration::from_micros(33_750)
        );
    }

    #[test]
    fn decorrelated_grows_from_the_previous_delay() {
        let b = Backoff::exponential(Duration::from_millis(10))
            .jitter(Jitter::Decorrelated)
            .max_delay(Duration::from_secs(1));
        let mut rng = Rng::new(11);
        let mut prev = Duration::ZERO;
        for _ in 0..100 {
            let d = b.delay(0, prev, &mut rng);
            assert!(d >= Duration::from_millis(10) && d <= prev.max(Duration::from_millis(10)) * 3);
            prev = d;
        }
    }

    #[test]
    fn validation_rejects_nonsense() {
        let ms = Duration::from_millis;
        assert!(Backoff::exponential(ms(1))
            .factor(f64::NAN)
            .validate()
            .is_err());
        assert!(Backoff::exponential(ms(1))
            .factor(f64::INFINITY)
            .validate()
            .is_err());
        assert!(Backoff::constant(ms(1))
            .jitter(Jitter::Proportional(-0.1))
            .validate()
            .is_err());
        assert!(Backoff::default().validate().is_ok());
        assert_eq!(
            Backoff::constant(Duration::from_secs(60)).get_max_delay(),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn retry_after_is_capped_or_ignored() {
        let b = Backoff::constant(Duration::from_millis(100));
        assert_eq!(
            b.apply_retry_after(Duration::ZERO, Some(Duration::from_secs(90))),
            Duration::from_secs(30)
        );
        let b = b.retry_after_cap(None);
        assert_eq!(
            b.apply_retry_after(Duration::from_millis(7), Some(Duration::from_secs(1))),
            Duration::from_millis(7)
        );
    }

    #[cfg(feature = "serde")]
    #[test]
    fn deserialises_and_validates() {
        let b: Backoff = serde_json::from_str(
            r#"{"kind":"exponential","base":"250ms","factor":3.0,"max_delay":"5s","jitter":{"proportional":0.2}}"#,
        )
        .unwrap();
        assert_eq!(
            b,
            Backoff::exponential(Duration::from_millis(250))
                .factor(3.0)
                .max_delay(Duration::from_secs(5))
                .jitter(Jitter::Proportional(0.2))
        );
        let err =
            serde_json::from_str::<Backoff>(r#"{"kind":"exponential","base":"1s","factor":0.5}"#)
                .unwrap_err();
        assert!(err.to_string().contains("invalid `factor`"), "{err}");
        let err =
            serde_json::from_str::<Backoff>(r#"{"kind":"constant","base":"soon"}"#).unwrap_err();
        assert!(err.to_string().contains("soon"), "{err}");
        let err =
            serde_json::from_str::<Backoff>(r#"{"kind":"constant","base":"1s","factor":2.0}"#)
                .unwrap_err();
        assert!(err.to_string().contains("only an exponential"), "{err}");
    }
}

//! Backoff against a reference model, through its public API only: for random settings (valid
//! or not) `validate` refuses exactly the nonsense the docs name; for valid ones the envelope
//! is the documented formula capped by `max_delay`, never decreases, and every delay of a
//! whole retry sequence (each fed the previous delay, as the retry layer does) lies within the
//! bounds its `Jitter` documents; the same seed gives the same sequence.

use std::time::Duration;

use bulwark_policy::{Backoff, BackoffKind, Jitter, Rng};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Settings {
    kind: u8,
    base: Duration,
    step: Duration,
    factor: f64,
    max_delay: Option<Duration>,
    jitter: Jitter,
}

impl Settings {
    fn build(&self) -> Backoff {
        let mut b = match self.kind {
            0 => Backoff::constant(self.base),
            1 => Backoff::linear(self.base, self.step),
            _ => Backoff::exponential(self.base).factor(self.factor),
        };
        if let Some(max) = self.max_delay {
            b = b.max_delay(max);
        }
        b.jitter(self.jitter)
    }

    /// The documented `max_delay`: 10 s, or the base if that is longer, unless set.
    fn max(&self) -> Duration {
        self.max_delay
            .unwrap_or_else(|| Duration::from_secs(10).max(self.base))
    }

    /// What `validate` must refuse.
    fn valid(&self) -> bool {
        let factor_ok = self.kind < 2 || (self.factor.is_finite() && self.factor >= 1.0);
        let jitter_ok = match self.jitter {
            Jitter::Proportional(p) => (0.0..=1.0).contains(&p),
            _ => true,
        };
        factor_ok && self.max() >= self.base && jitter_ok
    }

    /// The envelope for attempt `n`, in nanoseconds, exact for constant and linear.
    fn envelope(&self, n: u32) -> f64 {
        let max = self.max().as_nanos() as f64;
        let raw = match self.kind {
            0 => self.base.as_nanos() as f64,
            1 => (self.base.as_nanos() + self.step.as_nanos() * u128::from(n)) as f64,
            // Zero times any growth, even one too large for a float, is zero.
            _ if self.base.is_zero() => 0.0,
            // An exponential envelope saturates at 64-bit nanoseconds (584 years), as its
            // code says.
            _ => {
                (self.base.as_nanos() as f64 * self.factor.powf(f64::from(n))).min(u64::MAX as f64)
            }
        };
        if raw.is_nan() {
            max
        } else {
            raw.min(max)
        }
    }
}

fn durations() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        (0u64..1_000).prop_map(Duration::from_nanos),
        (0u64..60_000).prop_map(Duration::from_millis),
        (0u64..u64::MAX / 4).prop_map(Duration::from_nanos),
        // The longest a backoff computes in: 64-bit nanoseconds, 584 years.
        Just(Duration::from_nanos(u64::MAX)),
    ]
}

fn jitters() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated),
        (0.0f64..=1.0).prop_map(Jitter::Proportional),
        prop_oneof![Just(-0.1), Just(1.5), Just(f64::NAN), Just(f64::INFINITY)]
            .prop_map(Jitter::Proportional),
    ]
}

fn settings() -> impl Strategy<Value = Settings> {
    let factor = prop_oneof![
        1.0f64..4.0,
        Just(1.0),
        1.0f64..1e6,
        prop_oneof![
            Just(0.5),
            Just(0.0),
            Just(-2.0),
            Just(f64::NAN),
            Just(f64::INFINITY)
        ],
    ];
    (
        0u8..3,
        durations(),
        durations(),
        factor,
        proptest::option::of(durations()),
        jitters(),
    )
        .prop_map(|(kind, base, step, factor, max_delay, jitter)| Settings {
            kind,
            base,
            step,
            factor,
            max_delay,
            jitter,
        })
}

fn nanos(d: Duration) -> f64 {
    d.as_nanos() as f64
}

fn check(s: &Settings, start: u32, seed: u64) -> Result<(), TestCaseError> {
    let b = s.build();
    prop_assert_eq!(
        b.validate().is_ok(),
        s.valid(),
        "validate disagrees for {:?}",
        s
    );
    if !s.valid() {
        return Ok(());
    }
    prop_assert_eq!(b.get_max_delay(), s.max());
    prop_assert_eq!(b.base(), s.base);
    match (s.kind, b.kind()) {
        (0, BackoffKind::Constant) | (1, BackoffKind::Linear { .. }) => {}
        (2, BackoffKind::Exponential { factor }) => prop_assert_eq!(factor, s.factor),
        (k, got) => prop_assert!(false, "kind {} built {:?}", k, got),
    }

    let max = s.max();
    let mut rng = Rng::new(seed);
    let mut again = Rng::new(seed);
    let mut prev = Duration::ZERO;
    let mut last_envelope = Duration::ZERO;
    for n in (start..start.saturating_add(12)).chain([u32::MAX - 1, u32::MAX]) {
        let e = b.envelope(n);
        // Exact for constant and linear; within a part in a billion (or a nanosecond) for a
        // power of a float.
        let want = s.envelope(n);
        let tolerance = if s.kind == 2 {
            (want * 1e-9).max(1.0)
        } else {
            1.0
        };
        prop_assert!(
            (nanos(e) - want).abs() <= tolerance,
            "envelope({}) = {:?}, model {}ns",
            n,
            e,
            want
        );
        prop_assert!(e <= max);
        prop_assert!(e >= last_envelope, "the envelope fell at {}", n);
        last_envelope = e;

        let d = b.delay(n, prev, &mut rng);
        prop_assert_eq!(
            d,
            b.delay(n, prev, &mut again),
            "the same seed, another delay"
        );
        prop_assert!(d <= max, "{:?} over max_delay {:?}", d, max);
        let (lo, hi) = match s.jitter {
            Jitter::None => (nanos(e), nanos(e)),
            Jitter::Full => (0.0, nanos(e)),
            Jitter::Equal => (nanos(e) / 2.0, nanos(e)),
            Jitter::Decorrelated => (nanos(s.base), nanos(prev.max(s.base)) * 3.0),
            // Proportional jitter computes in 64-bit nanoseconds: past 584 years it saturates
            // there, which shortens an absurd delay and is accepted here.
            Jitter::Proportional(p) => (
                (nanos(e) * (1.0 - p)).min(u64::MAX as f64),
                nanos(e) * (1.0 + p),
            ),
            _ => unreachable!("only these are generated"),
        };
        let hi = hi.min(nanos(max));
        // Half-nanosecond rounding at each end, and f64's precision for huge spans.
        let slack = 1.0 + hi * 1e-15;
        prop_assert!(
            nanos(d) + slack >= lo && nanos(d) <= hi + slack,
            "delay {:?} outside [{}, {}]ns at n={} prev={:?} for {:?}",
            d,
            lo,
            hi,
            n,
            prev,
            s
        );
        prev = d;
    }
    // The server's hint is used as given, cut to the cap (30 s by default).
    let hint = Duration::from_secs(u64::from(seed as u16));
    prop_assert_eq!(
        b.apply_retry_after(prev, Some(hint)),
        hint.min(Duration::from_secs(30))
    );
    prop_assert_eq!(b.apply_retry_after(prev, None), prev);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn backoff_follows_its_model(s in settings(), start in prop_oneof![Just(0u32), 0u32..100, any::<u32>()], seed in any::<u64>()) {
        check(&s, start, seed)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000_000))]

    #[test]
    #[ignore = "a million cases; run with --ignored"]
    fn backoff_follows_its_model_long(s in settings(), start in prop_oneof![Just(0u32), 0u32..100, any::<u32>()], seed in any::<u64>()) {
        check(&s, start, seed)?;
    }
}

/// `base × factor^n` with a zero base is zero for every `n`.
#[test]
fn zero_base_exponential_stays_zero() {
    let b = Backoff::exponential(Duration::ZERO);
    b.validate().unwrap();
    assert_eq!(b.envelope(1023), Duration::ZERO);
    assert_eq!(b.envelope(1024), Duration::ZERO);
    assert_eq!(
        b.delay(u32::MAX, Duration::ZERO, &mut Rng::new(0)),
        Duration::ZERO
    );
}

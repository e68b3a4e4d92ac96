//! Properties: attempts never exceed `max_attempts`, and the delays stay within the backoff's
//! bounds.

mod support;

use std::time::Duration;

use bulwark_policy::{Backoff, EventKind, IgnoreDeadline, Jitter};
use bulwark_retry::RetryLayer;
use bulwark_test_support::RecordingHook;
use proptest::prelude::*;
use support::{upstream, Boom};
use tower::{Layer, ServiceExt};

fn backoffs() -> impl Strategy<Value = Backoff> {
    let kind = prop_oneof![Just(0u8), Just(1), Just(2)];
    let jitter = prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated),
        (0.0f64..=1.0).prop_map(Jitter::Proportional),
    ];
    (kind, 0u64..500, 0u64..200, 1.0f64..4.0, 0u64..5_000, jitter).prop_map(
        |(kind, base, step, factor, extra, jitter)| {
            let base = Duration::from_millis(base);
            let b = match kind {
                0 => Backoff::constant(base),
                1 => Backoff::linear(base, Duration::from_millis(step)),
                _ => Backoff::exponential(base).factor(factor),
            };
            b.max_delay(base + Duration::from_millis(extra))
                .jitter(jitter)
        },
    )
}

/// The bounds the backoff documents for retry `n`, with a microsecond for float rounding.
fn bounds(b: &Backoff, n: u32) -> (Duration, Duration) {
    let e = b.envelope(n);
    let max = b.get_max_delay();
    let slack = Duration::from_micros(1);
    let (lo, hi) = match b.get_jitter() {
        Jitter::None => (e, e),
        Jitter::Full => (Duration::ZERO, e),
        Jitter::Equal => (e - e / 2, e),
        Jitter::Decorrelated => (b.base().min(max), max),
        Jitter::Proportional(p) => (e.mul_f64(1.0 - p).min(max), e.mul_f64(1.0 + p).min(max)),
        other => panic!("no bounds for {other:?}"),
    };
    (lo.saturating_sub(slack), hi + slack)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn attempts_and_delays_stay_within_their_bounds(
        max_attempts in 1u32..8,
        failures in 0u32..10,
        backoff in backoffs(),
        seed in any::<u64>(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let hook = RecordingHook::new();
            let up = upstream(move |n, req: u32| if n < failures { Err(Boom(n)) } else { Ok(req) });
            let svc = RetryLayer::builder()
                .max_attempts(max_attempts)
                .backoff(backoff.clone())
                .seed(seed)
                .no_budget()
                .deadline(IgnoreDeadline)
                .hook(hook.clone())
                .build()
                .unwrap()
                .layer(up.clone());
            let start = tokio::time::Instant::now();
            let result = svc.oneshot(7).await;
            let elapsed = start.elapsed();

            let attempts = up.calls.count() as u32;
            prop_assert!(attempts <= max_attempts);
            prop_assert_eq!(attempts, max_attempts.min(failures + 1));
            if failures < max_attempts {
                prop_assert_eq!(result, Ok(7));
            } else {
                prop_assert_eq!(result, Err(Boom(max_attempts - 1)));
            }

            let delays: Vec<Duration> = hook
                .kinds()
                .into_iter()
                .filter_map(|k| match k {
                    EventKind::RetryAttempt { delay, .. } => Some(delay),
                    _ => None,
                })
                .collect();
            prop_assert_eq!(delays.len() as u32, attempts - 1);
            let (mut lo_sum, mut hi_sum, mut sum) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
            for (n, delay) in delays.iter().enumerate() {
                let (lo, hi) = bounds(&backoff, n as u32);
                prop_assert!(lo <= *delay && *delay <= hi, "retry {}: {:?} outside {:?}..={:?}", n, delay, lo, hi);
                lo_sum += lo;
                hi_sum += hi;
                sum += *delay;
            }
            prop_assert!(lo_sum <= sum && sum <= hi_sum);
            prop_assert!(sum <= backoff.get_max_delay() * (max_attempts - 1) + Duration::from_micros(u64::from(max_attempts)));
            prop_assert!(elapsed >= sum, "slept {:?} for delays summing to {:?}", elapsed, sum);
            Ok(())
        })?;
    }
}

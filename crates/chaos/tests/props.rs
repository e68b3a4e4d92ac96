//! Properties of the per-call decision over arbitrary seeds, rates and latency ranges.

mod support;

use std::task::Poll;
use std::time::Duration;

use bulwark_chaos::{ChaosLayer, Latency};
use bulwark_policy::{EventKind, Fault};
use bulwark_test_support::RecordingHook;
use proptest::prelude::*;
use support::{call_now, Echo};
use tower::Layer;

const CALLS: u32 = 200;

/// Runs `CALLS` calls and returns, per call, whether it was answered by the chaos layer
/// (error or 503) or by the inner service, with every event reported.
fn run(seed: u64, rates: (f64, f64, f64), latency: Latency) -> (Vec<u8>, Vec<EventKind>) {
    let hook = RecordingHook::new();
    let layer = ChaosLayer::builder()
        .seed(seed)
        .error_rate(rates.0)
        .response_rate(rates.1)
        .response_with(|| 503)
        .latency_rate(rates.2)
        .latency(latency)
        .hook(hook.clone())
        .build()
        .unwrap();
    let mut svc = layer.layer(Echo::default());
    let mut seen = Vec::new();
    for n in 0..CALLS {
        seen.push(match call_now(&mut svc, n) {
            Poll::Ready(Err(_)) => 1,
            Poll::Ready(Ok(503)) => 2,
            Poll::Ready(Ok(m)) => {
                assert_eq!(m, n);
                0
            }
            Poll::Pending => 3,
        });
    }
    let stats = layer.handle().stats();
    assert_eq!(stats.calls, u64::from(CALLS));
    (seen, hook.kinds())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn delays_stay_in_range_and_every_fault_is_reported_once(
        seed in any::<u64>(),
        error in 0.0..=1.0f64,
        response in 0.0..=1.0f64,
        delayed in 0.0..=1.0f64,
        lo in 0u64..1_000_000,
        span in 0u64..1_000_000,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let _runtime = runtime.enter();
        let latency = Latency::uniform(Duration::from_micros(lo), Duration::from_micros(lo + span));
        let (seen, events) = run(seed, (error, response, delayed), latency);

        let mut delays = 0;
        let mut answers = 0;
        for kind in &events {
            match kind {
                EventKind::FaultInjected { fault: Fault::Latency(d) } => {
                    prop_assert!(*d >= latency.min && *d <= latency.max, "{d:?} outside {latency:?}");
                    delays += 1;
                }
                EventKind::FaultInjected { fault: Fault::Error | Fault::Response } => answers += 1,
                other => prop_assert!(false, "unexpected {other:?}"),
            }
        }
        // A delayed call is pending on its first poll; an undelayed one is answered at once.
        prop_assert_eq!(seen.iter().filter(|s| **s == 3).count(), delays);
        let immediate_answers = seen.iter().filter(|s| **s == 1 || **s == 2).count();
        prop_assert!(immediate_answers <= answers);
        if response == 0.0 {
            prop_assert!(!seen.contains(&2));
        }
        // And the same seed replays the run.
        prop_assert_eq!((seen, events), run(seed, (error, response, delayed), latency));
    }
}

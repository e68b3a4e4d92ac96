//! Injection rates under a seed: they hold statistically, and a seed replays a run exactly.

mod support;

use std::task::Poll;
use std::time::Duration;

use bulwark_chaos::{ChaosLayer, Injected, Latency};
use bulwark_policy::{EventKind, Fault};
use bulwark_test_support::RecordingHook;
use support::{call_now, Echo};
use tower::Layer;

const CALLS: u32 = 10_000;

/// Five standard deviations of a binomial count: a seeded run outside it would be a bug, not
/// bad luck (the chance is below one in a million).
fn tolerance(p: f64) -> f64 {
    5.0 * (f64::from(CALLS) * p * (1.0 - p)).sqrt()
}

fn assert_near(what: &str, count: u64, p: f64) {
    let expected = f64::from(CALLS) * p;
    let off = (count as f64 - expected).abs();
    assert!(
        off <= tolerance(p),
        "{what}: {count} of {CALLS}, expected {expected} ± {:.0}",
        tolerance(p)
    );
}

#[test]
fn error_rate_holds_within_five_standard_deviations() {
    for seed in 1..=3 {
        for p in [0.1, 0.5] {
            let layer = ChaosLayer::builder()
                .seed(seed)
                .error_rate(p)
                .build()
                .unwrap();
            let inner = Echo::default();
            let mut svc = layer.layer(inner.clone());
            let mut errors = 0;
            for n in 0..CALLS {
                match call_now(&mut svc, n) {
                    Poll::Ready(Ok(answer)) => assert_eq!(answer, n),
                    Poll::Ready(Err(e)) => {
                        assert!(e.is::<Injected>());
                        errors += 1;
                    }
                    Poll::Pending => panic!("nothing here takes time"),
                }
            }
            assert_near("errors", errors, p);
            let stats = layer.handle().stats();
            assert_eq!(stats.errors, errors);
            assert_eq!(stats.calls, u64::from(CALLS));
            assert_eq!(inner.calls() as u64, u64::from(CALLS) - errors);
        }
    }
}

#[test]
fn errors_and_responses_split_one_draw_and_each_holds_its_rate() {
    let layer = ChaosLayer::builder()
        .seed(11)
        .error_rate(0.2)
        .response_rate(0.3)
        .response_with(|| 503)
        .build()
        .unwrap();
    let inner = Echo::default();
    let mut svc = layer.layer(inner.clone());
    let (mut errors, mut responses) = (0, 0);
    for n in 0..CALLS {
        match call_now(&mut svc, n) {
            Poll::Ready(Ok(503)) => responses += 1,
            Poll::Ready(Ok(answer)) => assert_eq!(answer, n),
            Poll::Ready(Err(_)) => errors += 1,
            Poll::Pending => panic!("nothing here takes time"),
        }
    }
    assert_near("errors", errors, 0.2);
    assert_near("responses", responses, 0.3);
    assert_near("real calls", inner.calls() as u64, 0.5);
}

#[test]
fn rates_of_zero_and_one_are_exact() {
    let always = ChaosLayer::builder()
        .seed(1)
        .error_rate(1.0)
        .build()
        .unwrap();
    let never = ChaosLayer::builder()
        .seed(1)
        .error_rate(0.0)
        .build()
        .unwrap();
    let (mut always, mut never) = (always.layer(Echo::default()), never.layer(Echo::default()));
    for n in 0..1_000 {
        assert!(matches!(call_now(&mut always, n), Poll::Ready(Err(_))));
        assert!(matches!(call_now(&mut never, n), Poll::Ready(Ok(m)) if m == n));
    }
}

#[tokio::test(start_paused = true)]
async fn latency_rate_holds_and_every_delay_is_in_range() {
    let (lo, hi) = (Duration::from_millis(10), Duration::from_millis(20));
    let hook = RecordingHook::new();
    let layer = ChaosLayer::builder()
        .seed(5)
        .latency_rate(0.25)
        .latency(Latency::uniform(lo, hi))
        .hook(hook.clone())
        .build()
        .unwrap();
    let mut svc = layer.layer(Echo::default());
    for n in 0..CALLS {
        // A delayed answer is pending; dropping it is all this test needs.
        let _ = call_now(&mut svc, n);
    }
    let delays: Vec<Duration> = hook
        .kinds()
        .into_iter()
        .map(|kind| match kind {
            EventKind::FaultInjected {
                fault: Fault::Latency(d),
            } => d,
            other => panic!("only delays were asked for, got {other:?}"),
        })
        .collect();
    assert_near("delays", delays.len() as u64, 0.25);
    assert_eq!(layer.handle().stats().delays, delays.len() as u64);
    assert!(delays.iter().all(|d| (lo..=hi).contains(d)), "{delays:?}");
    // Uniform over the range: both ends' first tenth are reached in ~2,500 draws.
    assert!(delays.iter().any(|d| *d < Duration::from_millis(11)));
    assert!(delays.iter().any(|d| *d > Duration::from_millis(19)));
}

/// What a run of calls got, in order, as the hook saw it.
fn run(seed: u64, error_rate: f64, calls: u32) -> Vec<EventKind> {
    let hook = RecordingHook::new();
    let layer = ChaosLayer::builder()
        .seed(seed)
        .error_rate(error_rate)
        .response_rate(0.2)
        .response_with(|| 503)
        .latency_rate(0.3)
        .latency(Latency::uniform(
            Duration::from_millis(1),
            Duration::from_secs(1),
        ))
        .hook(hook.clone())
        .build()
        .unwrap();
    let mut svc = layer.layer(Echo::default());
    for n in 0..calls {
        let _ = call_now(&mut svc, n);
    }
    hook.kinds()
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_gives_the_same_faults_and_another_seed_does_not() {
    let first = run(7, 0.2, 2_000);
    assert!(first.len() > 500, "{} faults", first.len());
    assert_eq!(first, run(7, 0.2, 2_000));
    assert_ne!(first, run(8, 0.2, 2_000));
}

#[tokio::test(start_paused = true)]
async fn changing_the_error_rate_leaves_the_delays_where_they_were() {
    let delays = |kinds: Vec<EventKind>| {
        kinds
            .into_iter()
            .filter(|k| {
                matches!(
                    k,
                    EventKind::FaultInjected {
                        fault: Fault::Latency(_)
                    }
                )
            })
            .collect::<Vec<_>>()
    };
    let calm = run(21, 0.0, 1_000);
    let stormy = run(21, 0.6, 1_000);
    assert_ne!(calm, stormy);
    assert_eq!(delays(calm), delays(stormy));
}

#[test]
fn services_and_clones_of_one_layer_share_one_sequence() {
    let sequence = |alternate: bool| {
        let layer = ChaosLayer::builder()
            .seed(3)
            .error_rate(0.4)
            .build()
            .unwrap();
        let mut a = layer.layer(Echo::default());
        let mut b = layer.clone().layer(Echo::default());
        (0..1_000)
            .map(|n| {
                let svc = if alternate && n % 2 == 1 {
                    &mut b
                } else {
                    &mut a
                };
                matches!(call_now(svc, n), Poll::Ready(Err(_)))
            })
            .collect::<Vec<bool>>()
    };
    // The k-th call through the instance gets the same fault whichever service makes it.
    assert_eq!(sequence(false), sequence(true));
}

//! Outlier detection: when endpoints are ejected, for how long, and how many.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use bulwark_balance::{BalanceLayer, OutlierDetection, Strategy};
use bulwark_policy::{BoxError, EventKind, Outcome};
use bulwark_test_support::fuzz::paused_runtime;
use bulwark_test_support::RecordingHook;
use support::{call, ejected, ep, failing, max_ejected, poll_once, ready_now};
use tokio::time::advance;
use tower::Service;

fn ejections(hook: &RecordingHook) -> Vec<(String, u32, Duration)> {
    hook.events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::EndpointEjected {
                ejections,
                duration,
            } => Some((e.key.unwrap(), ejections, duration)),
            _ => None,
        })
        .collect()
}

fn restorations(hook: &RecordingHook) -> Vec<String> {
    hook.events()
        .into_iter()
        .filter(|e| e.kind == EventKind::EndpointRestored)
        .map(|e| e.key.unwrap())
        .collect()
}

async fn run<S: Service<(), Error = BoxError>>(lb: &mut S, n: usize) {
    for _ in 0..n {
        let _ = call(lb, ()).await;
    }
}

#[tokio::test(start_paused = true)]
async fn consecutive_failures_eject_and_the_ejection_grows_with_each_repeat() {
    let hook = RecordingHook::new();
    let (bad, bad_ctl) = ep("bad");
    bad_ctl.fail.store(true, Ordering::SeqCst);
    let outlier = OutlierDetection::builder()
        .consecutive_failures(Some(3))
        .base_ejection_time(Duration::from_secs(10))
        .max_ejection_time(Duration::from_secs(25))
        .max_ejection_percent(50.0)
        .build()
        .unwrap();
    let mut lb = BalanceLayer::builder()
        .strategy(Strategy::RoundRobin)
        .outlier_detection(outlier)
        .hook(hook.clone())
        .build()
        .endpoints([("bad", bad), ("b", ep("b").0), ("c", ep("c").0)]);

    run(&mut lb, 9).await;
    assert_eq!(bad_ctl.calls(), 3);
    assert_eq!(
        ejections(&hook),
        [("bad".into(), 1, Duration::from_secs(10))]
    );
    run(&mut lb, 30).await;
    assert_eq!(bad_ctl.calls(), 3, "an ejected endpoint takes no calls");

    advance(Duration::from_millis(9_999)).await;
    run(&mut lb, 30).await;
    assert_eq!(bad_ctl.calls(), 3);
    assert!(restorations(&hook).is_empty());

    advance(Duration::from_millis(1)).await;
    run(&mut lb, 1).await;
    assert_eq!(restorations(&hook), ["bad"]);
    run(&mut lb, 9).await;
    assert_eq!(bad_ctl.calls(), 6);
    // Ejected again soon after: twice the base.
    assert_eq!(
        ejections(&hook)[1],
        ("bad".into(), 2, Duration::from_secs(20))
    );

    advance(Duration::from_secs(20)).await;
    run(&mut lb, 9).await;
    // The third ejection in a row would last 30 s; the cap is 25 s.
    assert_eq!(
        ejections(&hook)[2],
        ("bad".into(), 3, Duration::from_secs(25))
    );
    let info = lb.handle().endpoints();
    assert!(info[0].ejected && info[0].ejections == 3);
}

#[tokio::test(start_paused = true)]
async fn a_failure_percentage_ejects_once_the_interval_has_the_minimum_volume() {
    let hook = RecordingHook::new();
    let (flaky, flaky_ctl) = ep("flaky");
    flaky_ctl.fail_every.store(2, Ordering::SeqCst);
    let outlier = OutlierDetection::builder()
        .consecutive_failures(None)
        .failure_percentage(40.0, 10, Duration::from_secs(60))
        .build()
        .unwrap();
    let mut lb = BalanceLayer::builder()
        .strategy(Strategy::RoundRobin)
        .outlier_detection(outlier)
        .hook(hook.clone())
        .build()
        .endpoints([("flaky", flaky), ("b", ep("b").0), ("c", ep("c").0)]);
    while flaky_ctl.calls() < 9 {
        run(&mut lb, 1).await;
    }
    assert!(
        ejections(&hook).is_empty(),
        "9 calls are below the minimum volume"
    );
    while flaky_ctl.calls() < 10 {
        run(&mut lb, 1).await;
    }
    assert_eq!(
        ejections(&hook).len(),
        1,
        "5 failures in 10 calls is 50% >= 40%"
    );
}

#[tokio::test(start_paused = true)]
async fn failures_spread_over_many_intervals_never_reach_the_volume() {
    let hook = RecordingHook::new();
    let (flaky, flaky_ctl) = ep("flaky");
    flaky_ctl.fail.store(true, Ordering::SeqCst);
    let outlier = OutlierDetection::builder()
        .consecutive_failures(None)
        .failure_percentage(40.0, 5, Duration::from_secs(1))
        .build()
        .unwrap();
    let mut lb = BalanceLayer::builder()
        .strategy(Strategy::RoundRobin)
        .outlier_detection(outlier)
        .hook(hook.clone())
        .build()
        .endpoints([("flaky", flaky), ("b", ep("b").0)]);
    for _ in 0..40 {
        run(&mut lb, 1).await;
        advance(Duration::from_millis(300)).await;
    }
    // Four calls at most fall in any one-second interval.
    assert!(flaky_ctl.calls() >= 20);
    assert!(ejections(&hook).is_empty());
}

#[tokio::test(start_paused = true)]
async fn no_more_than_the_maximum_percentage_is_ejected() {
    let hook = RecordingHook::new();
    let outlier = OutlierDetection::builder()
        .consecutive_failures(Some(1))
        .max_ejection_percent(50.0)
        .panic_threshold(0.0)
        .build()
        .unwrap();
    let mut lb = BalanceLayer::builder()
        .strategy(Strategy::RoundRobin)
        .outlier_detection(outlier)
        .hook(hook.clone())
        .build()
        .endpoints(failing(&["a", "b", "c", "d"]));
    run(&mut lb, 100).await;
    assert_eq!(ejections(&hook).len(), 2);
    assert_eq!(ejected(&lb.handle()), 2);
}

#[tokio::test(start_paused = true)]
async fn a_small_percentage_still_ejects_one_endpoint() {
    let hook = RecordingHook::new();
    let (bad, bad_ctl) = ep("bad");
    bad_ctl.fail.store(true, Ordering::SeqCst);
    let outlier = OutlierDetection::builder()
        .consecutive_failures(Some(2))
        .build()
        .unwrap();
    let mut lb = BalanceLayer::builder()
        .outlier_detection(outlier)
        .hook(hook.clone())
        .seed(3)
        .build()
        .endpoints([("bad", bad), ("good", ep("good").0)]);
    run(&mut lb, 50).await;
    // 10% of 2 endpoints rounds down to 0; as in Envoy, one may still go.
    assert_eq!(ejections(&hook).len(), 1);
}

async fn panic_run(panic_threshold: f64) -> Vec<usize> {
    let outlier = OutlierDetection::builder()
        .consecutive_failures(Some(1))
        .max_ejection_percent(100.0)
        .panic_threshold(panic_threshold)
        .build()
        .unwrap();
    let mut controls = Vec::new();
    let eps: Vec<_> = ["a", "b", "c", "ok"]
        .into_iter()
        .map(|k| {
            let (e, ctl) = ep(k);
            ctl.fail.store(k != "ok", Ordering::SeqCst);
            controls.push(ctl);
            (k, e)
        })
        .collect();
    let mut lb = BalanceLayer::builder()
        .strategy(Strategy::RoundRobin)
        .outlier_detection(outlier)
        .build()
        .endpoints(eps);
    run(&mut lb, 8).await;
    let before: Vec<_> = controls.iter().map(|c| c.calls()).collect();
    run(&mut lb, 40).await;
    controls
        .iter()
        .zip(before)
        .map(|(c, b)| c.calls() - b)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn below_the_panic_threshold_every_endpoint_takes_traffic() {
    // Three of four ejected leaves 25% healthy, under a 50% threshold: balance over all.
    let calls = panic_run(50.0).await;
    assert!(calls.iter().all(|&c| c >= 5), "{calls:?}");
    // With panic mode off the healthy endpoint takes everything.
    assert_eq!(panic_run(0.0).await, [0, 0, 0, 40]);
}

#[tokio::test(start_paused = true)]
async fn with_every_endpoint_ejected_and_panic_mode_off_calls_fail_with_no_endpoint() {
    let hook = RecordingHook::new();
    let outlier = OutlierDetection::builder()
        .consecutive_failures(Some(1))
        .max_ejection_percent(100.0)
        .panic_threshold(0.0)
        .build()
        .unwrap();
    let eps: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|k| {
            let (e, ctl) = ep(k);
            ctl.fail.store(true, Ordering::SeqCst);
            (k, e)
        })
        .collect();
    let mut lb = BalanceLayer::builder()
        .strategy(Strategy::RoundRobin)
        .outlier_detection(outlier)
        .hook(hook.clone())
        .build()
        .endpoints(eps);
    run(&mut lb, 2).await;
    assert_eq!(ejections(&hook).len(), 2);
    let err = call(&mut lb, ()).await.unwrap_err();
    assert!(err.is::<bulwark_balance::NoEndpoint>(), "{err}");
    assert_eq!(hook.count(|k| *k == EventKind::NoEndpoint), 1);
}

#[tokio::test(start_paused = true)]
async fn ignored_outcomes_and_cancellations_never_eject() {
    let hook = RecordingHook::new();
    let (bad, bad_ctl) = ep("bad");
    bad_ctl.fail.store(true, Ordering::SeqCst);
    let outlier = OutlierDetection::builder()
        .consecutive_failures(Some(1))
        .max_ejection_percent(100.0)
        .build()
        .unwrap();
    let mut lb = BalanceLayer::builder()
        .outlier_detection(outlier.clone())
        .classify(|_: &Result<&'static str, BoxError>| Outcome::Ignore)
        .hook(hook.clone())
        .build()
        .endpoints([("bad", bad.clone())]);
    run(&mut lb, 20).await;
    assert!(ejections(&hook).is_empty());

    bad_ctl.hold.store(true, Ordering::SeqCst);
    let mut lb = BalanceLayer::builder()
        .outlier_detection(outlier)
        .hook(hook.clone())
        .build()
        .endpoints([("bad", bad)]);
    for _ in 0..20 {
        ready_now::<_, ()>(&mut lb);
        let mut fut = lb.call(());
        assert!(poll_once(&mut fut).is_pending());
    }
    assert!(ejections(&hook).is_empty());
    assert_eq!(lb.handle().endpoints()[0].pending, 0);
}

#[tokio::test(start_paused = true)]
async fn ejection_jitter_stays_within_its_bounds_and_follows_the_seed() {
    async fn first_ejection(seed: u64) -> Duration {
        let hook = RecordingHook::new();
        let (bad, bad_ctl) = ep("bad");
        bad_ctl.fail.store(true, Ordering::SeqCst);
        let outlier = OutlierDetection::builder()
            .consecutive_failures(Some(1))
            .base_ejection_time(Duration::from_secs(10))
            .ejection_jitter(0.5)
            .build()
            .unwrap();
        let mut lb = BalanceLayer::builder()
            .outlier_detection(outlier)
            .hook(hook.clone())
            .seed(seed)
            .build()
            .endpoints([("bad", bad), ("good", ep("good").0)]);
        while ejections(&hook).is_empty() {
            run(&mut lb, 1).await;
        }
        ejections(&hook)[0].2
    }
    let mut seen = Vec::new();
    for seed in 0..20 {
        let d = first_ejection(seed).await;
        assert!(
            d >= Duration::from_secs(5) && d <= Duration::from_secs(15),
            "{d:?}"
        );
        assert_eq!(d, first_ejection(seed).await);
        seen.push(d);
    }
    seen.dedup();
    assert!(seen.len() > 1);
}

#[test]
fn nonsense_settings_are_refused() {
    let field = |b: bulwark_balance::OutlierDetectionBuilder| b.build().unwrap_err().field();
    let b = OutlierDetection::builder;
    assert_eq!(
        field(b().consecutive_failures(Some(0))),
        "consecutive_failures"
    );
    assert_eq!(
        field(b().consecutive_failures(None)),
        "consecutive_failures"
    );
    assert_eq!(
        field(b().max_ejection_percent(-1.0)),
        "max_ejection_percent"
    );
    assert_eq!(field(b().panic_threshold(100.5)), "panic_threshold");
    assert_eq!(field(b().panic_threshold(f64::NAN)), "panic_threshold");
    assert_eq!(
        field(b().base_ejection_time(Duration::ZERO)),
        "base_ejection_time"
    );
    assert_eq!(
        field(b().max_ejection_time(Duration::from_secs(1))),
        "max_ejection_time"
    );
    assert_eq!(field(b().ejection_jitter(2.0)), "ejection_jitter");
    assert_eq!(
        field(b().failure_percentage(101.0, 5, Duration::from_secs(1))),
        "failure_percentage.percent"
    );
    assert_eq!(
        field(b().failure_percentage(50.0, 0, Duration::from_secs(1))),
        "failure_percentage.min_requests"
    );
}

#[cfg(feature = "serde")]
#[test]
fn deserialises_with_defaults_and_validation() {
    let o: OutlierDetection = serde_json::from_str(
        r#"{"consecutive_failures":3,"failure_percentage":{"percent":50,"min_requests":20,"interval":"10s"},"base_ejection_time":"5s"}"#,
    )
    .unwrap();
    assert_eq!(o.get_consecutive_failures(), Some(3));
    assert_eq!(o.get_base_ejection_time(), Duration::from_secs(5));
    assert_eq!(o.get_max_ejection_percent(), 10.0);
    let d: OutlierDetection = serde_json::from_str("{}").unwrap();
    assert_eq!(d, OutlierDetection::default());
    assert!(serde_json::from_str::<OutlierDetection>(r#"{"max_ejection_percent":150}"#).is_err());
    assert!(serde_json::from_str::<OutlierDetection>(r#"{"base_ejection_time":"soon"}"#).is_err());
    assert!(serde_json::from_str::<OutlierDetection>(r#"{"panic":5}"#).is_err());
}

fn ejection_bound_holds(
    n: usize,
    percent: f64,
    script: &[(usize, bool, u64)],
) -> Result<(), proptest::test_runner::TestCaseError> {
    use proptest::prop_assert;

    paused_runtime().block_on(async {
        let names = ["a", "b", "c", "d", "e", "f", "g", "h"];
        let mut controls = Vec::new();
        let eps: Vec<_> = names[..n]
            .iter()
            .map(|&k| {
                let (e, ctl) = ep(k);
                controls.push(ctl);
                (k, e)
            })
            .collect();
        let outlier = OutlierDetection::builder()
            .consecutive_failures(Some(2))
            .base_ejection_time(Duration::from_secs(1))
            .max_ejection_time(Duration::from_secs(4))
            .max_ejection_percent(percent)
            .panic_threshold(0.0)
            .build()
            .unwrap();
        let mut lb = BalanceLayer::builder()
            .outlier_detection(outlier)
            .seed(1)
            .build()
            .endpoints(eps);
        let bound = max_ejected(n, percent);
        for &(who, fail, wait_ms) in script {
            controls[who % n].fail.store(fail, Ordering::SeqCst);
            let _ = call(&mut lb, ()).await;
            advance(Duration::from_millis(wait_ms)).await;
            let ejected = ejected(&lb.handle());
            prop_assert!(ejected <= bound, "{ejected} > {bound}");
        }
        // Once every ejection has run out, the next pick restores them all.
        for c in &controls {
            c.fail.store(false, Ordering::SeqCst);
        }
        advance(Duration::from_secs(5)).await;
        let _ = call(&mut lb, ()).await;
        prop_assert!(lb.handle().endpoints().iter().all(|e| !e.ejected));
        Ok(())
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    // Whatever the failures and the timing, no more endpoints are out than the maximum allows,
    // and every ejection ends.
    #[test]
    fn never_more_ejected_than_the_maximum(
        n in 1usize..8,
        percent in 1.0f64..100.0,
        script in proptest::collection::vec((0usize..8, proptest::bool::ANY, 0u64..1500), 1..200),
    ) {
        ejection_bound_holds(n, percent, &script)?;
    }
}

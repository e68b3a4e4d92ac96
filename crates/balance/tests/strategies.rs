//! Each strategy's promised distribution, checked over many seeded picks.

mod support;

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use bulwark_balance::{BalanceLayer, PeakEwma, Strategy};
use bulwark_test_support::call_once;
use proptest::prelude::*;
use support::{call, ep, poll_once, ready_now};
use tower::{service_fn, Service};

fn named(names: &[&'static str]) -> Vec<(&'static str, support::Ep)> {
    names.iter().map(|&n| (n, ep(n).0)).collect()
}

async fn tally<S>(lb: &mut S, n: usize) -> HashMap<&'static str, usize>
where
    S: Service<(), Response = &'static str>,
    S::Error: std::fmt::Debug,
{
    let mut counts = HashMap::new();
    for _ in 0..n {
        *counts.entry(call(lb, ()).await.unwrap()).or_default() += 1;
    }
    counts
}

#[tokio::test(start_paused = true)]
async fn round_robin_visits_each_endpoint_in_turn() {
    let layer = BalanceLayer::builder()
        .strategy(Strategy::RoundRobin)
        .build();
    let mut lb = layer.endpoints(named(&["a", "b", "c"]));
    let mut seen = Vec::new();
    for _ in 0..9 {
        seen.push(call(&mut lb, ()).await.unwrap());
    }
    assert_eq!(&seen[..3], &seen[3..6]);
    assert_eq!(&seen[..3], &seen[6..9]);
    let mut first = seen[..3].to_vec();
    first.sort();
    assert_eq!(first, ["a", "b", "c"]);
}

#[tokio::test(start_paused = true)]
async fn weighted_round_robin_follows_weights_1_2_7_in_every_period() {
    let layer = BalanceLayer::builder()
        .strategy(Strategy::WeightedRoundRobin)
        .build();
    let mut lb = layer.weighted_endpoints([
        ("a", ep("a").0, 1),
        ("b", ep("b").0, 2),
        ("c", ep("c").0, 7),
    ]);
    let mut picks = Vec::new();
    for _ in 0..10_000 {
        picks.push(call(&mut lb, ()).await.unwrap());
    }
    // Smooth weighted round robin is exact over every period of sum(weights) picks.
    for period in picks.chunks(10) {
        let count = |k| period.iter().filter(|&&p| p == k).count();
        assert_eq!(
            (count("a"), count("b"), count("c")),
            (1, 2, 7),
            "{period:?}"
        );
    }
    // And smooth: the heaviest endpoint never takes more than three picks in a row here.
    let longest = picks.chunk_by(|x, y| x == y).map(<[_]>::len).max().unwrap();
    assert!(longest <= 3, "a run of {longest}");
}

#[tokio::test(start_paused = true)]
async fn reweighting_through_the_handle_changes_the_shares() {
    let layer = BalanceLayer::builder()
        .strategy(Strategy::WeightedRoundRobin)
        .build();
    let mut lb = layer.endpoints(named(&["a", "b"]));
    let counts = tally(&mut lb, 1_000).await;
    assert_eq!((counts["a"], counts["b"]), (500, 500));
    assert!(lb.handle().set_weight(&"b", 3));
    let counts = tally(&mut lb, 1_000).await;
    assert_eq!((counts["a"], counts["b"]), (250, 750));
    assert!(lb.handle().set_weight(&"a", 0));
    let counts = tally(&mut lb, 100).await;
    assert_eq!(counts.get("a"), None);
}

#[tokio::test(start_paused = true)]
async fn random_is_uniform() {
    let layer = BalanceLayer::builder()
        .strategy(Strategy::Random)
        .seed(1)
        .build();
    let mut lb = layer.endpoints(named(&["a", "b", "c", "d"]));
    let counts = tally(&mut lb, 4_000).await;
    for (k, c) in &counts {
        // Expected 1000 each; 4 standard deviations is about ±110.
        assert!((880..=1120).contains(c), "{k}: {c} of 4000 ({counts:?})");
    }
}

#[tokio::test(start_paused = true)]
async fn p2c_spreads_evenly_when_idle() {
    let layer = BalanceLayer::builder().seed(2).build();
    let mut lb = layer.endpoints(named(&["a", "b", "c"]));
    let counts = tally(&mut lb, 3_000).await;
    for (k, c) in &counts {
        assert!((880..=1120).contains(c), "{k}: {c} of 3000 ({counts:?})");
    }
}

#[tokio::test(start_paused = true)]
async fn p2c_by_pending_steers_away_from_a_loaded_endpoint() {
    let (slow, slow_ctl) = ep("slow");
    slow_ctl
        .hold
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let layer = BalanceLayer::builder().seed(3).build();
    let mut lb = layer.endpoints([("slow", slow), ("b", ep("b").0), ("c", ep("c").0)]);
    let mut held = Vec::new();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for _ in 0..300 {
        ready_now::<_, ()>(&mut lb);
        let mut fut = lb.call(());
        match poll_once(&mut fut) {
            std::task::Poll::Ready(r) => *counts.entry(r.unwrap()).or_default() += 1,
            std::task::Poll::Pending => held.push(fut),
        }
    }
    // Once one request is stuck on `slow`, every pair that draws it compares 1 with 0.
    assert_eq!(slow_ctl.calls(), 1, "{counts:?}");
    assert_eq!(held.len(), 1);
    let info = lb.handle().endpoints();
    assert_eq!(
        info.iter().map(|e| e.pending).collect::<Vec<_>>(),
        [1, 0, 0]
    );
    // The fast endpoints share the rest evenly.
    assert!(counts["b"].abs_diff(counts["c"]) < 60, "{counts:?}");
    drop(held);
    assert_eq!(lb.handle().endpoints()[0].pending, 0);
}

#[tokio::test(start_paused = true)]
async fn p2c_by_peak_ewma_prefers_the_fast_endpoint() {
    let (slow, slow_ctl) = ep("slow");
    slow_ctl
        .latency_ms
        .store(100, std::sync::atomic::Ordering::SeqCst);
    let (fast, fast_ctl) = ep("fast");
    fast_ctl
        .latency_ms
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let ewma = PeakEwma::new(Duration::from_millis(10), Duration::from_secs(10)).unwrap();
    let layer = BalanceLayer::builder()
        .strategy(Strategy::P2cPeakEwma(ewma))
        .seed(4)
        .build();
    let mut lb = layer.endpoints([("slow", slow), ("fast", fast), ("fast2", ep("fast2").0)]);
    let counts = tally(&mut lb, 300).await;
    // Idle, the slow endpoint looks cheap only until its first 100 ms answer sets its peak.
    assert!(counts.get("slow").copied().unwrap_or(0) <= 2, "{counts:?}");
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_gives_the_same_picks() {
    async fn run(seed: u64) -> Vec<&'static str> {
        let layer = BalanceLayer::builder()
            .strategy(Strategy::Random)
            .seed(seed)
            .build();
        let mut lb = layer.endpoints(named(&["a", "b", "c", "d", "e"]));
        let mut out = Vec::new();
        for _ in 0..50 {
            out.push(call(&mut lb, ()).await.unwrap());
        }
        out
    }
    assert_eq!(run(9).await, run(9).await);
    assert_ne!(run(9).await, run(10).await);
}

fn weighted_counts(weights: &[u32], rounds: usize) -> Vec<usize> {
    let layer = BalanceLayer::builder()
        .strategy(Strategy::WeightedRoundRobin)
        .build();
    let mut lb = layer.weighted_endpoints(weights.iter().enumerate().map(|(i, &w)| {
        (
            i,
            service_fn(move |()| std::future::ready(Ok::<_, Infallible>(i))),
            w,
        )
    }));
    let mut counts = vec![0; weights.len()];
    let total: u32 = weights.iter().sum();
    for _ in 0..rounds * total as usize {
        let i = call_once(&mut lb, ()).expect("a ready endpoint answers");
        counts[i] += 1;
    }
    counts
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    // Over whole periods, smooth weighted round robin gives each endpoint exactly its weight.
    #[test]
    fn weighted_shares_are_exact(weights in proptest::collection::vec(1u32..10, 1..6), rounds in 1usize..5) {
        let counts = weighted_counts(&weights, rounds);
        let expected: Vec<usize> = weights.iter().map(|&w| w as usize * rounds).collect();
        prop_assert_eq!(counts, expected);
    }
}

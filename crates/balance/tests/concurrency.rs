//! Many clones on many threads share one balancer and leave no count behind.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use bulwark_balance::{Balance, BalanceLayer, OutlierDetection, Strategy};
use support::{call, ep, ready_now, Ep};
use tower::Service;

#[test]
fn the_balancer_its_future_and_its_handle_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Balance<&'static str, Ep>>();
    send_sync::<bulwark_balance::BalanceHandle<&'static str, Ep>>();
    send_sync::<bulwark_balance::BalanceLayer>();
    fn send_value<T: Send>(_: &T) {}
    let mut lb = Balance::new([("a", ep("a").0)]);
    ready_now::<_, ()>(&mut lb);
    let fut = lb.call(());
    send_value(&fut);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clones_on_many_threads_keep_exact_counts() {
    for strategy in [
        Strategy::P2cPending,
        Strategy::RoundRobin,
        Strategy::WeightedRoundRobin,
        Strategy::Random,
    ] {
        let mut controls = Vec::new();
        let eps: Vec<_> = ["a", "b", "c", "d"]
            .into_iter()
            .map(|k| {
                let (e, ctl) = ep(k);
                ctl.fail_every
                    .store(if k == "a" { 2 } else { 0 }, Ordering::SeqCst);
                controls.push(ctl);
                (k, e)
            })
            .collect();
        let outlier = OutlierDetection::builder()
            .consecutive_failures(None)
            .failure_percentage(30.0, 20, Duration::from_secs(60))
            .max_ejection_percent(25.0)
            .build()
            .unwrap();
        let lb = BalanceLayer::builder()
            .strategy(strategy.clone())
            .outlier_detection(outlier)
            .build()
            .endpoints(eps);
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let mut lb = lb.clone();
                tokio::spawn(async move {
                    let mut ok = 0usize;
                    for _ in 0..500 {
                        ok += usize::from(call(&mut lb, ()).await.is_ok());
                        tokio::task::yield_now().await;
                    }
                    ok
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            ok += t.await.unwrap();
        }
        let calls: usize = controls.iter().map(|c| c.calls()).sum();
        assert_eq!(calls, 8 * 500, "{strategy:?}");
        let info = lb.handle().endpoints();
        assert!(
            info.iter().all(|e| e.pending == 0),
            "{strategy:?}: {info:?}"
        );
        // The flaky endpoint was ejected for the rest of the run, so most calls succeeded.
        assert!(info[0].ejected, "{strategy:?}: {info:?}");
        assert!(ok > 8 * 500 * 9 / 10, "{strategy:?}: {ok}");
    }
}

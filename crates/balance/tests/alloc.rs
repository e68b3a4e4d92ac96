//! A pick, a call and its response allocate nothing, and neither does cloning the balancer.

use std::convert::Infallible;
use std::future::{ready, Future};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bulwark_balance::{BalanceLayer, OutlierDetection, PeakEwma, Strategy};
use bulwark_test_support::{allocations, RecordingHook};
use tower::{service_fn, Service};

bulwark_test_support::counting_allocator!();

fn one_call<S: Service<u32>>(svc: &mut S) {
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    let fut = pin!(svc.call(1));
    assert!(matches!(fut.poll(&mut cx), Poll::Ready(Ok(_))));
}

#[test]
fn a_pick_and_a_call_allocate_nothing() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let _guard = rt.enter();
    let strategies = [
        Strategy::P2cPending,
        Strategy::P2cPeakEwma(PeakEwma::default()),
        Strategy::RoundRobin,
        Strategy::WeightedRoundRobin,
        Strategy::Random,
    ];
    for strategy in strategies {
        let outlier = OutlierDetection::builder()
            .failure_percentage(50.0, 10, Duration::from_secs(10))
            .build()
            .unwrap();
        let layer = BalanceLayer::builder()
            .strategy(strategy.clone())
            .outlier_detection(outlier)
            .hook(RecordingHook::new())
            .seed(1)
            .build();
        let mut lb = layer.endpoints((0..10).map(|i| {
            (
                i,
                service_fn(move |n: u32| ready(Ok::<_, Infallible>(n + i))),
            )
        }));
        one_call(&mut lb);
        let n = allocations(|| {
            for _ in 0..100 {
                one_call(&mut lb);
            }
        });
        assert_eq!(n, 0, "{strategy:?}");
        let n = allocations(|| drop(std::hint::black_box(lb.clone())));
        assert_eq!(n, 0, "clone, {strategy:?}");
    }
}

//! A retried request avoids the endpoint that just failed it.

mod support;

use std::future::{ready, Ready};
use std::sync::atomic::Ordering;

use bulwark_balance::{
    BalanceLayer, ExtensionsLastEndpoint, LastEndpoint, LastEndpointLayer, Strategy,
};
use support::{call, ep};
use tower::retry::{Policy, RetryLayer};
use tower::ServiceBuilder;

fn tagged() -> http::Request<()> {
    let mut req = http::Request::new(());
    req.extensions_mut().insert(LastEndpoint::new());
    req
}

#[tokio::test(start_paused = true)]
async fn every_copy_of_a_request_goes_to_a_different_endpoint_than_the_last() {
    let mut lb = BalanceLayer::builder()
        .strategy(Strategy::Random)
        .last_endpoint(ExtensionsLastEndpoint)
        .seed(11)
        .build()
        .endpoints([("a", ep("a").0), ("b", ep("b").0), ("c", ep("c").0)]);
    for _ in 0..300 {
        let original = tagged();
        let first = call(&mut lb, original.clone()).await.unwrap();
        let second = call(&mut lb, original.clone()).await.unwrap();
        assert_ne!(first, second);
    }
}

#[tokio::test(start_paused = true)]
async fn without_the_cell_retries_land_on_the_same_endpoint_by_chance() {
    let mut lb = BalanceLayer::builder()
        .strategy(Strategy::Random)
        .last_endpoint(ExtensionsLastEndpoint)
        .seed(11)
        .build()
        .endpoints([("a", ep("a").0), ("b", ep("b").0), ("c", ep("c").0)]);
    let mut repeats = 0;
    for _ in 0..300 {
        let original = http::Request::new(());
        let first = call(&mut lb, original.clone()).await.unwrap();
        let second = call(&mut lb, original.clone()).await.unwrap();
        repeats += usize::from(first == second);
    }
    assert!(repeats > 50, "{repeats}");
}

#[tokio::test(start_paused = true)]
async fn a_retry_goes_back_to_the_same_endpoint_rather_than_wait() {
    let (stuck, stuck_ctl) = ep("stuck");
    let mut lb = BalanceLayer::builder()
        .strategy(Strategy::RoundRobin)
        .last_endpoint(ExtensionsLastEndpoint)
        .build()
        .endpoints([("a", ep("a").0), ("stuck", stuck)]);
    let original = tagged();
    assert_eq!(call(&mut lb, original.clone()).await.unwrap(), "a");
    stuck_ctl.set_ready(false);
    assert_eq!(call(&mut lb, original.clone()).await.unwrap(), "a");
    assert_eq!(stuck_ctl.calls.load(Ordering::SeqCst), 0);
}

#[derive(Clone)]
struct RetryOnce(bool);

impl<Res, E> Policy<http::Request<()>, Res, E> for RetryOnce {
    type Future = Ready<()>;

    fn retry(
        &mut self,
        _: &mut http::Request<()>,
        result: &mut Result<Res, E>,
    ) -> Option<Self::Future> {
        if result.is_err() && !self.0 {
            self.0 = true;
            return Some(ready(()));
        }
        None
    }

    fn clone_request(&mut self, req: &http::Request<()>) -> Option<http::Request<()>> {
        Some(req.clone())
    }
}

async fn failures_behind_a_retry(avoid: bool) -> usize {
    let (bad, bad_ctl) = ep("bad");
    bad_ctl.fail.store(true, Ordering::SeqCst);
    let lb = BalanceLayer::builder()
        .strategy(Strategy::Random)
        .last_endpoint(ExtensionsLastEndpoint)
        .seed(5)
        .build()
        .endpoints([("bad", bad), ("good", ep("good").0)]);
    let mut svc = ServiceBuilder::new()
        .option_layer(avoid.then(LastEndpointLayer::new))
        .layer(RetryLayer::new(RetryOnce(false)))
        .service(lb);
    let mut failures = 0;
    for _ in 0..200 {
        failures += usize::from(call(&mut svc, http::Request::new(())).await.is_err());
    }
    failures
}

#[tokio::test(start_paused = true)]
async fn behind_a_retry_layer_the_retry_is_sent_to_the_other_endpoint() {
    assert_eq!(failures_behind_a_retry(true).await, 0);
    // Without the cell, half the retries of a first failure go back to the bad endpoint.
    assert!(failures_behind_a_retry(false).await > 20);
}

//! The retry budget: the amplification bound, and one budget per layer value.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bulwark_policy::{Backoff, EventKind, IgnoreDeadline, RetryBudget};
use bulwark_retry::RetryLayer;
use bulwark_test_support::RecordingHook;
use support::{failing, Boom};
use tower::{Layer, ServiceExt};

#[tokio::test(start_paused = true)]
async fn a_failing_upstream_sees_at_most_requests_times_one_plus_percent_plus_the_floor() {
    const REQUESTS: u32 = 1000;
    let hook = RecordingHook::new();
    let layer = RetryLayer::builder()
        .max_attempts(10)
        .backoff(Backoff::constant(Duration::ZERO))
        .deadline(IgnoreDeadline)
        .hook(hook.clone())
        .build()
        .unwrap();
    let up = failing();
    let svc = layer.layer(up.clone());
    for i in 0..REQUESTS {
        assert!(svc.clone().oneshot(i).await.is_err());
    }
    // The default budget: 20% of requests, plus a floor of 10/s over a 10 s TTL.
    let bound = f64::from(REQUESTS) * 1.2 + 100.0;
    let attempts = up.calls.count() as f64;
    assert!(attempts <= bound, "{attempts} attempts > {bound}");
    assert!(
        attempts >= bound - 10.0,
        "{attempts}: the budget, not max_attempts, is what stopped the retries"
    );
    let exhausted = hook.count(|k| matches!(k, EventKind::BudgetExhausted { .. }));
    assert!(exhausted > 0 && exhausted <= REQUESTS as usize);

    // Without a budget the same upstream takes ten attempts per request: the storm.
    let up = failing();
    let svc = RetryLayer::builder()
        .max_attempts(10)
        .backoff(Backoff::constant(Duration::ZERO))
        .deadline(IgnoreDeadline)
        .no_budget()
        .build()
        .unwrap()
        .layer(up.clone());
    for i in 0..100 {
        assert_eq!(svc.clone().oneshot(i).await, Err(Boom(i * 10 + 9)));
    }
    assert_eq!(up.calls.count(), 1000);
}

#[tokio::test(start_paused = true)]
async fn the_bound_holds_for_concurrent_requests_through_many_clones() {
    const REQUESTS: u32 = 500;
    let layer = RetryLayer::builder()
        .max_attempts(5)
        .backoff(Backoff::exponential(Duration::from_millis(10)))
        .deadline(IgnoreDeadline)
        .build()
        .unwrap();
    let up = failing();
    let a = layer.layer(up.clone());
    let b = layer.layer(up.clone());
    let tasks: Vec<_> = (0..REQUESTS)
        .map(|i| {
            let svc = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(svc.oneshot(i))
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().is_err());
    }
    let bound = f64::from(REQUESTS) * 1.2 + 100.0;
    let attempts = up.calls.count() as f64;
    assert!(attempts <= bound, "{attempts} attempts > {bound}");
    assert!(attempts > f64::from(REQUESTS), "some retries were allowed");
}

#[tokio::test(start_paused = true)]
async fn every_service_and_clone_of_one_layer_shares_its_budget() {
    // A floor of 3 retries over the TTL, and nothing from deposits.
    let floor = RetryBudget::new(Duration::from_secs(1), 3, 0.0).unwrap();
    let layer = RetryLayer::builder()
        .max_attempts(10)
        .backoff(Backoff::constant(Duration::ZERO))
        .budget(floor)
        .deadline(IgnoreDeadline)
        .build()
        .unwrap();
    let up = failing();
    let first = layer.layer(up.clone());
    let second = layer.layer(up.clone());

    assert_eq!(
        first.clone().oneshot(0).await,
        Err(Boom(3)),
        "three retries"
    );
    assert_eq!(second.clone().oneshot(0).await, Err(Boom(4)), "none left");
    assert_eq!(first.oneshot(0).await, Err(Boom(5)));
    assert_eq!(layer.budget().unwrap().available(), 0);

    // Another layer value is another instance, with its own budget.
    let other = RetryLayer::builder()
        .max_attempts(2)
        .backoff(Backoff::constant(Duration::ZERO))
        .deadline(IgnoreDeadline)
        .build()
        .unwrap();
    assert_eq!(other.layer(up.clone()).oneshot(0).await, Err(Boom(7)));
}

#[tokio::test(start_paused = true)]
async fn each_request_deposits_once_and_each_retry_withdraws_once() {
    // One whole token per request, no floor.
    let budget = Arc::new(RetryBudget::new(Duration::from_secs(10), 0, 1.0).unwrap());
    let up = support::upstream(|n, _: u32| if n % 2 == 0 { Err(Boom(n)) } else { Ok(n) });
    let svc = RetryLayer::builder()
        .backoff(Backoff::constant(Duration::ZERO))
        .budget(budget.clone())
        .deadline(IgnoreDeadline)
        .build()
        .unwrap()
        .layer(up.clone());
    // A request refused by the predicate still deposits.
    let refused = RetryLayer::builder()
        .budget(budget.clone())
        .deadline(IgnoreDeadline)
        .retry_if_request(|_: &u32| false)
        .build()
        .unwrap()
        .layer(up.clone());
    assert_eq!(svc.clone().oneshot(0).await, Ok(1), "deposit 1, withdraw 1");
    assert_eq!(budget.available(), 0);
    assert_eq!(refused.oneshot(0).await, Err(Boom(2)));
    assert_eq!(budget.available(), 1);
    assert_eq!(svc.oneshot(0).await, Ok(3));
    assert_eq!(
        budget.available(),
        2,
        "a first attempt that succeeds draws nothing"
    );
}

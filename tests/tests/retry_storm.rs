//! A retry storm against an upstream that fails every call, under paused time.
//!
//! - With a retry budget, the upstream sees at most `requests + requests × percent + floor ×
//!   TTL` attempts, whatever `max_attempts` allows; without one, `requests × max_attempts`.
//! - With a breaker under the retry, once the breaker has tripped the upstream sees only the
//!   breaker's probes: at most `half_open_probes` calls per open period, each open period at
//!   least `open_for` long.
//!
//! The figures (attempts, amplification, calls per open period) are printed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bulwark_breaker::BreakerLayer;
use bulwark_policy::{Backoff, BoxError, BudgetConfig, IgnoreDeadline};
use bulwark_retry::RetryLayer;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;
use tower::{service_fn, Layer, Service, ServiceExt};

/// An upstream that fails every call and records when each came.
fn failing_upstream() -> (
    impl Service<u32, Response = (), Error = BoxError, Future = impl Send> + Clone,
    Arc<Mutex<Vec<Instant>>>,
) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let log = calls.clone();
    let svc = service_fn(move |_: u32| {
        log.lock().unwrap().push(Instant::now());
        async { Err::<(), BoxError>("unavailable".into()) }
    });
    (svc, calls)
}

/// Sends `n` requests, one every `every`, each through its own clone of `svc`, and waits
/// for all of them; returns how many failed.
async fn storm<S>(svc: S, n: u32, every: Duration) -> usize
where
    S: Service<u32> + Clone,
{
    let mut in_flight = FuturesUnordered::new();
    let mut failed = 0;
    let mut next = Instant::now();
    for k in 0..n {
        in_flight.push(svc.clone().oneshot(k));
        next += every;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => break,
                Some(result) = in_flight.next(), if !in_flight.is_empty() => {
                    failed += usize::from(result.is_err());
                }
            }
        }
    }
    while let Some(result) = in_flight.next().await {
        failed += usize::from(result.is_err());
    }
    failed
}

const REQUESTS: u32 = 1_000;
const MAX_ATTEMPTS: u32 = 5;

/// The storm's attempts at the upstream, with `budget` (or none).
async fn attempts_with(budget: Option<BudgetConfig>) -> usize {
    let (upstream, calls) = failing_upstream();
    let mut builder = RetryLayer::builder()
        .max_attempts(MAX_ATTEMPTS)
        .backoff(Backoff::constant(Duration::from_millis(10)))
        .deadline(IgnoreDeadline);
    builder = match budget {
        Some(config) => builder.budget_config(config),
        None => builder.no_budget(),
    };
    let svc = builder.build().unwrap().layer(upstream);
    // A thousand requests over five seconds: all within one TTL of the budget.
    let failed = storm(svc, REQUESTS, Duration::from_millis(5)).await;
    assert_eq!(failed, REQUESTS as usize, "every request fails");
    let n = calls.lock().unwrap().len();
    n
}

#[tokio::test(start_paused = true)]
async fn a_budget_bounds_the_retries_of_a_storm() {
    let config = BudgetConfig {
        ttl: Duration::from_secs(10),
        min_per_sec: 10,
        retry_percent: 0.2,
    };
    // The bound from the budget's settings: a share of the requests, plus the floor over one
    // TTL, all the storm's requests falling within one TTL.
    let retry_bound = (f64::from(REQUESTS) * config.retry_percent
        + f64::from(config.min_per_sec) * config.ttl.as_secs_f64())
    .floor() as usize;
    let budgeted = attempts_with(Some(config)).await;
    let unbounded = attempts_with(None).await;
    eprintln!(
        "{REQUESTS} requests against a failing upstream, max_attempts {MAX_ATTEMPTS}: \
         {budgeted} attempts with the budget (bound {}; amplification {:.2}), {unbounded} \
         without (amplification {:.2})",
        REQUESTS as usize + retry_bound,
        budgeted as f64 / f64::from(REQUESTS),
        unbounded as f64 / f64::from(REQUESTS),
    );
    assert!(
        budgeted <= REQUESTS as usize + retry_bound,
        "{budgeted} attempts > {REQUESTS} + {retry_bound}"
    );
    // The budget is spent, not hoarded: nearly every token it had paid for a retry.
    assert!(
        budgeted >= REQUESTS as usize + retry_bound - 10,
        "{budgeted}"
    );
    assert_eq!(unbounded, (REQUESTS * MAX_ATTEMPTS) as usize);
}

#[tokio::test(start_paused = true)]
async fn a_breaker_under_the_retry_cuts_the_upstream_to_its_probes() {
    const OPEN_FOR: Duration = Duration::from_secs(1);
    const PROBES: u32 = 1;
    const TRIP_AFTER: usize = 5;
    let (upstream, calls) = failing_upstream();
    let breaker = BreakerLayer::builder()
        .consecutive_failures(TRIP_AFTER as u32)
        .open_for(Backoff::constant(OPEN_FOR))
        .half_open_probes(PROBES)
        .build()
        .unwrap();
    let retry = RetryLayer::builder()
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(10)))
        .deadline(IgnoreDeadline)
        .build()
        .unwrap();
    let svc = retry.layer(breaker.layer(upstream));
    let start = Instant::now();
    // A request every 10 ms for 30 s.
    let requests = 3_000;
    let failed = storm(svc, requests, Duration::from_millis(10)).await;
    let end = Instant::now();
    assert_eq!(failed, requests as usize);

    let calls = calls.lock().unwrap().clone();
    assert!(calls.len() > TRIP_AFTER);
    let tripped = calls[TRIP_AFTER - 1];
    let probes = &calls[TRIP_AFTER..];
    // Every call after the trip is a probe, and each comes a whole open period after the one
    // before it (the first a whole period after the trip): with `PROBES` = 1, never more than
    // one call in any open period.
    let mut previous = tripped;
    for &at in probes {
        assert!(
            at - previous >= OPEN_FOR,
            "a call {:?} after the last",
            at - previous
        );
        previous = at;
    }
    let open_periods = ((end - tripped).as_secs_f64() / OPEN_FOR.as_secs_f64()).ceil() as usize;
    // And the breaker keeps probing: with a request every 10 ms, each open period but perhaps
    // the last ends in a probe.
    assert!(
        probes.len() + 1 >= open_periods,
        "{} probes in {open_periods} open periods",
        probes.len()
    );
    eprintln!(
        "{requests} requests over {:.1}s against a failing upstream through retry → breaker: \
         {} upstream calls ({TRIP_AFTER} before the trip at {:.2}s, then {} probes in {open_periods} \
         open periods of {OPEN_FOR:?})",
        (end - start).as_secs_f64(),
        calls.len(),
        (tripped - start).as_secs_f64(),
        probes.len(),
    );
}

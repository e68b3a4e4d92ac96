//! The success path of a retry layer, in ns per call, in one process: a bare `service_fn`;
//! bulwark's `RetryLayer` with no budget, against `tower::retry::Retry` with a policy that
//! clones the request and never retries, and with tower's own jittered `ExponentialBackoff`
//! policy (up to 3 attempts); and bulwark's `RetryLayer` with its default budget,
//! against the same tower policy depositing into tower's `TpsBudget` on success, as tower's
//! budget docs describe; and tower-resilience's `Retry` (up to 3 attempts, no budget).

use std::convert::Infallible;
use std::future::{poll_fn, Ready};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bulwark_benches::{peers, ready};
use bulwark_policy::IgnoreDeadline;
use bulwark_retry::RetryLayer;
use criterion::{criterion_group, criterion_main, Criterion};
use tower::retry::budget::{Budget as _, TpsBudget};
use tower::{service_fn, Layer, Service};

/// tower's equivalent of our success path: keep a copy to retry with, never retry.
#[derive(Clone)]
struct NeverRetry;

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for NeverRetry {
    type Future = Ready<()>;

    fn retry(&mut self, _: &mut Req, _: &mut Result<Res, E>) -> Option<Self::Future> {
        None
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// The same, with tower's budget: every success deposits.
#[derive(Clone)]
struct NeverRetryWithBudget(Arc<TpsBudget>);

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for NeverRetryWithBudget {
    type Future = Ready<()>;

    fn retry(&mut self, _: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        if result.is_ok() {
            self.0.deposit();
        }
        None
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

fn call<S: Service<u64>>(svc: &mut S, req: u64) -> S::Response
where
    S::Error: std::fmt::Debug,
{
    ready(poll_fn(|cx| svc.poll_ready(cx))).unwrap();
    ready(svc.call(req)).unwrap()
}

fn success_path(c: &mut Criterion) {
    let inner = service_fn(|n: u64| std::future::ready(Ok::<_, Infallible>(n)));
    let mut group = c.benchmark_group("retry_success");

    let mut bare = inner;
    group.bench_function("bare", |b| b.iter(|| call(&mut bare, black_box(1))));

    let mut ours_no_budget = RetryLayer::builder()
        .deadline(IgnoreDeadline)
        .no_budget()
        .build()
        .unwrap()
        .layer(inner);
    group.bench_function("bulwark_no_budget", |b| {
        b.iter(|| call(&mut ours_no_budget, black_box(1)))
    });

    let mut tower_retry = tower::retry::Retry::new(NeverRetry, inner);
    group.bench_function("tower_retry", |b| {
        b.iter(|| call(&mut tower_retry, black_box(1)))
    });

    let mut tower_backoff = tower::retry::Retry::new(peers::TowerBackoff::new(3), inner);
    group.bench_function("tower_retry_backoff", |b| {
        b.iter(|| call(&mut tower_backoff, black_box(1)))
    });

    let mut ours = RetryLayer::builder()
        .deadline(IgnoreDeadline)
        .build()
        .unwrap()
        .layer(inner);
    group.bench_function("bulwark_budget", |b| {
        b.iter(|| call(&mut ours, black_box(1)))
    });

    let budget = Arc::new(TpsBudget::new(Duration::from_secs(10), 10, 0.2));
    let mut tower_budget = tower::retry::Retry::new(NeverRetryWithBudget(budget), inner);
    group.bench_function("tower_retry_budget", |b| {
        b.iter(|| call(&mut tower_budget, black_box(1)))
    });

    let mut resilience = tower_resilience::retry::RetryLayer::<u64, u64, Infallible>::builder()
        .max_attempts(3)
        .build()
        .layer(inner);
    group.bench_function("tower_resilience", |b| {
        b.iter(|| call(&mut resilience, black_box(1)))
    });
    group.finish();
}

criterion_group!(benches, success_path);
criterion_main!(benches);

//! The success path of a FallbackLayer, each constructor, against the bare service it wraps
//! and tower-resilience's `Fallback` with a value, in one process: readiness, call, and the
//! answer, per call.

use std::future::{ready, Ready};
use std::hint::black_box;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bulwark_fallback::FallbackLayer;
use bulwark_policy::BoxError;
use criterion::{criterion_group, criterion_main, Criterion};
use tower::{service_fn, Layer, Service};

fn primary(
) -> impl Service<u64, Response = u64, Error = BoxError, Future = Ready<Result<u64, BoxError>>> + Clone
{
    service_fn(|n: u64| ready(Ok::<u64, BoxError>(n)))
}

fn one_call<S: Service<u64, Response = u64>>(svc: &mut S, cx: &mut Context<'_>) -> u64 {
    assert!(matches!(svc.poll_ready(cx), Poll::Ready(Ok(()))));
    match bulwark_benches::ready(svc.call(black_box(7))) {
        Ok(n) => n,
        Err(_) => panic!("the benchmarked call failed"),
    }
}

fn success(c: &mut Criterion) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut group = c.benchmark_group("fallback_success");

    let mut bare = primary();
    group.bench_function("bare_service_fn", |b| {
        b.iter(|| one_call(&mut bare, &mut cx))
    });

    // What every layer that shares state through an `Arc` pays per call: one clone and drop.
    let shared = Arc::new(0u64);
    let mut bare_arc = service_fn(move |n: u64| {
        let held = Arc::clone(&shared);
        ready(Ok::<u64, BoxError>(n + *black_box(held)))
    });
    group.bench_function("bare_service_fn_cloning_an_arc", |b| {
        b.iter(|| one_call(&mut bare_arc, &mut cx))
    });

    let mut value = FallbackLayer::value(0u64).layer(primary());
    group.bench_function("value", |b| b.iter(|| one_call(&mut value, &mut cx)));

    let mut from_error = FallbackLayer::from_error(|_: BoxError| 0u64).layer(primary());
    group.bench_function("from_error", |b| {
        b.iter(|| one_call(&mut from_error, &mut cx))
    });

    let mut from_fn =
        FallbackLayer::from_fn(|_: Result<u64, BoxError>| ready(Ok::<u64, BoxError>(0)))
            .layer(primary());
    group.bench_function("from_fn", |b| b.iter(|| one_call(&mut from_fn, &mut cx)));

    let mut backup = FallbackLayer::service(primary()).layer(primary());
    group.bench_function("service", |b| b.iter(|| one_call(&mut backup, &mut cx)));

    let mut resilience =
        tower_resilience::fallback::FallbackLayer::<u64, u64, BoxError>::value(0).layer(primary());
    group.bench_function("tower_resilience_value", |b| {
        b.iter(|| one_call(&mut resilience, &mut cx))
    });

    group.finish();
}

criterion_group!(benches, success);
criterion_main!(benches);

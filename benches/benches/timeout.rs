//! A call through a timeout whose inner service answers at once: a bare `service_fn`, our
//! `TimeoutLayer`, tower's `Timeout` and tower-resilience's `TimeLimiter`, in one process.
//!
//! `timeout` uses a plain request type (ours with `IgnoreDeadline`); `timeout_http` uses an
//! `http::Request`, with and without a `Deadline` already in its extensions (ours with the
//! default `ExtensionsDeadline`). Requests are built outside the measurement.

use std::convert::Infallible;
use std::time::Duration;

use bulwark_benches::ready;
use bulwark_policy::{Deadline, IgnoreDeadline};
use bulwark_timeout::TimeoutLayer;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use tower::{service_fn, Layer, Service};

const TIMEOUT: Duration = Duration::from_secs(1);

fn plain(c: &mut Criterion) {
    // tower's `Timeout` creates its `Sleep` in `call`, which needs a runtime's handle.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _enter = rt.enter();
    let answer = || service_fn(|n: u64| std::future::ready(Ok::<_, Infallible>(n)));

    let mut group = c.benchmark_group("timeout");
    let mut bare = answer();
    group.bench_function("bare", |b| b.iter(|| ready(bare.call(1)).unwrap()));
    let mut ours = TimeoutLayer::new(TIMEOUT)
        .deadline(IgnoreDeadline)
        .layer(answer());
    group.bench_function("bulwark", |b| b.iter(|| ready(ours.call(1)).unwrap()));
    let mut theirs = tower::timeout::TimeoutLayer::new(TIMEOUT).layer(answer());
    group.bench_function("tower", |b| b.iter(|| ready(theirs.call(1)).unwrap()));
    let mut resilience = tower_resilience::timelimiter::TimeLimiterLayer::builder()
        .timeout_duration(TIMEOUT)
        .build()
        .layer(answer());
    group.bench_function("tower_resilience", |b| {
        b.iter(|| ready(resilience.call(1)).unwrap())
    });
    group.finish();
}

fn http(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _enter = rt.enter();
    let answer =
        || service_fn(|req: http::Request<()>| std::future::ready(Ok::<_, Infallible>(req)));
    let empty = || http::Request::new(());
    let carrying = || {
        let mut req = http::Request::new(());
        req.extensions_mut()
            .insert(Deadline::after(Duration::from_millis(500)));
        req
    };

    let mut group = c.benchmark_group("timeout_http");
    let mut bare = answer();
    let mut ours = TimeoutLayer::new(TIMEOUT).layer(answer());
    let mut theirs = tower::timeout::TimeoutLayer::new(TIMEOUT).layer(answer());
    group.bench_function("bare", |b| {
        b.iter_batched(
            empty,
            |req| ready(bare.call(req)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("bulwark", |b| {
        b.iter_batched(
            empty,
            |req| ready(ours.call(req)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("tower", |b| {
        b.iter_batched(
            empty,
            |req| ready(theirs.call(req)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("bare_with_deadline", |b| {
        b.iter_batched(
            carrying,
            |req| ready(bare.call(req)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("bulwark_with_deadline", |b| {
        b.iter_batched(
            carrying,
            |req| ready(ours.call(req)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("tower_with_deadline", |b| {
        b.iter_batched(
            carrying,
            |req| ready(theirs.call(req)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, plain, http);
criterion_main!(benches);

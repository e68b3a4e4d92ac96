//! BreakerLayer's cost, in one process: the closed path against a bare `service_fn`, tower's
//! `Timeout` (a reference point: the cheapest layer tower ships that does real work per call)
//! and the peer breakers (tower-resilience's `CircuitBreaker`, and failsafe's and recloser's
//! futures APIs through thin tower adapters), the cost of a rejection while open, and the total
//! throughput of two threads on one shared breaker against one thread.

use std::future::ready;
use std::time::{Duration, Instant};

use bulwark_benches::{bare, count_window, once, peers};
use bulwark_breaker::BreakerLayer;
use bulwark_policy::{Backoff, BoxError};
use criterion::{criterion_group, criterion_main, Criterion};
use tower::{service_fn, Layer, Service};

fn closed(c: &mut Criterion) {
    // tower's Timeout makes a tokio Sleep per call, which needs a runtime's timer.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let mut group = c.benchmark_group("breaker_closed");
    let mut svc = bare();
    group.bench_function("bare_service_fn", |b| b.iter(|| once(&mut svc, 1)));
    let mut svc = BreakerLayer::builder().build().unwrap().layer(bare());
    group.bench_function("bulwark_default", |b| b.iter(|| once(&mut svc, 1)));
    let mut svc = count_window().layer(bare());
    group.bench_function("bulwark_count_window", |b| b.iter(|| once(&mut svc, 1)));
    let mut svc = tower::timeout::TimeoutLayer::new(Duration::from_secs(1)).layer(bare());
    group.bench_function("tower_timeout", |b| b.iter(|| once(&mut svc, 1)));
    let mut svc = tower_resilience::circuitbreaker::CircuitBreakerLayer::builder()
        .build()
        .unwrap()
        .layer(bare());
    group.bench_function("tower_resilience", |b| b.iter(|| once(&mut svc, 1)));
    let mut svc = peers::Failsafe::default_config(bare());
    group.bench_function("failsafe", |b| b.iter(|| once(&mut svc, 1)));
    let mut svc = peers::Recloser::default_config(bare());
    group.bench_function("recloser", |b| b.iter(|| once(&mut svc, 1)));
    group.finish();
}

fn open(c: &mut Criterion) {
    let mut group = c.benchmark_group("breaker_open");
    let layer = BreakerLayer::builder()
        .consecutive_failures(1)
        .open_for(Backoff::constant(Duration::from_secs(3600)))
        .build()
        .unwrap();
    let mut failing = layer.layer(service_fn(|_: u64| {
        ready(Err::<u64, _>(BoxError::from("down")))
    }));
    assert!(once(&mut failing, 0).is_err());
    assert!(layer.handle().state().rejects());
    let mut svc = layer.layer(bare());
    group.bench_function("bulwark_rejection", |b| {
        b.iter(|| once(&mut svc, 1).unwrap_err())
    });

    let peers::OpenPeers {
        resilience: mut svc,
        failsafe: mut fs,
        recloser: mut rc,
    } = peers::open_peers(service_fn(|_: u64| {
        ready(Err::<u64, _>(BoxError::from("down")))
    }));
    group.bench_function("tower_resilience_rejection", |b| {
        b.iter(|| once(&mut svc, 1).unwrap_err())
    });
    group.bench_function("failsafe_rejection", |b| {
        b.iter(|| once(&mut fs, 1).unwrap_err())
    });
    group.bench_function("recloser_rejection", |b| {
        b.iter(|| once(&mut rc, 1).unwrap_err())
    });
    group.finish();
}

/// Runs `iters` calls in total over `threads` threads, each on its own clone of `svc`, and
/// returns the wall time: lower per call means more total throughput.
fn spread<S>(svc: &S, threads: u64, iters: u64) -> Duration
where
    S: Service<u64> + Clone + Send,
    S::Error: std::fmt::Debug,
{
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let mut svc = svc.clone();
            scope.spawn(move || {
                for n in 0..iters / threads {
                    std::hint::black_box(once(&mut svc, n).unwrap());
                }
            });
        }
    });
    start.elapsed()
}

fn threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("breaker_threads");
    let bare_svc = bare();
    let default = BreakerLayer::builder().build().unwrap().layer(bare());
    let windowed = count_window().layer(bare());
    for threads in [1, 2] {
        group.bench_function(format!("bare_{threads}t"), |b| {
            b.iter_custom(|i| spread(&bare_svc, threads, i))
        });
        group.bench_function(format!("bulwark_default_{threads}t"), |b| {
            b.iter_custom(|i| spread(&default, threads, i))
        });
        group.bench_function(format!("bulwark_count_window_{threads}t"), |b| {
            b.iter_custom(|i| spread(&windowed, threads, i))
        });
    }
    group.finish();
}

criterion_group!(benches, closed, open, threads);
criterion_main!(benches);

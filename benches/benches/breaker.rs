//! BreakerLayer's cost, in one process: the closed path against a bare `service_fn`, tower's
//! `Timeout` (a reference point: the cheapest layer tower ships that does real work per call)
//! and the peer breakers (tower-resilience's `CircuitBreaker`, and failsafe's and recloser's
//! futures APIs through thin tower adapters), the cost of a rejection while open, and the total
//! throughput of two threads on one shared breaker against one thread.

// The adapters for the peers that are not tower layers, shared with the `table` benchmark.
#[allow(dead_code)]
#[path = "table/peers.rs"]
mod peers;

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bulwark_breaker::BreakerLayer;
use bulwark_policy::{Backoff, BoxError};
use criterion::{criterion_group, criterion_main, Criterion};
use tower::{service_fn, Layer, Service};

fn bare(
) -> impl Service<u64, Response = u64, Error = Infallible, Future = Ready<Result<u64, Infallible>>> + Clone
{
    service_fn(|n: u64| ready(Ok::<_, Infallible>(n)))
}

/// One call: `poll_ready`, then `call`, then the future, which is ready at once.
#[inline]
fn once<S: Service<u64>>(svc: &mut S, n: u64) -> Result<S::Response, S::Error> {
    let mut cx = Context::from_waker(Waker::noop());
    match svc.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => bulwark_benches::ready(svc.call(n)),
        Poll::Ready(Err(e)) => Err(e),
        Poll::Pending => panic!("the benchmarked service was not ready"),
    }
}

fn count_window() -> BreakerLayer {
    BreakerLayer::builder()
        .failure_rate(0.5)
        .count_window(100)
        .build()
        .unwrap()
}

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

    let failing = || service_fn(|_: u64| ready(Err::<u64, _>(BoxError::from("down"))));
    let mut svc = tower_resilience::circuitbreaker::CircuitBreakerLayer::builder()
        .consecutive_failures(1)
        .minimum_number_of_calls(1)
        .wait_duration_in_open(Duration::from_secs(3600))
        .build()
        .unwrap()
        .layer(failing());
    let mut fs = peers::Failsafe::open_after_one(failing());
    let mut rc = peers::Recloser::open_after_two(failing());
    for _ in 0..4 {
        let _ = once(&mut svc, 0);
        let _ = once(&mut fs, 0);
        let _ = once(&mut rc, 0);
    }
    assert!(matches!(
        once(&mut svc, 0),
        Err(tower_resilience::circuitbreaker::CircuitBreakerError::OpenCircuit)
    ));
    assert!(matches!(once(&mut fs, 0), Err(failsafe::Error::Rejected)));
    assert!(matches!(once(&mut rc, 0), Err(recloser::Error::Rejected)));
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

//! Pick plus call through a balancer of 2, 10 and 100 ready endpoints: bulwark's p2c by
//! pending requests against tower's `p2c::Balance`, which must sit behind a `Buffer` to be
//! shared (it is not `Clone`), as users run it. Both are driven by the same single-threaded
//! runtime; `bulwark_direct` polls ours without a runtime, since its futures are ready at once,
//! and `bare_endpoint_direct` is one endpoint called the same way, the floor.

use std::convert::Infallible;
use std::future::{ready, Ready};

use bulwark_balance::BalanceLayer;
use bulwark_benches::ready as now;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tower::balance::p2c::Balance as TowerBalance;
use tower::buffer::Buffer;
use tower::discover::ServiceList;
use tower::load::{CompleteOnResponse, PendingRequests};
use tower::{service_fn, Service, ServiceExt};

fn endpoint(
    i: u64,
) -> impl Service<u64, Response = u64, Error = Infallible, Future = Ready<Result<u64, Infallible>>> + Clone
{
    service_fn(move |req: u64| ready(Ok::<_, Infallible>(req ^ i)))
}

fn pick_and_call(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("balance_pick_and_call");
    let mut bare = endpoint(0);
    group.bench_function("bare_endpoint_direct", |b| {
        b.iter(|| {
            now(bare.ready()).unwrap();
            now(bare.call(7)).unwrap()
        })
    });
    for n in [2u64, 10, 100] {
        let mut ours = BalanceLayer::builder()
            .seed(1)
            .build()
            .endpoints((0..n).map(|i| (i, endpoint(i))));
        group.bench_with_input(BenchmarkId::new("bulwark", n), &n, |b, _| {
            b.iter(|| rt.block_on(async { ours.ready().await.unwrap().call(7).await.unwrap() }))
        });
        group.bench_with_input(BenchmarkId::new("bulwark_direct", n), &n, |b, _| {
            b.iter(|| {
                now(ours.ready()).unwrap();
                now(ours.call(7)).unwrap()
            })
        });

        let mut tower = rt.block_on(async {
            let list = ServiceList::new(
                (0..n).map(|i| PendingRequests::new(endpoint(i), CompleteOnResponse::default())),
            );
            Buffer::new(TowerBalance::new(list), 1024)
        });
        group.bench_with_input(BenchmarkId::new("tower_p2c_buffer", n), &n, |b, _| {
            b.iter(|| rt.block_on(async { tower.ready().await.unwrap().call(7).await.unwrap() }))
        });
    }
    group.finish();
}

criterion_group!(benches, pick_and_call);
criterion_main!(benches);

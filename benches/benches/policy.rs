//! The retry budget's deposit, which every request through a RetryLayer pays, against tower's
//! `TpsBudget` deposit, in one process.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use tower::retry::budget::{Budget as _, TpsBudget};

fn deposit(c: &mut Criterion) {
    let mut group = c.benchmark_group("budget_deposit");
    let ours = bulwark_policy::RetryBudget::new(Duration::from_secs(10), 10, 0.2).unwrap();
    let tower = TpsBudget::new(Duration::from_secs(10), 10, 0.2);
    group.bench_function("bulwark", |b| b.iter(|| ours.deposit()));
    group.bench_function("tower_tps_budget", |b| b.iter(|| tower.deposit()));
    group.finish();

    let mut group = c.benchmark_group("budget_withdraw_empty");
    let ours = bulwark_policy::RetryBudget::new(Duration::from_secs(10), 0, 0.2).unwrap();
    let tower = TpsBudget::new(Duration::from_secs(10), 0, 0.2);
    group.bench_function("bulwark", |b| b.iter(|| ours.try_withdraw()));
    group.bench_function("tower_tps_budget", |b| b.iter(|| tower.withdraw()));
    group.finish();
}

criterion_group!(benches, deposit);
criterion_main!(benches);

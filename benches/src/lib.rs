//! Benchmarks of bulwark, side by side with a bare service, tower's own layers and the peer
//! crates, measured in one process so that the ratios hold on a noisy machine.
//!
//! `cargo bench -p bulwark-benches --bench table` prints every comparison as one markdown
//! table (the README's Performance section); the criterion benches (`policy`, `retry`,
//! `timeout`, `breaker`, `fallback`, `balance`) measure each layer on its own, and
//! `benches/instructions.sh` counts instructions per call with callgrind. This library holds
//! what the benchmarks share.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Polls a future that is expected to finish without waiting, as every success-path future
/// in these benchmarks does, without a runtime's scheduling in the measurement.
///
/// ```
/// assert_eq!(bulwark_benches::ready(async { 7 }), 7);
/// ```
///
/// # Panics
///
/// If the future is not ready on its first poll.
pub fn ready<F: Future>(fut: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(fut).poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the benchmarked future was not ready on its first poll"),
    }
}

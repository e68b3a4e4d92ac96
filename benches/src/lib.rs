//! Benchmarks of bulwark, side by side with a bare service, tower's own layers and the peer
//! crates, measured in one process so that the ratios hold on a noisy machine.
//!
//! `cargo bench -p bulwark-benches --bench table` prints every comparison as one markdown
//! table (the README's Performance section); the criterion benches (`policy`, `retry`,
//! `timeout`, `breaker`, `fallback`, `balance`) measure each layer on its own, and
//! `benches/instructions.sh` counts instructions per call with callgrind. This library holds
//! what the benchmarks share: the calling and the bare service every case is measured
//! against, and the peers as tower services ([`peers`]).

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bulwark_breaker::BreakerLayer;
use tower::{service_fn, Service};

pub mod peers;

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

/// One call: `poll_ready`, `call`, and the future, which must be ready at once. An error from
/// `poll_ready` is returned as the call's. Always inlined, so that it monomorphises and
/// inlines into each benchmark as if written there.
///
/// ```
/// use bulwark_benches::{bare, once};
///
/// assert_eq!(once(&mut bare(), 7), Ok(7));
/// ```
///
/// # Panics
///
/// If the service or the future is not ready at once.
#[inline(always)]
pub fn once<S: Service<Req>, Req>(svc: &mut S, req: Req) -> Result<S::Response, S::Error> {
    let mut cx = Context::from_waker(Waker::noop());
    match svc.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => ready(svc.call(req)),
        Poll::Ready(Err(e)) => Err(e),
        Poll::Pending => panic!("the benchmarked service was not ready"),
    }
}

/// The bare service every case wraps: a `service_fn` that answers at once with its request.
///
/// ```
/// let mut svc = bulwark_benches::bare();
/// assert_eq!(bulwark_benches::once(&mut svc, 3), Ok(3));
/// ```
pub fn bare() -> impl Service<
    u64,
    Response = u64,
    Error = Infallible,
    Future = std::future::Ready<Result<u64, Infallible>>,
> + Clone
       + Send
       + 'static {
    service_fn(echo)
}

/// `bare`'s function: a named, inlinable function rather than a closure, so that it inlines
/// into the benchmarks across the crate boundary as a closure written there would.
#[inline]
fn echo(n: u64) -> std::future::Ready<Result<u64, Infallible>> {
    std::future::ready(Ok(n))
}

/// bulwark's breaker with a failure rate of 0.5 over a count window of 100 calls, the shape
/// of recloser's default.
///
/// ```
/// use tower::Layer;
///
/// let mut svc = bulwark_benches::count_window().layer(bulwark_benches::bare());
/// assert_eq!(bulwark_benches::once(&mut svc, 1).unwrap(), 1);
/// ```
pub fn count_window() -> BreakerLayer {
    BreakerLayer::builder()
        .failure_rate(0.5)
        .count_window(100)
        .build()
        .expect("a valid breaker")
}

//! What a call through `Timeout` allocates, counted by the counting allocator.

use std::convert::Infallible;
use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bulwark_policy::{Deadline, Event, FnHook, IgnoreDeadline};
use bulwark_test_support::allocations;
use bulwark_timeout::{Elapsed, TimeoutLayer};
use tower::{service_fn, Layer, Service};

bulwark_test_support::counting_allocator!();

/// Polls `fut` to completion with a no-op waker, re-polling while it is pending.
fn run<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// Pending on its first poll, then ready: enough to make the timeout arm its timer.
struct PendingOnce<T>(Option<T>, bool);

impl<T: Unpin> Future for PendingOnce<T> {
    type Output = Result<T, Infallible>;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        if std::mem::replace(&mut self.1, true) {
            Poll::Ready(Ok(self.0.take().unwrap()))
        } else {
            Poll::Pending
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

#[test]
fn a_ready_answer_allocates_nothing() {
    let mut svc = TimeoutLayer::new(Duration::from_secs(1))
        .deadline(IgnoreDeadline)
        .layer(service_fn(|n: u32| {
            std::future::ready(Ok::<_, Infallible>(n))
        }));
    run(svc.call(0)).unwrap();
    let n = allocations(|| {
        for i in 0..100 {
            assert_eq!(run(svc.call(i)).unwrap(), i);
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn a_ready_answer_with_a_hook_set_allocates_nothing() {
    let mut svc = TimeoutLayer::new(Duration::from_secs(1))
        .hook(FnHook::new(|e: &Event<'_>| {
            std::hint::black_box(e);
        }))
        .deadline(IgnoreDeadline)
        .layer(service_fn(|n: u32| {
            std::future::ready(Ok::<_, Infallible>(n))
        }));
    let n = allocations(|| {
        for i in 0..100 {
            run(svc.call(i)).unwrap();
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn arming_the_timer_allocates_nothing() {
    let rt = runtime();
    let _enter = rt.enter();
    let mut svc = TimeoutLayer::new(Duration::from_secs(1))
        .deadline(IgnoreDeadline)
        .layer(service_fn(|n: u32| PendingOnce(Some(n), false)));
    run(svc.call(0)).unwrap();
    let n = allocations(|| {
        for i in 0..100 {
            assert_eq!(run(svc.call(i)).unwrap(), i);
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn a_passed_deadline_allocates_nothing() {
    let mut svc = TimeoutLayer::new(Duration::ZERO)
        .deadline(IgnoreDeadline)
        .layer(service_fn(|n: u32| {
            std::future::ready(Ok::<_, Infallible>(n))
        }));
    let n = allocations(|| {
        for i in 0..100 {
            assert!(run(svc.call(i)).unwrap_err().is::<Elapsed>());
        }
    });
    assert_eq!(n, 0);
}

fn http_service() -> impl Service<
    http::Request<()>,
    Response = Option<Deadline>,
    Error = bulwark_timeout::BoxError,
    Future: Send,
> {
    TimeoutLayer::new(Duration::from_secs(1)).layer(service_fn(|req: http::Request<()>| {
        std::future::ready(Ok::<_, Infallible>(
            req.extensions().get::<Deadline>().copied(),
        ))
    }))
}

/// Allocations made by one call through `svc` with `req`, the request built beforehand.
fn call_allocations<S>(svc: &mut S, req: http::Request<()>) -> u64
where
    S: Service<http::Request<()>>,
{
    let mut req = Some(req);
    allocations(|| {
        let _ = run(svc.call(req.take().unwrap()));
    })
}

#[test]
fn an_http_request_already_carrying_an_earlier_deadline_allocates_nothing() {
    let mut svc = http_service();
    for deadline in [
        Deadline::after(Duration::from_millis(10)),
        Deadline::after(Duration::from_secs(1)),
    ] {
        let mut req = http::Request::new(());
        req.extensions_mut().insert(deadline);
        assert_eq!(call_allocations(&mut svc, req), 0);
    }
}

#[test]
fn writing_the_deadline_into_http_extensions_costs_what_http_charges() {
    let mut svc = http_service();

    // No extensions yet: the map, its table and the boxed deadline.
    assert_eq!(call_allocations(&mut svc, http::Request::new(())), 3);

    // Other extensions already there: the boxed deadline.
    let mut req = http::Request::new(());
    req.extensions_mut().insert(7u8);
    assert_eq!(call_allocations(&mut svc, req), 1);

    // A later deadline is overwritten in place: nothing.
    let mut req = http::Request::new(());
    req.extensions_mut()
        .insert(Deadline::after(Duration::from_secs(60)));
    assert_eq!(call_allocations(&mut svc, req), 0);
}

//! What the standard client stack allocates on its success path: a call whose answer is ready
//! at once, breaker closed, nothing to retry.

use std::convert::Infallible;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use bulwark_test_support::{allocations, call_once};
use tower::{service_fn, Layer, Service};
use tower_bulwark::prelude::*;

bulwark_test_support::counting_allocator!();

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

#[test]
fn the_counting_allocator_is_installed() {
    assert!(allocations(|| drop(std::hint::black_box(Box::new(1u8)))) >= 1);
}

#[test]
fn a_request_without_a_deadline_allocates_nothing_with_the_default_budget_and_a_hook() {
    let rt = runtime();
    let _guard = rt.enter();
    // A hook that allocates nothing itself, so that only the stack is counted.
    let calls = Arc::new(AtomicU32::new(0));
    let others = Arc::new(AtomicU32::new(0));
    let (c, o) = (calls.clone(), others.clone());
    let hook = FnHook::new(move |event: &Event<'_>| {
        let counter = match event.kind() {
            EventKind::BreakerCall { .. } => &c,
            _ => &o,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    });
    let layer = preset::standard_client()
        .deadline(IgnoreDeadline)
        .hook(hook)
        .build()
        .unwrap();
    assert!(layer.budget().is_some(), "the default budget is on");
    let mut svc = layer.layer(service_fn(
        |n: u32| async move { Ok::<_, Infallible>(n + 1) },
    ));
    assert_eq!(call_once(&mut svc, 0).unwrap(), 1);

    let n = allocations(|| {
        for i in 0..1000 {
            assert_eq!(call_once(&mut svc, i).unwrap(), i + 1);
        }
    });
    assert_eq!(n, 0, "allocations over 1000 successful calls");
    assert_eq!(
        calls.load(Ordering::Relaxed),
        1001,
        "the breaker reports each call"
    );
    assert_eq!(
        others.load(Ordering::Relaxed),
        0,
        "and nothing else is reported"
    );
}

/// The allocations of 100 successful calls of `svc`, for requests made before counting;
/// `deadline` puts a `Deadline` on each request first.
fn http_allocations<S>(svc: &mut S, deadline: bool) -> u64
where
    S: Service<http::Request<()>, Response = bool>,
    S::Error: std::fmt::Debug,
{
    let requests: Vec<_> = (0..100)
        .map(|_| {
            let mut req = http::Request::get("/").body(()).unwrap();
            if deadline {
                req.extensions_mut()
                    .insert(Deadline::after(std::time::Duration::from_secs(60)));
            }
            req
        })
        .collect();
    allocations(|| {
        for req in requests {
            assert!(call_once(svc, req).unwrap(), "the stack wrote a deadline");
        }
    })
}

/// For `http::Request`s the deadline the total timeout writes is not free, and a copy of the
/// request kept for a retry copies its extensions. The figures, per call:
///
/// | request | retries on (default) | `max_attempts(1)` |
/// |---|---|---|
/// | no extensions yet | 6 | 3 |
/// | already carrying a `Deadline` | 3 | 0 |
///
/// Writing the first extension makes the map: its `Box`, its table, and the boxed value (3).
/// A deadline already there is overwritten in place (0). The retry layer keeps the request
/// and sends a copy, and cloning a non-empty extension map is those same 3 allocations.
#[test]
fn an_http_request_pays_for_its_extension_map_and_the_copy_kept_for_a_retry() {
    let rt = runtime();
    let _guard = rt.enter();
    let inner = service_fn(|req: http::Request<()>| async move {
        Ok::<_, Infallible>(req.extensions().get::<Deadline>().is_some())
    });

    let mut svc = preset::standard_client().build().unwrap().layer(inner);
    assert_eq!(http_allocations(&mut svc, false), 600);
    assert_eq!(http_allocations(&mut svc, true), 300);

    let mut once = preset::standard_client()
        .max_attempts(1)
        .build()
        .unwrap()
        .layer(inner);
    assert_eq!(http_allocations(&mut once, false), 300);
    assert_eq!(http_allocations(&mut once, true), 0);
}

/// The HTTP preset adds the `ReplayBody` that lets a body be sent again: its shared record
/// costs 3 allocations per request, whatever the body (nothing is copied until the body is
/// read). With the 3 of the deadline's extension map and the 3 of the copy kept for a retry,
/// a GET that succeeds at once costs 9.
#[cfg(feature = "http")]
#[test]
fn the_http_preset_adds_the_replayable_body() {
    use bytes::Bytes;
    use http_body_util::Full;

    let rt = runtime();
    let _guard = rt.enter();
    let inner = service_fn(|_req: http::Request<ReplayBody<Full<Bytes>>>| async move {
        Ok::<_, Infallible>(http::Response::new(()))
    });
    let requests = || -> Vec<_> {
        (0..100)
            .map(|_| {
                let body = Full::new(Bytes::from_static(b"{}"));
                http::Request::get("/").body(body).unwrap()
            })
            .collect()
    };
    let count = |svc: &mut _, requests: Vec<_>| {
        allocations(|| {
            for req in requests {
                let res: http::Response<()> = call_once(svc, req).unwrap();
                assert_eq!(res.status(), 200);
            }
        })
    };

    let mut svc = preset::standard_http_client().build().unwrap().layer(inner);
    assert_eq!(count(&mut svc, requests()), 900);
    let mut once = preset::standard_http_client()
        .max_attempts(1)
        .build()
        .unwrap()
        .layer(inner);
    assert_eq!(count(&mut once, requests()), 600);
}

//! The standard HTTP client stack (`tower_bulwark::preset::standard_http_client`: replayable
//! bodies → total timeout → retry with a budget → breaker → per-attempt timeout) on a real
//! hyper-util `Client`, against an upstream that fails 30% of its requests (seeded).
//!
//! The bare client gets a response (200 or 503) to every request, never a transport error; the
//! success rate with the stack is measured and printed
//! beside the rate of the bare client against the same upstream, in the same test, and only
//! "higher" is asserted.

mod support;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bulwark_breaker::BreakerLayer;
use bulwark_http::ReplayBody;
use bulwark_policy::{Backoff, BoxError, EventKind, Rng};
use bulwark_test_support::RecordingHook;
use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use support::Server;
use tower::{Layer, Service, ServiceExt};
use tower_bulwark::preset;

const REQUESTS: usize = 300;
const FAILURE_RATE: f64 = 0.3;

/// Answers 503 to a seeded 30% of its requests, 200 to the others; counts what it received.
async fn flaky_upstream(seed: u64) -> (Server, Arc<AtomicUsize>) {
    let rng = Arc::new(Mutex::new(Rng::new(seed)));
    let received = Arc::new(AtomicUsize::new(0));
    let count = received.clone();
    let server = Server::start(tower::service_fn(move |_: http::Request<Incoming>| {
        count.fetch_add(1, Ordering::SeqCst);
        let fail = rng.lock().unwrap().next_f64() < FAILURE_RATE;
        async move {
            let status = if fail {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            };
            let res = http::Response::builder().status(status);
            Ok::<_, Infallible>(res.body(Full::new(Bytes::from("x"))).unwrap())
        }
    }))
    .await;
    (server, received)
}

/// What `REQUESTS` GETs sent one after another through a service came back as.
#[derive(Debug, Default)]
struct Tally {
    /// 200 responses.
    ok: usize,
    /// Responses with any other status.
    not_ok: usize,
    /// Errors from `ready` or `call` instead of a response.
    errors: usize,
}

/// Sends `REQUESTS` GETs one after another through `svc`.
async fn run<S, B>(mut svc: S, server: &Server) -> Tally
where
    S: Service<http::Request<Empty<Bytes>>, Response = http::Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let mut tally = Tally::default();
    for _ in 0..REQUESTS {
        let req = http::Request::get(server.url("/"))
            .body(Empty::new())
            .unwrap();
        match svc.ready().await.map_err(Into::into) {
            Ok(ready) => match ready.call(req).await {
                Ok(res) if res.status() == StatusCode::OK => {
                    res.into_body().collect().await.unwrap();
                    tally.ok += 1;
                }
                Ok(_) => tally.not_ok += 1,
                Err(_) => tally.errors += 1,
            },
            Err(_) => tally.errors += 1,
        }
    }
    tally
}

#[tokio::test]
async fn retries_raise_the_success_rate_against_a_flaky_upstream() {
    let (server, received) = flaky_upstream(42).await;

    // The bare client.
    let bare = support::client::<Empty<Bytes>>();
    let bare = run(bare, &server).await;
    // The upstream never goes down: the bare client gets a response to every request.
    assert_eq!(bare.errors, 0, "bare client transport errors: {bare:?}");
    assert_eq!(received.swap(0, Ordering::SeqCst), REQUESTS);

    // The standard HTTP client preset. Its breaker trips on the failure rate over the last
    // 50 calls rather than on 5 consecutive failures (its default): with independent 30%
    // failures, 5 in a row come about once in 400 attempts, and an open breaker would then
    // reject everything for the open period.
    let hook = RecordingHook::new();
    let layer = preset::standard_http_client()
        .backoff(
            Backoff::exponential(Duration::from_millis(1)).max_delay(Duration::from_millis(10)),
        )
        .breaker(
            BreakerLayer::builder()
                .no_consecutive_failures()
                .failure_rate(0.5)
                .count_window(50)
                .min_calls(20)
                .open_for(Backoff::constant(Duration::from_secs(1))),
        )
        .hook(hook.clone())
        .seed(1)
        .build()
        .unwrap();
    let stack = layer.layer(support::client::<ReplayBody<Empty<Bytes>>>());
    let stack = run(stack, &server).await;

    // Every attempt is accounted for: the requests, plus each retry that was not rejected.
    let retries = hook.count(|k| matches!(k, EventKind::RetryAttempt { .. }));
    let rejected = hook.count(|k| matches!(k, EventKind::BreakerRejected { .. }));
    assert_eq!(
        received.load(Ordering::SeqCst),
        REQUESTS + retries - rejected
    );

    let rate = |ok: usize| 100.0 * ok as f64 / REQUESTS as f64;
    eprintln!(
        "upstream failing {:.0}% (seeded): bare client {}/{REQUESTS} = {:.1}%; \
         standard stack {}/{REQUESTS} = {:.1}% ({retries} retries, {rejected} rejected, \
         {} errors)",
        FAILURE_RATE * 100.0,
        bare.ok,
        rate(bare.ok),
        stack.ok,
        rate(stack.ok),
        stack.errors,
    );
    assert!(stack.ok > bare.ok, "{} > {}", stack.ok, bare.ok);
}

//! The HTTP and gRPC client presets: the HTTP classifier decides for retry and breaker alike,
//! bodies are replayed, only idempotent requests are retried, and gRPC attempts carry
//! `grpc-timeout`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_bulwark::http::parse_grpc_timeout;
use tower_bulwark::prelude::*;

type Body = ReplayBody<Full<Bytes>>;
/// The method and body of every request an upstream received.
type Seen = Arc<Mutex<Vec<(http::Method, Bytes)>>>;

/// An upstream that records every request's method and body, and answers with the statuses
/// of `statuses` in turn (the last one for ever).
fn upstream(
    statuses: &'static [u16],
) -> (
    Seen,
    impl Service<http::Request<Body>, Response = http::Response<()>, Error = BoxError, Future: Send>
        + Clone,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let svc = service_fn(move |req: http::Request<Body>| {
        let record = record.clone();
        async move {
            let method = req.method().clone();
            let body = req.into_body().collect().await?.to_bytes();
            let mut seen = record.lock().unwrap();
            seen.push((method, body));
            let status = statuses[(seen.len() - 1).min(statuses.len() - 1)];
            Ok::<_, BoxError>(http::Response::builder().status(status).body(()).unwrap())
        }
    });
    (seen, svc)
}

fn request(method: http::Method, body: &'static str) -> http::Request<Full<Bytes>> {
    http::Request::builder()
        .method(method)
        .uri("http://upstream/items")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

fn client() -> preset::StandardHttpClient {
    preset::standard_http_client().backoff(Backoff::constant(Duration::from_millis(10)))
}

#[tokio::test(start_paused = true)]
async fn a_put_is_retried_with_the_same_body() {
    let (seen, svc) = upstream(&[503, 502, 200]);
    let svc = client().build().unwrap().layer(svc);
    let res = svc
        .oneshot(request(http::Method::PUT, "{\"n\":1}"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert!(seen
        .iter()
        .all(|(m, b)| m == http::Method::PUT && b == "{\"n\":1}"));
}

#[tokio::test(start_paused = true)]
async fn a_post_is_sent_once_unless_told_otherwise() {
    let (seen, svc) = upstream(&[503, 200]);
    let svc = client().build().unwrap().layer(svc);
    let res = svc
        .oneshot(request(http::Method::POST, "order"))
        .await
        .unwrap();
    assert_eq!(res.status(), 503, "the upstream's own answer comes back");
    assert_eq!(seen.lock().unwrap().len(), 1);

    let (seen, svc) = upstream(&[503, 200]);
    let svc = client()
        .retry_if_request(|_: &http::Request<Body>| true)
        .build()
        .unwrap()
        .layer(svc);
    let res = svc
        .oneshot(request(http::Method::POST, "order"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_caller_error_neither_is_retried_nor_trips_the_breaker() {
    let (seen, svc) = upstream(&[404]);
    let layer = client().consecutive_failures(2).build().unwrap();
    let breaker = layer.breaker_handle();
    let svc = layer.layer(svc);
    for _ in 0..5 {
        let res = svc
            .clone()
            .oneshot(request(http::Method::GET, ""))
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
    }
    assert_eq!(seen.lock().unwrap().len(), 5, "no retries");
    assert!(!breaker.state().rejects());
}

#[tokio::test(start_paused = true)]
async fn server_errors_trip_the_breaker_attempt_by_attempt() {
    let (seen, svc) = upstream(&[500]);
    let layer = client()
        .max_attempts(3)
        .consecutive_failures(3)
        .build()
        .unwrap();
    let breaker = layer.breaker_handle();
    let svc = layer.layer(svc);
    let res = svc
        .clone()
        .oneshot(request(http::Method::GET, ""))
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    assert_eq!(seen.lock().unwrap().len(), 3);
    assert!(breaker.state().rejects());
    let err = svc
        .oneshot(request(http::Method::GET, ""))
        .await
        .unwrap_err();
    assert!(err.is::<Rejected>());
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn each_grpc_attempt_carries_what_is_left_of_its_time() {
    let timeouts = Arc::new(Mutex::new(Vec::new()));
    let record = timeouts.clone();
    let svc = service_fn(move |req: http::Request<Body>| {
        let timeout = req
            .headers()
            .get("grpc-timeout")
            .and_then(parse_grpc_timeout);
        let n = {
            let mut t = record.lock().unwrap();
            t.push(timeout);
            t.len()
        };
        async move {
            // The first attempt is answered UNAVAILABLE after 300 ms; the second at once.
            let status = if n == 1 {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "14"
            } else {
                "0"
            };
            Ok::<_, BoxError>(
                http::Response::builder()
                    .header("grpc-status", status)
                    .body(())
                    .unwrap(),
            )
        }
    });
    let svc = preset::standard_grpc_client()
        .total_timeout(Duration::from_secs(1))
        .attempt_timeout(Duration::from_millis(800))
        .backoff(Backoff::constant(Duration::from_millis(100)))
        .build()
        .unwrap()
        .layer(svc);
    let res = svc
        .oneshot(request(http::Method::POST, "message"))
        .await
        .unwrap();
    assert_eq!(res.headers()["grpc-status"], "0");

    let timeouts = timeouts.lock().unwrap();
    assert_eq!(timeouts.len(), 2, "UNAVAILABLE was retried");
    // The first attempt has its own 800 ms; the second, sent 400 ms after the start (300 ms
    // and a backoff of 100 ms), only the 600 ms the total timeout leaves.
    assert_eq!(timeouts[0], Some(Duration::from_millis(800)));
    assert_eq!(timeouts[1], Some(Duration::from_millis(600)));
}

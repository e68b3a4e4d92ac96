//! A breaker in response mode on a real axum server: an axum `Router` layered with
//! `ErrorResponseLayer` over a `BreakerLayer` (no `HandleErrorLayer`: the stack is infallible),
//! served by `axum::serve` on 127.0.0.1 and called by a hyper-util client over TCP.
//!
//! The handler fails until the breaker opens; while it is open, every request is answered
//! 503 with a `Retry-After` header, without reaching the handler.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use bulwark_breaker::BreakerLayer;
use bulwark_http::{ErrorResponseLayer, HttpClassifier};
use bulwark_policy::{Backoff, BreakerState, EventKind};
use bulwark_test_support::RecordingHook;
use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Empty};
use tower::ServiceBuilder;

const OPEN_FOR: Duration = Duration::from_secs(30);

#[tokio::test]
async fn an_open_breaker_answers_503_with_retry_after() {
    let calls = Arc::new(AtomicUsize::new(0));
    let failing = Arc::new(AtomicBool::new(true));
    let hook = RecordingHook::new();
    let breaker = BreakerLayer::builder()
        .consecutive_failures(3)
        .open_for(Backoff::constant(OPEN_FOR))
        .classify(HttpClassifier::new())
        .hook(hook.clone())
        .name("orders")
        .build()
        .unwrap();

    let handler = {
        let (calls, failing) = (calls.clone(), failing.clone());
        move || async move {
            calls.fetch_add(1, Ordering::SeqCst);
            if failing.load(Ordering::SeqCst) {
                (StatusCode::INTERNAL_SERVER_ERROR, "database is down")
            } else {
                (StatusCode::OK, "order 7")
            }
        }
    };
    // No HandleErrorLayer: `Router::layer` accepts the stack only because
    // `ErrorResponseLayer` makes it infallible. That this compiles is part of the test.
    let app: Router = Router::new().route("/orders/7", get(handler)).layer(
        ServiceBuilder::new()
            .layer(ErrorResponseLayer::new())
            .layer(breaker.clone()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let client = support::client::<Empty<Bytes>>();
    let get = || {
        let client = client.clone();
        async move {
            let uri: http::Uri = format!("http://{addr}/orders/7").parse().unwrap();
            let res = client
                .request(http::Request::get(uri).body(Empty::new()).unwrap())
                .await
                .expect("the server answers every request");
            let (parts, body) = res.into_parts();
            (parts, body.collect().await.unwrap().to_bytes())
        }
    };

    // Three failures, each from the handler.
    for n in 1..=3 {
        let (res, body) = get().await;
        assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR, "call {n}");
        assert_eq!(body, "database is down");
        assert!(res.headers.get("retry-after").is_none());
    }
    assert_eq!(breaker.handle().state(), BreakerState::Open);
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    // Open: answered 503 with Retry-After, and the handler is not called, even once it has
    // recovered.
    failing.store(false, Ordering::SeqCst);
    for _ in 0..3 {
        let (res, body) = get().await;
        assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
        let retry_after: u64 = res.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (1..=OPEN_FOR.as_secs()).contains(&retry_after),
            "Retry-After: {retry_after}"
        );
        assert!(body.is_empty());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let rejected = hook.count(|k| matches!(k, EventKind::BreakerRejected { .. }));
    assert_eq!(rejected, 3);

    // Closed again, requests reach the handler.
    breaker.handle().force_closed();
    let (res, body) = get().await;
    assert_eq!((res.status, body), (StatusCode::OK, Bytes::from("order 7")));
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    server.abort();
}

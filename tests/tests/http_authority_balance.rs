//! One hyper-util client spread over three upstream hyper servers on 127.0.0.1 by
//! `balance_authorities` (bulwark-balance endpoints that rewrite the request's authority):
//! requests reach every upstream; when one is shut down, outlier detection ejects it, and a
//! retry that avoids the endpoint it just failed on keeps every request succeeding.

mod support;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bulwark_balance::{
    BalanceLayer, ExtensionsLastEndpoint, LastEndpointLayer, OutlierDetection, Strategy,
};
use bulwark_http::{
    balance_authorities, HttpClassifier, HttpReplay, ReplayBody, ReplayBodyLayer, Upstream,
};
use bulwark_policy::{Backoff, EventKind};
use bulwark_retry::RetryLayer;
use bulwark_test_support::RecordingHook;
use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use support::Server;
use tower::{Service, ServiceBuilder, ServiceExt};

/// A server that answers with its name and counts what it served.
async fn upstream(name: &'static str) -> (Server, Arc<AtomicUsize>) {
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    let server = Server::start(tower::service_fn(move |req: http::Request<Incoming>| {
        let count = count.clone();
        async move {
            count.fetch_add(1, Ordering::SeqCst);
            // The path and query survive the rewrite.
            let status = match req.uri().path_and_query().map(|pq| pq.as_str()) {
                Some("/items?page=2") => StatusCode::OK,
                _ => StatusCode::BAD_REQUEST,
            };
            let res = http::Response::builder().status(status);
            Ok::<_, Infallible>(res.body(Full::new(Bytes::from(name))).unwrap())
        }
    }))
    .await;
    (server, served)
}

#[tokio::test]
async fn requests_spread_over_every_upstream_and_survive_one_going_down() {
    let names = ["a", "b", "c"];
    let mut servers = Vec::new();
    let mut served = Vec::new();
    for name in names {
        let (server, count) = upstream(name).await;
        servers.push(server);
        served.push(count);
    }
    let upstreams: Vec<Upstream> = servers
        .iter()
        .map(|s| s.addr.to_string().parse().unwrap())
        .collect();

    let hook = RecordingHook::new();
    let layer = BalanceLayer::builder()
        .strategy(Strategy::P2cPending)
        .classify(HttpClassifier::new())
        .last_endpoint(ExtensionsLastEndpoint)
        .outlier_detection(
            OutlierDetection::builder()
                .consecutive_failures(Some(2))
                .base_ejection_time(Duration::from_secs(300))
                .max_ejection_percent(50.0)
                .build()
                .unwrap(),
        )
        .hook(hook.clone())
        .seed(11)
        .build();
    let client = support::client::<ReplayBody<Empty<Bytes>>>();
    let balance = balance_authorities(&layer, client, upstreams.clone());
    let handle = layer.handle(&balance);
    let retry = RetryLayer::builder()
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(1)))
        .classify(HttpClassifier::new())
        .replay(HttpReplay)
        .hook(hook.clone())
        .build()
        .unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(ReplayBodyLayer::new())
        .layer(LastEndpointLayer::new())
        .layer(retry)
        .service(balance);

    let mut send = async move || -> String {
        // The URI names no upstream of its own: each endpoint writes its upstream in.
        let req = http::Request::get("http://service.invalid/items?page=2")
            .body(Empty::new())
            .unwrap();
        let res = svc.ready().await.unwrap().call(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    };
    let counts = || {
        served
            .iter()
            .map(|c| c.load(Ordering::SeqCst))
            .collect::<Vec<_>>()
    };

    for _ in 0..60 {
        let name = send().await;
        assert!(names.contains(&name.as_str()));
    }
    let before = counts();
    assert_eq!(before.iter().sum::<usize>(), 60);
    assert!(
        before.iter().all(|&n| n > 0),
        "every upstream served: {before:?}"
    );

    // b goes down: its calls fail (connection refused), it is ejected, and every request
    // still succeeds, on a or c.
    servers[1].shutdown().await;
    for _ in 0..60 {
        let name = send().await;
        assert!(name == "a" || name == "c", "{name}");
    }
    let after = counts();
    assert_eq!(after[1], before[1], "b served nothing once down");
    assert_eq!(after[0] + after[2], before[0] + before[2] + 60);
    assert!(after[0] > before[0] && after[2] > before[2], "{after:?}");

    let ejected: Vec<_> = hook
        .events()
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::EndpointEjected { .. }))
        .map(|e| e.key)
        .collect();
    assert_eq!(ejected, [Some(upstreams[1].to_string())]);
    let b = handle
        .endpoints()
        .into_iter()
        .find(|e| e.key == upstreams[1])
        .unwrap();
    assert!(b.ejected);
}

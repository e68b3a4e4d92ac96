//! Retry on a real tonic client against a real tonic server on 127.0.0.1.
//!
//! The server is `tonic::transport::Server` with a hand-written `test.Echo` service (prost
//! messages, tonic's `Grpc` with `ProstCodec`); the client is `tonic::client::Grpc` over a
//! `Channel`, behind `ReplayBodyLayer` and a `RetryLayer` classifying with `GrpcClassifier`.
//! UNAVAILABLE is retried until the server recovers; INVALID_ARGUMENT is not retried; the
//! server counts the calls it received.

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bulwark_http::{GrpcClassifier, HttpReplay, ReplayBody, ReplayBodyLayer};
use bulwark_policy::{Backoff, EventKind, FailureKind};
use bulwark_retry::RetryLayer;
use bulwark_test_support::RecordingHook;
use support::echo::{self, EchoServer, Seen};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint};
use tower::ServiceBuilder;

const MAX_ATTEMPTS: u32 = 4;

/// Serves an `EchoServer` whose first `unavailable_first` calls fail with UNAVAILABLE, with
/// tonic's own server on a port of its own; the channel to it and what the server saw.
async fn serve(unavailable_first: usize) -> (Channel, Arc<Seen>, tokio::task::JoinHandle<()>) {
    let svc = EchoServer::new(unavailable_first);
    let seen = svc.seen.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .serve_with_incoming(svc, TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (channel, seen, server)
}

/// Calls Echo through a retrying stack over `channel`.
async fn call(
    channel: Channel,
    hook: &RecordingHook,
    req: echo::EchoRequest,
) -> Result<echo::EchoReply, tonic::Status> {
    let retry = RetryLayer::builder()
        .max_attempts(MAX_ATTEMPTS)
        .backoff(Backoff::constant(Duration::from_millis(5)))
        .classify(GrpcClassifier::new())
        .replay(HttpReplay)
        .hook(hook.clone())
        .build()
        .unwrap();
    let stack = ServiceBuilder::new()
        .layer(ReplayBodyLayer::new())
        .layer(retry)
        .map_request(|req: http::Request<ReplayBody<tonic::body::Body>>| {
            req.map(tonic::body::Body::new)
        })
        .service(channel);
    echo::call(stack, tonic::Request::new(req))
        .await
        .map(tonic::Response::into_inner)
}

fn retries(hook: &RecordingHook) -> Vec<FailureKind> {
    hook.kinds()
        .into_iter()
        .filter_map(|k| match k {
            EventKind::RetryAttempt { reason, .. } => Some(reason.kind),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn unavailable_is_retried_until_the_server_recovers() {
    let (channel, seen, server) = serve(2).await;
    let hook = RecordingHook::new();

    let reply = call(channel, &hook, echo::request("hello")).await.unwrap();

    assert_eq!(reply.message, "hello");
    assert_eq!(reply.call, 3, "answered by the third call");
    assert_eq!(seen.calls.load(Ordering::SeqCst), 3);
    assert_eq!(retries(&hook), [FailureKind::Overloaded; 2]);
    server.abort();
}

#[tokio::test]
async fn invalid_argument_is_not_retried() {
    let (channel, seen, server) = serve(0).await;
    let hook = RecordingHook::new();

    let mut req = echo::request("bad");
    req.fail_with = tonic::Code::InvalidArgument as i32;
    let status = call(channel, &hook, req).await.unwrap_err();

    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(seen.calls.load(Ordering::SeqCst), 1, "sent once");
    assert!(retries(&hook).is_empty());
    server.abort();
}

#[tokio::test]
async fn a_server_that_stays_unavailable_gets_max_attempts_calls() {
    let (channel, seen, server) = serve(usize::MAX).await;
    let hook = RecordingHook::new();

    let status = call(channel, &hook, echo::request("x")).await.unwrap_err();

    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert_eq!(seen.calls.load(Ordering::SeqCst), MAX_ATTEMPTS as usize);
    assert_eq!(retries(&hook).len(), MAX_ATTEMPTS as usize - 1);
    assert_eq!(
        hook.count(|k| matches!(
            k,
            EventKind::RetriesExhausted {
                attempts: MAX_ATTEMPTS
            }
        )),
        1
    );
    server.abort();
}

#[tokio::test]
async fn the_standard_grpc_client_preset_rides_out_unavailable() {
    let (channel, seen, server) = serve(2).await;
    let hook = RecordingHook::new();
    let layer = tower_bulwark::preset::standard_grpc_client()
        .backoff(Backoff::constant(Duration::from_millis(5)))
        .hook(hook.clone())
        .build()
        .unwrap();
    let stack = ServiceBuilder::new()
        .layer(layer)
        .map_request(|req: http::Request<ReplayBody<tonic::body::Body>>| {
            req.map(tonic::body::Body::new)
        })
        .service(channel);

    let reply = echo::call(stack, tonic::Request::new(echo::request("preset")))
        .await
        .unwrap()
        .into_inner();

    assert_eq!((reply.message.as_str(), reply.call), ("preset", 3));
    assert_eq!(seen.calls.load(Ordering::SeqCst), 3);
    assert_eq!(retries(&hook), [FailureKind::Overloaded; 2]);
    // Each attempt told the server how long it had: at most the attempt timeout.
    let timeouts = seen.timeouts();
    assert_eq!(timeouts.len(), 3);
    for t in timeouts {
        assert!(t <= tower_bulwark::preset::DEFAULT_ATTEMPT_TIMEOUT, "{t:?}");
    }
    server.abort();
}

//! A deadline carried across a real gRPC hop: the tonic client's `Deadline` is written as
//! `grpc-timeout` by `WriteGrpcTimeoutLayer`; the server reads it with `ReadGrpcTimeoutLayer`,
//! enforces it with bulwark's `TimeoutLayer`, and answers DEADLINE_EXCEEDED through
//! `ErrorResponseLayer::grpc()`.
//!
//! The server is the hand-written tonic `test.Echo` service served by hyper-util (HTTP/2)
//! rather than by `tonic::transport::Server`, and the slow call's client is
//! `tonic::client::Grpc` over a hyper-util HTTP/2 client rather than over a `Channel`: tonic's
//! server and its `Channel` both enforce a request's `grpc-timeout` themselves, outside every
//! layer they are given, and report it as CANCELLED ("Timeout expired"). On them this test
//! could not tell whose deadline had fired; here only the server's bulwark stack can end the
//! call.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use bulwark_http::{ErrorResponseLayer, ReadGrpcTimeoutLayer, WriteGrpcTimeoutLayer};
use bulwark_policy::Deadline;
use bulwark_timeout::TimeoutLayer;
use hyper_util::rt::TokioExecutor;
use support::echo::{self, EchoServer, Seen};
use support::Server;
use tonic::transport::{Channel, Endpoint};
use tower::ServiceBuilder;

/// The server stack: errors as gRPC statuses, the incoming `grpc-timeout` as the request's
/// deadline (capped at a minute), and a timeout of 30 s that enforces the earlier deadline.
async fn serve() -> (Server, std::sync::Arc<Seen>, Channel) {
    let svc = EchoServer::new(0);
    let seen = svc.seen.clone();
    let stack = ServiceBuilder::new()
        .layer(ErrorResponseLayer::grpc())
        .layer(ReadGrpcTimeoutLayer::new(Duration::from_secs(60)).unwrap())
        .layer(TimeoutLayer::new(Duration::from_secs(30)))
        .service(svc);
    let server = Server::start(stack).await;
    let channel = Endpoint::from_shared(server.origin())
        .unwrap()
        .connect()
        .await
        .unwrap();
    (server, seen, channel)
}

#[tokio::test]
async fn a_slow_handler_gets_deadline_exceeded_from_the_server() {
    let (server, seen, _) = serve().await;
    // Long enough that a slow machine still sends the request well before the deadline.
    let budget = Duration::from_secs(2);
    let h2 = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<tonic::body::Body>();
    let client = ServiceBuilder::new()
        .layer(WriteGrpcTimeoutLayer::new())
        .service(h2);

    // The client carries a deadline and enforces nothing itself: only the server can end
    // this call early.
    let mut req = echo::request("slow");
    req.delay_ms = 60_000;
    let mut req = tonic::Request::new(req);
    req.extensions_mut().insert(Deadline::after(budget));
    let origin = server.origin().parse().unwrap();
    let status = echo::call_at(client, Some(origin), req).await.unwrap_err();

    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    assert_eq!(status.message(), "request timed out");
    assert_eq!(seen.calls.load(Ordering::SeqCst), 1);
    let timeouts = seen.timeouts();
    assert_eq!(timeouts.len(), 1);
    assert!(
        !timeouts[0].is_zero() && timeouts[0] <= budget,
        "grpc-timeout {:?} within the client's budget {budget:?}",
        timeouts[0]
    );
}

#[tokio::test]
async fn a_client_total_timeout_travels_as_grpc_timeout() {
    let (_server, seen, channel) = serve().await;
    let total = Duration::from_secs(5);
    // A total timeout writes its deadline on the request; WriteGrpcTimeoutLayer, inside it,
    // sends what is left of it.
    let client = ServiceBuilder::new()
        .layer(TimeoutLayer::new(total))
        .layer(WriteGrpcTimeoutLayer::new())
        .service(channel);

    let reply = echo::call(client, tonic::Request::new(echo::request("fast")))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(reply.message, "fast");
    let timeouts = seen.timeouts();
    assert_eq!(timeouts.len(), 1);
    assert!(
        !timeouts[0].is_zero() && timeouts[0] <= total,
        "{timeouts:?}"
    );
}

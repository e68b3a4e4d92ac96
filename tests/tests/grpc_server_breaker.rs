//! A breaker in response mode on a real tonic server: `tonic::transport::Server` layered with
//! `ErrorResponseLayer::grpc()` over a `BreakerLayer` classifying with `GrpcClassifier`. Once
//! the handler's INTERNAL answers trip it, the tonic client gets UNAVAILABLE with
//! `grpc-retry-pushback-ms`, which bulwark's gRPC classifier reads as a retryable failure
//! carrying the wait; the handler is not called while the breaker is open.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use bulwark_breaker::BreakerLayer;
use bulwark_http::{ErrorResponseLayer, GrpcClassifier};
use bulwark_policy::{Backoff, BreakerState, Classify, FailureKind};
use support::echo::{self, EchoServer};
use tonic::transport::server::TcpIncoming;
use tonic::transport::Endpoint;

const OPEN_FOR: Duration = Duration::from_secs(30);

#[tokio::test]
async fn an_open_breaker_answers_unavailable_with_pushback() {
    let breaker = BreakerLayer::builder()
        .consecutive_failures(2)
        .open_for(Backoff::constant(OPEN_FOR))
        .classify(GrpcClassifier::new())
        .build()
        .unwrap();
    let svc = EchoServer::new(0);
    let seen = svc.seen.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = {
        let breaker = breaker.clone();
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .layer(ErrorResponseLayer::grpc())
                .layer(breaker)
                .serve_with_incoming(svc, TcpIncoming::from(listener))
                .await
                .unwrap();
        })
    };
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();

    let internal = || {
        let mut req = echo::request("x");
        req.fail_with = tonic::Code::Internal as i32;
        tonic::Request::new(req)
    };
    for _ in 0..2 {
        let status = echo::call(channel.clone(), internal()).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Internal);
    }
    assert_eq!(breaker.handle().state(), BreakerState::Open);

    for _ in 0..3 {
        let status = echo::call(channel.clone(), tonic::Request::new(echo::request("y")))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
        let pushback: u64 = status
            .metadata()
            .get("grpc-retry-pushback-ms")
            .expect("a pushback")
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            pushback > 0 && pushback <= OPEN_FOR.as_millis() as u64,
            "{pushback}"
        );

        // What a bulwark client stack makes of it.
        let failure = GrpcClassifier::new()
            .classify(&Err::<tonic::Response<()>, _>(status))
            .failure()
            .unwrap();
        assert_eq!(failure.kind, FailureKind::Overloaded);
        assert!(failure.retryable);
        assert_eq!(failure.retry_after, Some(Duration::from_millis(pushback)));
    }
    assert_eq!(
        seen.calls.load(Ordering::SeqCst),
        2,
        "rejected calls never reach the handler"
    );
    server.abort();
}

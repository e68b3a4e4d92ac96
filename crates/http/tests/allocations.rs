//! The classifiers and the response mode's happy path make no heap allocation.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bulwark_http::{ErrorResponseLayer, GrpcClassifier, HttpClassifier};
use bulwark_policy::{BoxError, Classify};
use bulwark_test_support::allocations;
use tower::{service_fn, Layer, Service};

bulwark_test_support::counting_allocator!();

fn response(status: u16, headers: &[(&'static str, &'static str)]) -> http::Response<()> {
    let mut res = http::Response::builder().status(status);
    for (name, value) in headers {
        res = res.header(*name, *value);
    }
    res.body(()).unwrap()
}

#[test]
fn classifying_allocates_nothing() {
    let http = HttpClassifier::new();
    let grpc = GrpcClassifier::new();
    let answers: Vec<Result<http::Response<()>, BoxError>> = vec![
        Ok(response(200, &[])),
        Ok(response(404, &[])),
        Ok(response(503, &[("retry-after", "5")])),
        Ok(response(
            429,
            &[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")],
        )),
        Ok(response(
            200,
            &[("grpc-status", "8"), ("grpc-retry-pushback-ms", "20")],
        )),
        Ok(response(200, &[("grpc-status", "14")])),
        Err("connection refused".into()),
    ];
    let mut failures = 0;
    let n = allocations(|| {
        for answer in &answers {
            failures += usize::from(http.classify(answer).is_failure());
            failures += usize::from(grpc.classify(answer).is_failure());
        }
    });
    assert_eq!(n, 0);
    assert_eq!(failures, 8);
}

#[test]
fn the_response_mode_allocates_nothing_on_success() {
    let layer = ErrorResponseLayer::new();
    let mut svc = layer.layer(service_fn(|_: ()| async {
        Ok::<_, BoxError>(http::Response::new(()))
    }));
    let mut cx = Context::from_waker(Waker::noop());
    let n = allocations(|| {
        for _ in 0..100 {
            assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
            let future = pin!(svc.call(()));
            let done: Poll<Result<http::Response<()>, Infallible>> = future.poll(&mut cx);
            assert!(matches!(done, Poll::Ready(Ok(res)) if res.status() == 200));
        }
    });
    assert_eq!(n, 0);
}

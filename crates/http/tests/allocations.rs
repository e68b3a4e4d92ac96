//! The classifiers, the response mode's happy path and `SetAuthority`'s rewrite make no heap
//! allocation.

use std::convert::Infallible;
use std::future::ready;

use bulwark_http::{ErrorResponseLayer, GrpcClassifier, HttpClassifier, SetAuthority, Upstream};
use bulwark_policy::{BoxError, Classify};
use bulwark_test_support::{allocations, call_once};
use tower::{service_fn, Layer};

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
    let n = allocations(|| {
        for _ in 0..100 {
            let Ok(res) = call_once(&mut svc, ());
            assert_eq!(res.status(), 200);
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn setting_the_authority_allocates_nothing() {
    let upstream = Upstream::parse("https://10.0.0.7:8443").unwrap();
    let mut endpoint = SetAuthority::new(
        service_fn(|req: http::Request<()>| ready(Ok::<_, Infallible>(req))),
        upstream,
    );
    // Path-only URIs parsed from a `&str`, the usual client request: their bytes are copied
    // into storage that is not shared yet, so cloning the path (rather than moving it) would
    // allocate to share it.
    let paths = ["/health", "/orders?page=2", "/"];
    let requests: Vec<_> = (0..99)
        .map(|i| http::Request::get(paths[i % 3]).body(()).unwrap())
        .collect();
    let mut sent = Vec::with_capacity(requests.len());
    let n = allocations(|| {
        for req in requests {
            let Ok(req) = call_once(&mut endpoint, req);
            sent.push(req);
        }
    });
    assert_eq!(n, 0);
    for (i, req) in sent.iter().enumerate() {
        assert_eq!(
            req.uri(),
            &*format!("https://10.0.0.7:8443{}", paths[i % 3])
        );
    }
}

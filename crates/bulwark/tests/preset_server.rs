//! The standard server stack: a timeout, a shared concurrency limit, load shedding, and, in
//! the HTTP and gRPC presets, errors answered with responses.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_bulwark::prelude::*;

type Req = http::Request<()>;
type Res = http::Response<String>;

/// A handler that waits for a permit of `gate` on requests to `/wait`, and answers `/fail`
/// with an error of its own.
fn handler(
    gate: Arc<Semaphore>,
) -> impl Service<Req, Response = Res, Error = BoxError, Future: Send> + Clone + Send {
    service_fn(move |req: Req| {
        let gate = gate.clone();
        async move {
            match req.uri().path() {
                "/wait" => drop(gate.acquire().await?),
                "/fail" => return Err::<Res, BoxError>("the handler failed".into()),
                "/slow" => tokio::time::sleep(Duration::from_secs(60)).await,
                _ => {}
            }
            Ok(http::Response::new(String::from("ok")))
        }
    })
}

fn get(path: &str) -> Req {
    http::Request::get(path).body(()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_http_server_sheds_over_the_limit_across_every_service_of_one_layer() {
    let layer = preset::standard_http_server()
        .max_in_flight(1)
        .build()
        .unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let a = layer.layer(handler(gate.clone()));
    let b = layer.layer(handler(gate.clone()));

    // One request in flight through `a` holds the only slot...
    let first = tokio::spawn(a.clone().oneshot(get("/wait")));
    tokio::task::yield_now().await;
    // ...so requests through `a` and `b` alike are shed at once, with 503.
    let shed: Result<Res, Infallible> = b.clone().oneshot(get("/")).await;
    let shed = shed.unwrap();
    assert_eq!(shed.status(), 503);
    let failure = shed.extensions().get::<Failure>().copied().unwrap();
    assert_eq!(failure.kind, FailureKind::Overloaded);
    assert_eq!(a.clone().oneshot(get("/")).await.unwrap().status(), 503);

    gate.add_permits(1);
    assert_eq!(first.await.unwrap().unwrap().status(), 200);
    assert_eq!(
        b.oneshot(get("/")).await.unwrap().status(),
        200,
        "the slot is free again"
    );
}

#[tokio::test(start_paused = true)]
async fn the_http_server_answers_a_timeout_with_504_and_other_errors_with_500() {
    let layer = preset::standard_http_server()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let svc = layer.layer(handler(Arc::new(Semaphore::new(0))));

    let start = tokio::time::Instant::now();
    assert_eq!(
        svc.clone().oneshot(get("/slow")).await.unwrap().status(),
        504
    );
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(
        svc.clone().oneshot(get("/fail")).await.unwrap().status(),
        500
    );
    assert_eq!(svc.oneshot(get("/")).await.unwrap().status(), 200);
}

#[tokio::test(start_paused = true)]
async fn a_request_deadline_earlier_than_the_server_timeout_applies() {
    let layer = preset::standard_http_server().build().unwrap();
    let svc = layer.layer(handler(Arc::new(Semaphore::new(0))));
    let mut req = get("/slow");
    req.extensions_mut()
        .insert(Deadline::after(Duration::from_millis(250)));

    let start = tokio::time::Instant::now();
    assert_eq!(svc.oneshot(req).await.unwrap().status(), 504);
    assert_eq!(start.elapsed(), Duration::from_millis(250));
}

#[tokio::test(start_paused = true)]
async fn the_grpc_server_answers_with_grpc_statuses() {
    let layer = preset::standard_grpc_server()
        .timeout(Duration::from_secs(1))
        .max_in_flight(1)
        .build()
        .unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let svc = layer.layer(handler(gate.clone()));

    let res = svc.clone().oneshot(get("/slow")).await.unwrap();
    assert_eq!(res.status(), 200, "a trailers-only gRPC answer");
    assert_eq!(res.headers()["grpc-status"], "4", "DEADLINE_EXCEEDED");

    let first = tokio::spawn(svc.clone().oneshot(get("/wait")));
    tokio::task::yield_now().await;
    let shed = svc.clone().oneshot(get("/")).await.unwrap();
    assert_eq!(shed.headers()["grpc-status"], "14", "UNAVAILABLE");
    assert_eq!(shed.headers()["content-type"], "application/grpc");
    gate.add_permits(1);
    assert_eq!(first.await.unwrap().unwrap().status(), 200);
}

#[tokio::test]
async fn the_plain_server_passes_its_errors_on() {
    let layer = preset::standard_server().build().unwrap();
    let svc = layer.layer(handler(Arc::new(Semaphore::new(0))));
    let err = svc.oneshot(get("/fail")).await.unwrap_err();
    assert_eq!(err.to_string(), "the handler failed");
}

#[test]
fn nonsense_is_refused() {
    let err = preset::standard_server()
        .timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "timeout");
    let err = preset::standard_http_server()
        .max_in_flight(0)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "max_in_flight");
}

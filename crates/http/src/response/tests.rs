use std::error::Error;
use std::fmt;
use std::future::{ready, Ready};
use std::time::Duration;

use bulwark_policy::{Elapsed, Failure, FailureKind, NoEndpoint, Rejected};
use http::StatusCode;
use tokio_test::{assert_ready_ok, task};
use tower::{service_fn, ServiceExt};
use tower_layer::Layer;

use super::*;

#[derive(Debug)]
struct Wrapped(BoxError);

impl fmt::Display for Wrapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("wrapped")
    }
}

impl Error for Wrapped {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.0)
    }
}

async fn answer(layer: ErrorResponseLayer, err: BoxError) -> http::Response<()> {
    let mut err = Some(err);
    let svc = service_fn(move |_: ()| {
        let err = err.take().unwrap();
        async move { Err::<http::Response<()>, BoxError>(err) }
    });
    ErrorResponse::new(svc, layer).oneshot(()).await.unwrap()
}

#[tokio::test]
async fn each_error_gets_its_status() {
    let layer = ErrorResponseLayer::new();
    let res = answer(
        layer,
        Rejected::new(Some(Duration::from_millis(1001))).into(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "2");
    let failure = res.extensions().get::<Failure>().unwrap();
    assert_eq!(failure.kind, FailureKind::Rejected);

    let res = answer(layer, Rejected::new(None).into()).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().get("retry-after").is_none());

    let res = answer(layer, Elapsed::new().into()).await;
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(res.headers().is_empty());
    let res = answer(layer, NoEndpoint::new().into()).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let res = answer(layer, "boom".into()).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn errors_are_recognised_through_their_sources() {
    let layer = ErrorResponseLayer::new();
    let wrapped = Wrapped(Box::new(Wrapped(
        Rejected::new(Some(Duration::from_secs(4))).into(),
    )));
    let res = answer(layer, Box::new(wrapped)).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "4");
    let res = answer(layer, Box::new(Wrapped(Elapsed::new().into()))).await;
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
}

#[tokio::test]
async fn statuses_are_configurable() {
    let layer = ErrorResponseLayer::builder()
        .rejected(StatusCode::TOO_MANY_REQUESTS)
        .elapsed(StatusCode::REQUEST_TIMEOUT)
        .no_endpoint(StatusCode::BAD_GATEWAY)
        .other(StatusCode::BAD_GATEWAY)
        .build()
        .unwrap();
    let res = answer(layer, Rejected::new(Some(Duration::from_secs(1))).into()).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(answer(layer, Elapsed::new().into()).await.status(), 408);
    assert_eq!(answer(layer, NoEndpoint::new().into()).await.status(), 502);
    assert_eq!(answer(layer, "boom".into()).await.status(), 502);

    for bad in [
        StatusCode::OK,
        StatusCode::CONTINUE,
        StatusCode::NOT_MODIFIED,
    ] {
        let err = ErrorResponseLayer::builder()
            .rejected(bad)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "rejected");
    }
}

#[tokio::test]
async fn answers_pass_through_untouched() {
    let svc = service_fn(|_: ()| async {
        let res = http::Response::builder()
            .status(503)
            .header("x", "1")
            .body(7u8)
            .unwrap();
        Ok::<_, BoxError>(res)
    });
    let res = ErrorResponseLayer::new()
        .layer(svc)
        .oneshot(())
        .await
        .unwrap();
    assert_eq!(
        (res.status(), *res.body()),
        (StatusCode::SERVICE_UNAVAILABLE, 7)
    );
    assert_eq!(res.headers()["x"], "1");
    assert!(res.extensions().get::<Failure>().is_none());
}

/// Fails `poll_ready` once, then answers 200.
#[derive(Clone)]
struct FailsReadyOnce(bool);

impl Service<()> for FailsReadyOnce {
    type Response = http::Response<()>;
    type Error = BoxError;
    type Future = Ready<Result<http::Response<()>, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if std::mem::replace(&mut self.0, false) {
            Poll::Ready(Err(NoEndpoint::new().into()))
        } else {
            Poll::Ready(Ok(()))
        }
    }

    fn call(&mut self, _: ()) -> Self::Future {
        ready(Ok(http::Response::new(())))
    }
}

#[test]
fn a_failed_poll_ready_is_answered_at_the_next_call() {
    let mut svc = ErrorResponse::new(FailsReadyOnce(true), ErrorResponseLayer::new());
    let mut ready = task::spawn(());
    assert_ready_ok!(ready.enter(|cx, _| svc.poll_ready(cx)));
    // A clone does not inherit the stored error.
    let mut clone = svc.clone();
    assert!(clone.unready.is_none());
    let mut first = task::spawn(svc.call(()));
    assert_eq!(
        assert_ready_ok!(first.poll()).status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_ready_ok!(ready.enter(|cx, _| svc.poll_ready(cx)));
    let mut second = task::spawn(svc.call(()));
    assert_eq!(assert_ready_ok!(second.poll()).status(), StatusCode::OK);
    assert_ready_ok!(ready.enter(|cx, _| clone.poll_ready(cx)));
}

#[test]
fn the_service_is_infallible() {
    fn infallible<S: Service<(), Error = Infallible>>(_: &S) {}
    infallible(&ErrorResponse::new(
        FailsReadyOnce(false),
        ErrorResponseLayer::new(),
    ));
}

#[tokio::test]
async fn grpc_mode_answers_with_trailers_only_statuses() {
    let layer = ErrorResponseLayer::grpc();
    let header = |res: &http::Response<()>, name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let res = answer(
        layer,
        Box::new(Wrapped(
            Rejected::new(Some(Duration::from_micros(1))).into(),
        )),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "grpc-status").as_deref(), Some("14"));
    assert_eq!(header(&res, "grpc-retry-pushback-ms").as_deref(), Some("1"));
    assert_eq!(header(&res, "grpc-message").as_deref(), Some("wrapped"));

    let res = answer(layer, Elapsed::new().into()).await;
    assert_eq!(header(&res, "grpc-status").as_deref(), Some("4"));
    assert_eq!(
        header(&res, "grpc-message").as_deref(),
        Some("request timed out")
    );
    assert_eq!(
        header(&res, "content-type").as_deref(),
        Some("application/grpc")
    );
    let res = answer(layer, NoEndpoint::new().into()).await;
    assert_eq!(header(&res, "grpc-status").as_deref(), Some("14"));
    assert!(res.headers().get("grpc-retry-pushback-ms").is_none());
    let res = answer(layer, "database password is hunter2".into()).await;
    assert_eq!(header(&res, "grpc-status").as_deref(), Some("2"));
    assert!(res.headers().get("grpc-message").is_none());
    assert_eq!(
        res.extensions().get::<Failure>().unwrap().kind,
        FailureKind::Error
    );
}

#[tokio::test]
async fn grpc_answers_classify_as_the_errors_they_stand_for() {
    use bulwark_policy::Classify;
    let classify = crate::GrpcClassifier::new();
    let res = answer(
        ErrorResponseLayer::grpc(),
        Rejected::new(Some(Duration::from_secs(2))).into(),
    )
    .await;
    let failure = classify
        .classify(&Ok::<_, BoxError>(res))
        .failure()
        .unwrap();
    assert!(failure.retryable);
    assert_eq!(failure.retry_after, Some(Duration::from_secs(2)));
}

#[test]
fn grpc_messages_are_percent_encoded() {
    assert_eq!(layer::percent_encode("a b%c\n\u{e9}"), "a b%25c%0A%C3%A9");
}

//! A reverse proxy built from bulwark layers on hyper: the request body it replays is hyper's
//! own `Incoming`, whose bytes are slices of the connection's read buffer.
//!
//! caller (hyper client, streamed POST) → proxy (hyper server: `ErrorResponseLayer` →
//! `ReplayBodyLayer` → retry → `SetAuthority` → hyper-util client) → upstream (hyper server
//! that records each body it receives).
//!
//! Also: an upstream that answers 503 before it reads the body, so the first attempt is cut
//! short while streaming, and the retry must finish the body from the caller's stream; and the
//! same stack as an axum route, where the body replayed is axum's `Body`.

mod support;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bulwark_http::{
    is_idempotent, ErrorResponseLayer, HttpClassifier, HttpReplay, ReplayBody, ReplayBodyLayer,
    SetAuthority, Upstream,
};
use bulwark_policy::{Backoff, BoxError, EventKind};
use bulwark_retry::RetryLayer;
use bulwark_test_support::RecordingHook;
use bytes::Bytes;
use http::StatusCode;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use support::{chunked, pattern, Chunked, Server};
use tower::{ServiceBuilder, ServiceExt};

/// How the upstream treats one request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// Reads the whole body, then answers with this status.
    Read(u16),
    /// Answers 503 at once, without reading the body.
    Early503,
}

/// An upstream that answers from a script (then `Read(200)`), recording each body it read.
#[derive(Clone, Default)]
struct Recorder {
    script: Arc<Mutex<VecDeque<Answer>>>,
    bodies: Arc<Mutex<Vec<Bytes>>>,
    early: Arc<AtomicUsize>,
}

impl Recorder {
    async fn start(script: &[Answer]) -> (Server, Recorder) {
        let this = Recorder {
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            ..Recorder::default()
        };
        let rec = this.clone();
        let server = Server::start(tower::service_fn(move |req: http::Request<Incoming>| {
            let rec = rec.clone();
            async move {
                let answer = rec
                    .script
                    .lock()
                    .unwrap()
                    .pop_front()
                    .unwrap_or(Answer::Read(200));
                let status = match answer {
                    Answer::Early503 => {
                        rec.early.fetch_add(1, Ordering::SeqCst);
                        503
                    }
                    Answer::Read(status) => {
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        rec.bodies.lock().unwrap().push(body);
                        status
                    }
                };
                let res = http::Response::builder().status(status);
                Ok::<_, Infallible>(res.body(Full::new(Bytes::from("upstream"))).unwrap())
            }
        }))
        .await;
        (server, this)
    }

    fn bodies(&self) -> Vec<Bytes> {
        self.bodies.lock().unwrap().clone()
    }
}

/// The proxy's stack over request bodies `B`: errors as responses, replay up to `cap` bytes of
/// each body, retries, and a hyper-util client to `upstream`.
fn stack<B>(
    upstream: &Server,
    cap: usize,
    hook: &RecordingHook,
) -> impl tower::Service<
    http::Request<B>,
    Response = http::Response<BoxBody<Bytes, BoxError>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
       + Send
       + 'static
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let retry = RetryLayer::builder()
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(1)))
        .classify(HttpClassifier::new())
        .replay(HttpReplay)
        .retry_if_request(is_idempotent as fn(&http::Request<ReplayBody<B>>) -> bool)
        .hook(hook.clone())
        .build()
        .unwrap();
    let upstream: Upstream = upstream.addr.to_string().parse().unwrap();
    ServiceBuilder::new()
        .layer(
            ErrorResponseLayer::builder()
                .other(StatusCode::BAD_GATEWAY)
                .build()
                .unwrap(),
        )
        .map_response(|res: http::Response<Incoming>| {
            res.map(|body| body.map_err(BoxError::from).boxed())
        })
        .layer(ReplayBodyLayer::new().max_bytes(cap))
        .layer(retry)
        .service(SetAuthority::new(
            support::client::<ReplayBody<B>>(),
            upstream,
        ))
}

/// What the proxy's stack is served by, and so which body type it replays.
#[derive(Debug, Clone, Copy)]
enum Front {
    /// hyper itself: the body is hyper's `Incoming`.
    Hyper,
    /// An axum route: the body is axum's `Body`.
    Axum,
}

/// A proxy to `upstream` served by `front`.
async fn proxy(front: Front, upstream: &Server, cap: usize, hook: &RecordingHook) -> Server {
    match front {
        Front::Hyper => Server::start(stack::<Incoming>(upstream, cap, hook)).await,
        Front::Axum => {
            let route = stack::<axum::body::Body>(upstream, cap, hook);
            Server::start(axum::Router::new().route_service("/upload", route)).await
        }
    }
}

/// POSTs `chunks` × 512 streamed bytes (with an `Idempotency-Key`) to `proxy`.
async fn post(proxy: &Server, chunks: usize) -> StatusCode {
    let req = http::Request::post(proxy.url("/upload"))
        .header("idempotency-key", "k-1")
        .body(chunked(chunks, 512))
        .unwrap();
    let res = support::client::<Chunked>().oneshot(req).await.unwrap();
    let status = res.status();
    res.into_body().collect().await.unwrap();
    status
}

#[tokio::test]
async fn a_proxied_body_is_replayed_from_hypers_incoming_and_axums_body() {
    for front in [Front::Hyper, Front::Axum] {
        let (upstream, rec) = Recorder::start(&[Answer::Read(503)]).await;
        let hook = RecordingHook::new();
        let proxy = proxy(front, &upstream, 64 * 1024, &hook).await;

        assert_eq!(post(&proxy, 16).await, StatusCode::OK, "{front:?}");

        let bodies = rec.bodies();
        assert_eq!(bodies.len(), 2, "{front:?}");
        assert!(bodies.iter().all(|b| *b == pattern(16 * 512)), "{front:?}");
        assert_eq!(
            hook.count(|k| matches!(k, EventKind::RetryAttempt { .. })),
            1,
            "{front:?}"
        );
    }
}

#[tokio::test]
async fn an_answer_before_the_body_was_read_is_retried_with_the_whole_body() {
    let (upstream, rec) = Recorder::start(&[Answer::Early503]).await;
    let hook = RecordingHook::new();
    let proxy = proxy(Front::Hyper, &upstream, 64 * 1024, &hook).await;

    assert_eq!(post(&proxy, 16).await, StatusCode::OK);

    assert_eq!(rec.early.load(Ordering::SeqCst), 1);
    let bodies = rec.bodies();
    assert_eq!(bodies.len(), 1, "the retry was read");
    assert_eq!(bodies[0], pattern(16 * 512), "whole, in order");
}

#[tokio::test]
async fn a_proxied_body_over_the_cap_is_forwarded_once_whole() {
    for front in [Front::Hyper, Front::Axum] {
        let (upstream, rec) = Recorder::start(&[Answer::Read(503), Answer::Read(503)]).await;
        let hook = RecordingHook::new();
        let proxy = proxy(front, &upstream, 1024, &hook).await;

        assert_eq!(
            post(&proxy, 16).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "{front:?}"
        );

        assert_eq!(rec.bodies(), [pattern(16 * 512)], "{front:?}");
        assert_eq!(
            hook.count(|k| *k == EventKind::NotReplayable),
            1,
            "{front:?}"
        );
    }
}

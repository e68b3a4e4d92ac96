//! Retry on a real hyper client: a hyper-util legacy `Client` behind `ReplayBodyLayer` and a
//! `RetryLayer` replaying with `HttpReplay`, against a hyper server on 127.0.0.1 that records
//! every request body it receives.
//!
//! - a streaming POST under the replay cap is sent twice, the same bytes each time;
//! - one over the cap is sent once, whole, and its 503 comes back with a `NotReplayable` event;
//! - `Retry-After: 1` on a 429 and a 503 is what the retry waits, under paused time.

mod support;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bulwark_http::{is_idempotent, HttpClassifier, HttpReplay, ReplayBody, ReplayBodyLayer};
use bulwark_policy::{Backoff, EventKind, FailureKind};
use bulwark_retry::RetryLayer;
use bulwark_test_support::RecordingHook;
use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use support::{chunked, pattern, Chunked, Server};
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt};

/// One request as the upstream received it.
#[derive(Debug, Clone)]
struct Received {
    body: Bytes,
    at: Instant,
}

/// What the upstream answers, in order: a status and a `Retry-After`.
type Script = VecDeque<(u16, Option<&'static str>)>;

/// The retry layer of the POST tests.
type PostRetry = RetryLayer<
    HttpClassifier,
    bulwark_policy::ExtensionsDeadline,
    HttpReplay,
    fn(&http::Request<ReplayBody<Chunked>>) -> bool,
>;

/// An upstream that answers from a script (status and `Retry-After`), then 200, and records
/// each request's whole body.
#[derive(Clone, Default)]
struct Upstream {
    script: Arc<Mutex<Script>>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Upstream {
    fn new(script: &[(u16, Option<&'static str>)]) -> Self {
        Upstream {
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            received: Arc::default(),
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    async fn start(&self) -> Server {
        let this = self.clone();
        Server::start(tower::service_fn(move |req: http::Request<Incoming>| {
            let this = this.clone();
            async move {
                let body = req.into_body().collect().await.unwrap().to_bytes();
                let at = Instant::now();
                this.received.lock().unwrap().push(Received { body, at });
                let (status, retry_after) = this
                    .script
                    .lock()
                    .unwrap()
                    .pop_front()
                    .unwrap_or((200, None));
                let mut res = http::Response::builder().status(status);
                if let Some(value) = retry_after {
                    res = res.header("retry-after", value);
                }
                Ok::<_, Infallible>(res.body(Full::new(Bytes::from("answer"))).unwrap())
            }
        }))
        .await
    }
}

fn retry_layer(hook: &RecordingHook) -> PostRetry {
    RetryLayer::builder()
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(10)))
        .classify(HttpClassifier::new())
        .replay(HttpReplay)
        .retry_if_request(is_idempotent as fn(&http::Request<ReplayBody<Chunked>>) -> bool)
        .hook(hook.clone())
        .seed(7)
        .build()
        .unwrap()
}

/// Sends a POST with an `Idempotency-Key` and a streamed body of `chunks` × 512 bytes through
/// a client keeping at most `cap` bytes for replay; the status and body that came back.
async fn post(
    server: &Server,
    hook: &RecordingHook,
    cap: usize,
    chunks: usize,
) -> (StatusCode, Bytes) {
    let mut client = ServiceBuilder::new()
        .layer(ReplayBodyLayer::new().max_bytes(cap))
        .layer(retry_layer(hook))
        .service(support::client::<ReplayBody<Chunked>>());
    let req = http::Request::post(server.url("/upload"))
        .header("idempotency-key", "upload-1")
        .body(chunked(chunks, 512))
        .unwrap();
    let res = client.ready().await.unwrap().call(req).await.unwrap();
    let status = res.status();
    (status, res.into_body().collect().await.unwrap().to_bytes())
}

#[tokio::test]
async fn a_streamed_body_under_the_cap_is_sent_again_byte_for_byte() {
    let upstream = Upstream::new(&[(503, None)]);
    let server = upstream.start().await;
    let hook = RecordingHook::new();

    let (status, body) = post(&server, &hook, 64 * 1024, 8).await;

    assert_eq!((status, body), (StatusCode::OK, Bytes::from("answer")));
    let received = upstream.received();
    assert_eq!(received.len(), 2, "the 503 was retried once");
    for (n, req) in received.iter().enumerate() {
        assert_eq!(req.body.len(), 8 * 512, "attempt {}", n + 1);
        assert_eq!(req.body, pattern(8 * 512), "attempt {}", n + 1);
    }
    assert_eq!(
        hook.count(|k| matches!(k, EventKind::RetryAttempt { attempt: 2, .. })),
        1
    );
    assert_eq!(hook.count(|k| *k == EventKind::NotReplayable), 0);
}

#[tokio::test]
async fn a_streamed_body_over_the_cap_is_sent_once_whole_and_its_503_returned() {
    let upstream = Upstream::new(&[(503, None), (503, None), (503, None)]);
    let server = upstream.start().await;
    let hook = RecordingHook::new();

    // 4 KiB streamed against a 1 KiB cap: it outgrows the cap while it is being sent.
    let (status, _) = post(&server, &hook, 1024, 8).await;

    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let received = upstream.received();
    assert_eq!(received.len(), 1, "sent once, never retried");
    assert_eq!(received[0].body, pattern(8 * 512), "and sent whole");
    assert_eq!(hook.count(|k| *k == EventKind::NotReplayable), 1);
    assert_eq!(
        hook.count(|k| matches!(k, EventKind::RetryAttempt { .. })),
        0
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_from_a_429_and_a_503_is_what_the_retries_wait() {
    let upstream = Upstream::new(&[(429, Some("1")), (503, Some("1"))]);
    let server = upstream.start().await;
    let hook = RecordingHook::new();
    let retry = RetryLayer::builder()
        .max_attempts(3)
        // Far from one second, so that a wait of one second can only be the server's.
        .backoff(Backoff::constant(Duration::from_millis(10)))
        .classify(HttpClassifier::new())
        .replay(HttpReplay)
        .hook(hook.clone())
        .build()
        .unwrap();
    let client = ServiceBuilder::new()
        .layer(ReplayBodyLayer::new())
        .layer(retry)
        .service(support::client::<ReplayBody<Empty<Bytes>>>());

    let req = http::Request::get(server.url("/quota"))
        .body(Empty::new())
        .unwrap();
    let res = client.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let attempts: Vec<_> = hook
        .kinds()
        .into_iter()
        .filter_map(|k| match k {
            EventKind::RetryAttempt {
                attempt,
                delay,
                reason,
            } => Some((attempt, delay, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    for (n, (attempt, delay, reason)) in attempts.into_iter().enumerate() {
        assert_eq!(attempt, n as u32 + 2);
        assert_eq!(reason.kind, FailureKind::Overloaded);
        assert_eq!(reason.retry_after, Some(Duration::from_secs(1)));
        assert_eq!(
            delay,
            Duration::from_secs(1),
            "the server's wait, not the backoff's"
        );
    }
    // On the paused clock, each retry reached the server a full second after the answer
    // that asked for it.
    let received = upstream.received();
    assert_eq!(received.len(), 3);
    for pair in received.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_secs(1));
    }
}

//! Soak: 64 concurrent callers for a while against two hyper upstreams on 127.0.0.1, through
//! a fallback for breaker rejections around the standard HTTP client stack (total timeout →
//! retry with a budget → breaker → per-attempt timeout) around seeded chaos (errors, latency
//! past the per-attempt timeout, and an outage in the middle) around a hyper-util client.
//!
//! Checked and printed:
//! - every request is accounted for: each ends as a success, a fallback or an error, and none
//!   is cut off by the outer timeout below, so successes + fallbacks + errors = sent;
//! - the outage opened the breaker and the fallback answered, so those paths ran;
//! - no request outlives its total timeout: each is wrapped in an outer timeout slightly
//!   longer, and none of those fires;
//! - resident memory (`/proc/self/statm`) stays flat after the warm-up: less than 20 MiB of
//!   growth between the end of the warm-up and the end;
//! - tokio's count of alive tasks returns to its baseline once the client is dropped.
//!
//! `soak_short` runs in the default `cargo test` (30 s); `soak_long` runs for
//! `BULWARK_SOAK_SECS` seconds (default 600) with `cargo test -p bulwark-integration --test
//! soak -- --ignored --nocapture`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bulwark_breaker::BreakerLayer;
use bulwark_chaos::{ChaosLayer, Latency};
use bulwark_fallback::FallbackLayer;
use bulwark_http::ReplayBody;
use bulwark_policy::{Backoff, BoxError, BreakerState, Event, EventKind, FailureKind, Hook};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_bulwark::preset;

const CONCURRENCY: usize = 64;
const TOTAL_TIMEOUT: Duration = Duration::from_secs(2);
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(300);
/// The outer timeout every request is wrapped in: a hit means a request hung past its total
/// timeout.
const OUTER_TIMEOUT: Duration = Duration::from_millis(2_500);
const MIB: f64 = 1024.0 * 1024.0;

/// An upstream on 127.0.0.1 that answers every request with `200 ok`, one task per
/// connection, and nothing kept per connection once it closes.
async fn upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|_req| async {
                    Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"ok"))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// Reads the whole body, so that the per-attempt timeout covers it.
async fn collect_body(
    res: http::Response<hyper::body::Incoming>,
) -> Result<http::Response<Bytes>, BoxError> {
    let (parts, body) = res.into_parts();
    match body.collect().await {
        Ok(collected) => Ok(http::Response::from_parts(parts, collected.to_bytes())),
        Err(e) => Err(Box::new(e)),
    }
}

/// What the fallback answers while the breaker rejects: a 203 the tally recognises.
fn fallback_response(_: BoxError) -> http::Response<Bytes> {
    http::Response::builder()
        .status(203)
        .body(Bytes::from_static(b"fallback"))
        .unwrap()
}

/// Resident memory in bytes, from `/proc/self/statm` (pages of 4 KiB).
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Counts the events the figures need, in constant memory.
#[derive(Default)]
struct Counts {
    retries: AtomicU64,
    rejected: AtomicU64,
    opened: AtomicU64,
}

impl Hook for Counts {
    fn on_event(&self, event: &Event<'_>) {
        let counter = match event.kind() {
            EventKind::RetryAttempt { .. } => &self.retries,
            EventKind::BreakerRejected { .. } => &self.rejected,
            EventKind::BreakerTransition {
                to: BreakerState::Open,
                ..
            } => &self.opened,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    ok: AtomicU64,
    fallback: AtomicU64,
    error: AtomicU64,
    outer_timeout: AtomicU64,
}

async fn soak(duration: Duration) {
    let warm_up = (duration / 4).min(Duration::from_secs(30));
    let addrs = [upstream().await, upstream().await];
    // Let the accept loops start before counting tasks.
    tokio::task::yield_now().await;
    let tasks_before = Handle::current().metrics().num_alive_tasks();

    let counts = Arc::new(Counts::default());
    let chaos = ChaosLayer::builder()
        .seed(2024)
        .name("upstream")
        .error_rate(0.05)
        .latency_rate(0.1)
        .latency(Latency::uniform(
            Duration::from_millis(1),
            Duration::from_millis(400),
        ))
        // Dark for a tenth of the run, after the warm-up: the breaker opens and the fallback
        // answers.
        .outage(
            warm_up + duration / 4,
            warm_up + duration / 4 + duration / 10,
        )
        .build()
        .unwrap();
    let stack = preset::standard_http_client()
        .total_timeout(TOTAL_TIMEOUT)
        .attempt_timeout(ATTEMPT_TIMEOUT)
        .max_attempts(3)
        .backoff(
            Backoff::exponential(Duration::from_millis(5)).max_delay(Duration::from_millis(50)),
        )
        .breaker(
            BreakerLayer::builder()
                .no_consecutive_failures()
                .failure_rate(0.5)
                .count_window(100)
                .min_calls(50)
                .open_for(Backoff::constant(Duration::from_millis(500))),
        )
        .hook(counts.clone())
        .seed(1)
        .build()
        .unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Empty<Bytes>>>();
    // The client reads the whole body inside the per-attempt timeout.
    let inner = ServiceBuilder::new()
        .and_then(collect_body)
        .map_err(BoxError::from)
        .service(client);
    let fallback = FallbackLayer::from_error(fallback_response).when(FailureKind::Rejected);
    let svc = fallback.layer(stack.layer(chaos.layer(inner)));

    let tally = Arc::new(Tally::default());
    let start = Instant::now();
    // The callers run as futures of this task rather than spawned tasks: a spawned future
    // must be `Send`, which rustc cannot yet prove for this stack's boxed errors.
    let workers = futures_util::future::join_all((0..CONCURRENCY).map(|i| {
        let (mut svc, tally) = (svc.clone(), tally.clone());
        let uri: http::Uri = format!("http://{}/item/{i}", addrs[i % 2]).parse().unwrap();
        async move {
            while start.elapsed() < duration {
                tally.sent.fetch_add(1, Ordering::Relaxed);
                let req = http::Request::get(uri.clone()).body(Empty::new()).unwrap();
                let call = async {
                    let ready = svc.ready().await?;
                    ready.call(req).await
                };
                let counter = match tokio::time::timeout(OUTER_TIMEOUT, call).await {
                    Err(_) => &tally.outer_timeout,
                    Ok(Ok(res)) if res.status() == 203 => &tally.fallback,
                    Ok(Ok(res)) if res.status() == 200 => &tally.ok,
                    Ok(_) => &tally.error,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                // A caller that was answered by the fallback comes back a little later, as a
                // real one would, rather than spinning on instant answers.
                if std::ptr::eq(counter, &tally.fallback) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }));
    let sampler = async {
        tokio::time::sleep(warm_up).await;
        let rss_warm = rss();
        let mut rss_peak = rss_warm;
        while start.elapsed() < duration {
            tokio::time::sleep(Duration::from_millis(500)).await;
            rss_peak = rss_peak.max(rss());
        }
        (rss_warm, rss_peak)
    };
    let (_, (rss_warm, rss_peak)) = tokio::join!(workers, sampler);
    let elapsed = start.elapsed();
    let rss_end = rss();

    // Drop every client and let the connections close.
    drop(svc);
    let tasks_end_of_run = Handle::current().metrics().num_alive_tasks();
    let wait = Instant::now();
    let mut tasks_after = tasks_end_of_run;
    while tasks_after != tasks_before && wait.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        tasks_after = Handle::current().metrics().num_alive_tasks();
    }

    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let (sent, ok, fallback, error, hung) = (
        get(&tally.sent),
        get(&tally.ok),
        get(&tally.fallback),
        get(&tally.error),
        get(&tally.outer_timeout),
    );
    let stats = chaos.handle().stats();
    eprintln!(
        "soak {:.1}s at concurrency {CONCURRENCY}: sent {sent} ({:.0}/s), ok {ok}, fallback \
         {fallback}, error {error}, hung past the total timeout {hung}; retries {}, breaker \
         opened {} times, rejected {}; chaos injected {} faults in {} calls; RSS after warm-up \
         {:.1} MiB, peak {:.1} MiB, end {:.1} MiB (growth {:+.2} MiB); alive tasks before \
         {tasks_before}, at the end of the run {tasks_end_of_run}, after the client closed \
         {tasks_after}",
        elapsed.as_secs_f64(),
        sent as f64 / elapsed.as_secs_f64(),
        get(&counts.retries),
        get(&counts.opened),
        get(&counts.rejected),
        stats.injected(),
        stats.calls,
        rss_warm as f64 / MIB,
        rss_peak as f64 / MIB,
        rss_end as f64 / MIB,
        (rss_end as f64 - rss_warm as f64) / MIB,
    );
    assert!(sent > 0);
    // Each request sent is counted once as it ends: answered, by the fallback, with an error,
    // or cut off by the outer timeout. With none cut off, every request was answered by the
    // stack (ok, fallback or error) within its total timeout.
    assert_eq!(hung, 0, "no request outlived its total timeout");
    assert!(ok > 0, "the upstreams answered");
    assert!(
        get(&counts.opened) > 0 && fallback > 0,
        "the outage opened the breaker and the fallback answered, so those paths ran"
    );
    assert!(
        rss_end < rss_warm + 20 * 1024 * 1024,
        "resident memory grew by {:.1} MiB after the warm-up",
        (rss_end as f64 - rss_warm as f64) / MIB
    );
    assert_eq!(
        tasks_after, tasks_before,
        "every task the run started has ended"
    );
}

#[tokio::test]
async fn soak_short() {
    soak(Duration::from_secs(30)).await;
}

#[tokio::test]
#[ignore = "long: BULWARK_SOAK_SECS seconds (default 600); run with --ignored --nocapture"]
async fn soak_long() {
    let secs = std::env::var("BULWARK_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    soak(Duration::from_secs(secs)).await;
}

//! bulwark's decisions as Prometheus metrics, on a `/metrics` endpoint.
//!
//! ```sh
//! cargo run --example prometheus_metrics
//! ```
//!
//! One `MetricsHook` (feature `metrics`) reports every layer's decisions to the `metrics`
//! facade, and metrics-exporter-prometheus renders them. An axum server, inside
//! `preset::standard_http_server()`, has two routes whose handlers call in-process upstreams
//! through `preset::standard_client()`:
//!
//! - `/price/{id}` calls an upstream that fails one call in three: the retries hide it;
//! - `/stock/{id}` calls an upstream that is down: its breaker opens, and then rejects.
//!
//! The program sends some traffic to itself, then scrapes its own `/metrics` and prints the
//! `bulwark_*` series: retry attempts, breaker calls by outcome, the breaker state gauge,
//! rejections, call durations. Then it exits.

// An example reports what happened on standard output.
#![allow(clippy::print_stdout)]

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tower::{service_fn, Layer, ServiceExt};
use tower_bulwark::policy::hook::MetricsHook;
use tower_bulwark::prelude::*;
use tower_bulwark::preset::{StandardClientLayer, StandardClientService};

/// An in-process upstream: fails the calls for which `fails(call number)` is true.
///
/// Its error is a concrete type, `io::Error`: with `BoxError` itself as the innermost error,
/// rustc cannot yet prove an axum handler's future `Send` (tower's own `Timeout` has the same
/// trouble); see the `preset` module docs.
fn upstream(
    fails: fn(u64) -> bool,
) -> impl tower::Service<u32, Response = String, Error = io::Error, Future: Send>
       + Clone
       + Send
       + Sync
       + 'static {
    let calls = Arc::new(AtomicU64::new(0));
    service_fn(move |id: u32| {
        let failed = fails(calls.fetch_add(1, Ordering::Relaxed));
        async move {
            if failed {
                Err(io::Error::other("upstream failed"))
            } else {
                Ok(format!("item {id}"))
            }
        }
    })
}

fn client(
    name: &'static str,
) -> Result<StandardClientLayer<ErrorsAsFailures, IgnoreDeadline>, BoxError> {
    Ok(preset::standard_client()
        .total_timeout(Duration::from_secs(2))
        .attempt_timeout(Duration::from_millis(500))
        .backoff(Backoff::constant(Duration::from_millis(5)))
        .consecutive_failures(5)
        .deadline(IgnoreDeadline)
        .name(name)
        .hook(MetricsHook::new())
        .build()?)
}

type Upstream = StandardClientService<
    tower::util::BoxCloneSyncService<u32, String, io::Error>,
    ErrorsAsFailures,
    IgnoreDeadline,
>;

#[derive(Clone)]
struct App {
    prices: Upstream,
    stock: Upstream,
    metrics: PrometheusHandle,
}

async fn call(svc: Upstream, id: u32) -> (StatusCode, String) {
    match svc.oneshot(id).await {
        Ok(body) => (StatusCode::OK, body),
        Err(err) if err.is::<Rejected>() => (StatusCode::SERVICE_UNAVAILABLE, err.to_string()),
        Err(err) => (StatusCode::BAD_GATEWAY, err.to_string()),
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let metrics = PrometheusBuilder::new().install_recorder()?;

    // The upstreams are plain tower services of an `impl Service` type, which a struct field
    // cannot name; boxed, they have a type `App` can spell out (`Upstream`).
    let flaky = tower::util::BoxCloneSyncService::new(upstream(|n| n % 3 == 0));
    let down = tower::util::BoxCloneSyncService::new(upstream(|_| true));
    let app = App {
        prices: client("prices")?.layer(flaky),
        stock: client("stock")?.layer(down),
        metrics,
    };
    let router = Router::new()
        .route(
            "/price/{id}",
            get(|State(app): State<App>, Path(id): Path<u32>| call(app.prices, id)),
        )
        .route(
            "/stock/{id}",
            get(|State(app): State<App>, Path(id): Path<u32>| call(app.stock, id)),
        )
        .route(
            "/metrics",
            get(|State(app): State<App>| async move { app.metrics.render() }),
        )
        .layer(
            preset::standard_http_server()
                .hook(MetricsHook::new())
                .build()?,
        )
        .with_state(app);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router).await {
            eprintln!("server stopped: {err}");
        }
    });

    // Some traffic: 30 prices, 10 stock requests.
    let user: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut statuses = std::collections::BTreeMap::<String, u32>::new();
    for path in (1..=30)
        .map(|i| format!("/price/{i}"))
        .chain((1..=10).map(|i| format!("/stock/{i}")))
    {
        let res = user.get(format!("http://{addr}{path}").parse()?).await?;
        let route = path.split('/').nth(1).unwrap_or_default();
        *statuses
            .entry(format!("{route} {}", res.status().as_u16()))
            .or_default() += 1;
    }
    println!("responses: {statuses:?}\n");

    // Scrape our own /metrics, as Prometheus would.
    let res = user.get(format!("http://{addr}/metrics").parse()?).await?;
    let body = res.into_body().collect().await?.to_bytes();
    println!("GET /metrics (the bulwark_ series):");
    for line in String::from_utf8_lossy(&body).lines() {
        // Of the duration summaries, the median and the 99th percentile are enough here.
        let other_quantile = line.contains("quantile=")
            && !line.contains("quantile=\"0.5\"")
            && !line.contains("quantile=\"0.99\"");
        if line.starts_with("bulwark_") && !other_quantile {
            println!("  {line}");
        }
    }
    Ok(())
}

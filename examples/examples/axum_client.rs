//! An axum server whose handlers call a flaky upstream through bulwark's standard HTTP client.
//!
//! ```sh
//! cargo run --example axum_client
//! ```
//!
//! Everything runs in this process, on 127.0.0.1:
//!
//! - the **upstream**, an axum server with two routes: `/price/{id}` answers 503 to every
//!   third request, and `/stock/{id}` is down, answering 500 to all;
//! - the **frontend**, an axum server inside `preset::standard_http_server()`, whose handlers
//!   call the upstream through a hyper-util client inside `preset::standard_http_client()`:
//!   the HTTP classifier, retries within a budget, a breaker, a total and a per-attempt
//!   timeout. One stack per upstream route, so each has a breaker of its own;
//! - a plain hyper-util client that sends a few requests to the frontend, prints what came
//!   back, and then the retries and breaker transitions the hook saw. Then it exits.

// An example reports what happened on standard output.
#![allow(clippy::print_stdout)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{ServiceBuilder, ServiceExt};
use tower_bulwark::policy::{Event, EventKind, FnHook};
use tower_bulwark::prelude::*;

type UpstreamClient = Client<HttpConnector, ReplayBody<Empty<Bytes>>>;

/// The layer `preset::standard_http_client()` builds.
type HttpClientLayer = preset::StandardClientLayer<
    HttpClassifier,
    ExtensionsDeadline,
    HttpReplay,
    IdempotentMethods,
    ReplayBodyLayer,
>;

/// The client stack around hyper-util's client: the layers' own services, nested, unboxed.
type Upstream = <HttpClientLayer as tower::Layer<UpstreamClient>>::Service;

/// The upstream: `/price/{id}` fails one request in three, `/stock/{id}` fails them all.
fn upstream() -> Router {
    let calls = Arc::new(AtomicU64::new(0));
    Router::new()
        .route(
            "/price/{id}",
            get(move |Path(id): Path<u32>| {
                let n = calls.fetch_add(1, Ordering::Relaxed);
                async move {
                    if n % 3 == 0 {
                        (StatusCode::SERVICE_UNAVAILABLE, String::from("busy"))
                    } else {
                        (StatusCode::OK, format!("{}.{:02}", 10 + id, id * 7 % 100))
                    }
                }
            }),
        )
        .route(
            "/stock/{id}",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "database down") }),
        )
}

/// What the hook saw, across both client stacks.
#[derive(Default)]
struct Seen {
    retries: AtomicU64,
    budget_exhausted: AtomicU64,
    rejected: AtomicU64,
}

/// The frontend's state: one client stack per upstream route, and the upstream's address.
#[derive(Clone)]
struct Frontend {
    prices: Upstream,
    stock: Upstream,
    upstream: std::net::SocketAddr,
}

/// One stack around the shared hyper-util client, with a breaker of its own.
fn client_stack(
    name: &'static str,
    client: UpstreamClient,
    hook: Arc<Seen>,
) -> Result<Upstream, BoxError> {
    let layer = preset::standard_http_client()
        .total_timeout(Duration::from_secs(2))
        .attempt_timeout(Duration::from_millis(500))
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(20)))
        .consecutive_failures(3)
        .open_for(Backoff::constant(Duration::from_secs(30)))
        .name(name)
        .hook(FnHook::new(move |event: &Event<'_>| match event.kind() {
            EventKind::RetryAttempt {
                attempt, reason, ..
            } => {
                hook.retries.fetch_add(1, Ordering::Relaxed);
                println!(
                    "    [{}] retry, attempt {attempt}: {:?}",
                    event.name(),
                    reason.kind
                );
            }
            EventKind::BudgetExhausted { .. } => {
                hook.budget_exhausted.fetch_add(1, Ordering::Relaxed);
            }
            EventKind::BreakerRejected { .. } => {
                hook.rejected.fetch_add(1, Ordering::Relaxed);
            }
            EventKind::BreakerTransition { from, to, .. } => {
                println!("    [{}] breaker {from:?} -> {to:?}", event.name());
            }
            _ => {}
        }))
        .build()?;
    Ok(ServiceBuilder::new().layer(layer).service(client))
}

/// Calls the upstream's `path` through `client`, and says what happened.
async fn call_upstream(client: Upstream, url: String) -> (StatusCode, String) {
    let req = http::Request::get(url)
        .body(Empty::new())
        .expect("a valid request");
    match client.oneshot(req).await {
        Ok(res) => {
            let status = res.status();
            let body = match res.into_body().collect().await {
                Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
                Err(err) => format!("(body failed: {err})"),
            };
            if status.is_success() {
                (StatusCode::OK, body)
            } else {
                (
                    StatusCode::BAD_GATEWAY,
                    format!("upstream said {status}: {body}"),
                )
            }
        }
        Err(err) if err.is::<Rejected>() => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not called: {err}"),
        ),
        Err(err) if err.is::<Elapsed>() => (StatusCode::GATEWAY_TIMEOUT, err.to_string()),
        Err(err) => (StatusCode::BAD_GATEWAY, err.to_string()),
    }
}

fn frontend(state: Frontend) -> Result<Router, BoxError> {
    let server = preset::standard_http_server()
        .timeout(Duration::from_secs(5))
        .max_in_flight(256)
        .build()?;
    Ok(Router::new()
        .route(
            "/quote/{id}",
            get(
                |State(s): State<Frontend>, Path(id): Path<u32>| async move {
                    call_upstream(s.prices, format!("http://{}/price/{id}", s.upstream)).await
                },
            ),
        )
        .route(
            "/stock/{id}",
            get(
                |State(s): State<Frontend>, Path(id): Path<u32>| async move {
                    call_upstream(s.stock, format!("http://{}/stock/{id}", s.upstream)).await
                },
            ),
        )
        .layer(server)
        .with_state(state))
}

async fn serve(app: Router) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            eprintln!("server on {addr} stopped: {err}");
        }
    });
    Ok(addr)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let upstream_addr = serve(upstream()).await?;

    let client: UpstreamClient = Client::builder(TokioExecutor::new()).build_http();
    let seen = Arc::new(Seen::default());
    let state = Frontend {
        prices: client_stack("prices", client.clone(), seen.clone())?,
        stock: client_stack("stock", client, seen.clone())?,
        upstream: upstream_addr,
    };
    let frontend_addr = serve(frontend(state)?).await?;
    println!("upstream on {upstream_addr}, frontend on {frontend_addr}\n");

    // A plain client, as a user of the frontend would have.
    let user: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let paths = (1..=6)
        .map(|id| format!("/quote/{id}"))
        .chain((1..=3).map(|id| format!("/stock/{id}")));
    for path in paths {
        let started = Instant::now();
        let uri = format!("http://{frontend_addr}{path}");
        let res = tokio::time::timeout(Duration::from_secs(5), user.get(uri.parse()?)).await??;
        let status = res.status();
        let body = res.into_body().collect().await?.to_bytes();
        println!(
            "GET {path:<10} -> {} in {:>4} ms: {}",
            status.as_u16(),
            started.elapsed().as_millis(),
            String::from_utf8_lossy(&body)
        );
    }

    println!(
        "\nretries: {}, refused by the budget: {}, calls the open breaker refused: {}",
        seen.retries.load(Ordering::Relaxed),
        seen.budget_exhausted.load(Ordering::Relaxed),
        seen.rejected.load(Ordering::Relaxed),
    );
    Ok(())
}

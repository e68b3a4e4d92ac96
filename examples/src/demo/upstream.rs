//! The upstream: three hyper replicas on 127.0.0.1, each behind its own [`ChaosLayer`].
//!
//! Each replica answers `200 ok` unless its chaos layer says otherwise. In front of the chaos
//! layer a counter records every request that reaches the replica, and whether the replica
//! was dark when it arrived, in 100 ms buckets, so the report can tell how much traffic went
//! to a replica that could not answer it.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bulwark_chaos::{ChaosHandle, ChaosLayer, Latency};
use bulwark_policy::{BoxError, ConfigError};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tower::util::MapRequestLayer;
use tower::{service_fn, ServiceBuilder};

use super::Scenario;

/// How many 100 ms buckets a replica's counter has per second.
const BUCKETS_PER_SECOND: u64 = 10;

/// The fault a replica suffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Fails every request during the scenario's dark window: the server drops the connection
    /// without an answer, as a crashed or partitioned process would.
    Dark,
    /// Answers `500` to a share of requests.
    Errors,
    /// Delays a share of requests by hundreds of milliseconds.
    Spikes,
}

impl Fault {
    /// The three faults, one per replica, in replica order.
    pub const ALL: [Fault; 3] = [Fault::Dark, Fault::Errors, Fault::Spikes];

    /// The replica's name: `dark`, `5xx` or `slow`.
    ///
    /// ```
    /// use bulwark_examples::demo::Fault;
    /// assert_eq!(Fault::Errors.name(), "5xx");
    /// ```
    pub const fn name(&self) -> &'static str {
        match self {
            Fault::Dark => "dark",
            Fault::Errors => "5xx",
            Fault::Spikes => "slow",
        }
    }
}

/// What one replica saw: every request that reached it, and those that arrived while it was
/// dark, in 100 ms buckets from the scenario's start.
#[derive(Debug)]
pub(crate) struct ReplicaCounts {
    calls: AtomicU64,
    dark: Vec<AtomicU64>,
}

impl ReplicaCounts {
    fn new(duration: Duration) -> Self {
        // A spare second of buckets for requests that arrive as the run drains.
        let buckets =
            (duration.as_millis() as u64 * BUCKETS_PER_SECOND).div_ceil(1000) + BUCKETS_PER_SECOND;
        Self {
            calls: AtomicU64::new(0),
            dark: (0..buckets).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn record(&self, start: Instant, dark: bool) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if dark {
            let bucket = start.elapsed().as_millis() as u64 * BUCKETS_PER_SECOND / 1000;
            let last = self.dark.len() - 1;
            self.dark[(bucket as usize).min(last)].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Requests that arrived while the replica was dark, by 100 ms bucket.
    pub(crate) fn dark_buckets(&self) -> Vec<u64> {
        self.dark
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .collect()
    }
}

/// One running replica.
#[derive(Debug)]
pub(crate) struct Replica {
    pub(crate) fault: Fault,
    pub(crate) addr: SocketAddr,
    pub(crate) counts: Arc<ReplicaCounts>,
    server: JoinHandle<()>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A set of three replicas, one per [`Fault`], whose chaos is seeded and scheduled from
/// `start`. Two sets built from the same scenario and start inject the same faults: the
/// k-th request to a replica gets the same fate in both.
#[derive(Debug)]
pub(crate) struct Upstream {
    pub(crate) replicas: Vec<Replica>,
}

impl Upstream {
    pub(crate) async fn start(scenario: &Scenario, start: Instant) -> Result<Self, BoxError> {
        let mut replicas = Vec::with_capacity(Fault::ALL.len());
        for (i, fault) in Fault::ALL.into_iter().enumerate() {
            let seed = scenario.seed.wrapping_add(i as u64);
            let chaos = chaos_for(fault, scenario, seed, start)?;
            replicas.push(Replica::start(fault, chaos, scenario.duration, start).await?);
        }
        Ok(Self { replicas })
    }

    /// Calls that reached any replica.
    pub(crate) fn calls(&self) -> u64 {
        self.replicas.iter().map(|r| r.counts.calls()).sum()
    }

    /// The replica that goes dark.
    pub(crate) fn dark(&self) -> Option<&Replica> {
        self.replicas.iter().find(|r| r.fault == Fault::Dark)
    }
}

type Body = Full<Bytes>;

fn answer(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut res = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *res.status_mut() = status;
    res
}

fn chaos_for(
    fault: Fault,
    scenario: &Scenario,
    seed: u64,
    start: Instant,
) -> Result<ChaosLayer<Response<Body>, io::Error>, ConfigError> {
    // A concrete error type: hyper's server wants one it can box for any lifetime.
    let builder = ChaosLayer::builder()
        .error_with(|| io::Error::new(io::ErrorKind::ConnectionReset, "replica is dark"))
        .seed(seed)
        .name(fault.name())
        .start_at(start);
    match fault {
        Fault::Dark => builder.outage(scenario.dark_from(), scenario.dark_until()),
        Fault::Errors => builder
            .response_rate(scenario.error_rate)
            .response_with(|| answer(StatusCode::INTERNAL_SERVER_ERROR, "internal error")),
        Fault::Spikes => builder
            .latency_rate(scenario.spike_rate)
            .latency(Latency::uniform(scenario.spike_min, scenario.spike_max)),
    }
    .build()
}

impl Replica {
    async fn start(
        fault: Fault,
        chaos: ChaosLayer<Response<Body>, io::Error>,
        duration: Duration,
        start: Instant,
    ) -> Result<Self, BoxError> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(ReplicaCounts::new(duration));
        let handle: ChaosHandle = chaos.handle();
        let counter = counts.clone();
        let service = ServiceBuilder::new()
            .layer(MapRequestLayer::new(move |req: Request<Incoming>| {
                counter.record(start, handle.in_outage());
                req
            }))
            .layer(chaos)
            .service(service_fn(|_req: Request<Incoming>| async {
                Ok::<_, io::Error>(answer(StatusCode::OK, "ok"))
            }));
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(service.clone());
                tokio::spawn(async move {
                    // A connection ends with an error whenever the dark replica drops it.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            fault,
            addr,
            counts,
            server,
        })
    }
}

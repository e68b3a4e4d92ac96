//! The two clients: a bare hyper-util client, and the same client inside bulwark's stack.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bulwark_balance::{
    BalanceLayer, ExtensionsLastEndpoint, LastEndpointLayer, OutlierDetection, PeakEwma, Strategy,
};
use bulwark_breaker::BreakerLayer;
use bulwark_fallback::FallbackLayer;
use bulwark_http::HttpClassifier;
use bulwark_policy::{Backoff, BoxError, Jitter};
use bulwark_retry::RetryLayer;
use bulwark_timeout::TimeoutLayer;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceBuilder};

use super::tally::Tally;
use super::upstream::Upstream;

/// The request both clients send.
pub(crate) type DemoRequest = Request<Empty<Bytes>>;
/// The answer both clients return, its body read in full.
pub(crate) type DemoResponse = Response<Bytes>;

/// The header the fallback puts on the answer it makes up, so it is not counted as a success.
pub(crate) const FALLBACK_HEADER: &str = "x-demo-fallback";

/// How long the whole call may take, retries included.
pub(crate) const TOTAL_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one attempt may take; shorter than every latency spike.
pub(crate) const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(200);
/// How many failures in a row open a replica's breaker and eject it from the balancer. Seven
/// in a row is a dark replica, not bad luck: the `5xx` replica, failing one call in five,
/// fails seven in a row about once in 80 000 calls.
pub(crate) const FAILURES_IN_A_ROW: u32 = 7;

/// One replica, reached through a hyper-util client: the leaf of both clients.
#[derive(Clone)]
pub(crate) struct Endpoint {
    client: Client<HttpConnector, Empty<Bytes>>,
    uri: Uri,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint").field("uri", &self.uri).finish()
    }
}

impl Service<DemoRequest> for Endpoint {
    type Response = DemoResponse;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<DemoResponse, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // hyper-util's client queues on its own pool; it is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: DemoRequest) -> Self::Future {
        *req.uri_mut() = self.uri.clone();
        let client = self.client.clone();
        Box::pin(async move {
            let res = client.request(req).await?;
            let (parts, body) = res.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok(Response::from_parts(parts, body))
        })
    }
}

/// One endpoint per replica of `upstream`, sharing one connection pool.
fn endpoints(upstream: &Upstream) -> Vec<(&'static str, Endpoint)> {
    let client = Client::builder(TokioExecutor::new()).build_http();
    upstream
        .replicas
        .iter()
        .map(|replica| {
            let uri = format!("http://{}/", replica.addr)
                .parse()
                .expect("a socket address makes a valid URI");
            let endpoint = Endpoint {
                client: client.clone(),
                uri,
            };
            (replica.fault.name(), endpoint)
        })
        .collect()
}

/// The baseline: round robin over the replicas, one attempt, no timeout.
#[derive(Clone, Debug)]
pub(crate) struct BareClient {
    endpoints: Arc<[Endpoint]>,
    next: Arc<AtomicUsize>,
}

impl BareClient {
    pub(crate) fn new(upstream: &Upstream) -> Self {
        Self {
            endpoints: endpoints(upstream).into_iter().map(|(_, e)| e).collect(),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub(crate) fn send(
        &self,
        req: DemoRequest,
    ) -> impl Future<Output = Result<DemoResponse, BoxError>> + Send + 'static {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.endpoints.len();
        self.endpoints[i].clone().call(req)
    }
}

/// The answer the fallback gives when every attempt failed: a stand-in marked with
/// [`FALLBACK_HEADER`], the way a service would serve a cached or default value.
fn stale_answer() -> DemoResponse {
    let mut res = Response::new(Bytes::from_static(b"stale"));
    res.headers_mut()
        .insert(FALLBACK_HEADER, HeaderValue::from_static("stale"));
    res
}

/// bulwark's client stack over the replicas of `upstream`, outermost first:
///
/// 1. a fallback that answers a marked stand-in when all else failed;
/// 2. a total timeout of [`TOTAL_TIMEOUT`], which also puts a deadline on the request;
/// 3. a [`LastEndpointLayer`], so that a retry goes to another replica;
/// 4. retry: 3 attempts, exponential backoff from 10 ms with full jitter, the default budget
///    (20% of requests plus 10 per second);
/// 5. a balancer: power of two choices by peak-EWMA latency, ejecting a replica after
///    [`FAILURES_IN_A_ROW`] failures in a row for 2 s (longer each time in a row), at most
///    one of the three;
/// 6. per replica, a breaker in backpressure mode, opening after [`FAILURES_IN_A_ROW`]
///    failures in a row for 1 s, then 2, 4, up to 8 s while its probes fail: an open
///    breaker makes its replica unready, so the balancer routes around it;
/// 7. per replica, a per-attempt timeout of [`ATTEMPT_TIMEOUT`].
///
/// Every layer classifies with [`HttpClassifier`]: a 5xx, a timeout and a dropped connection
/// are failures. Every layer reports to `tally`.
pub(crate) fn bulwark_client(
    upstream: &Upstream,
    seed: u64,
    tally: Arc<Tally>,
) -> Result<
    impl Service<
            DemoRequest,
            Response = DemoResponse,
            Error = BoxError,
            Future = impl Future<Output = Result<DemoResponse, BoxError>> + Send + 'static,
        > + Clone
        + Send
        + 'static,
    BoxError,
> {
    let classify = HttpClassifier::new();
    let attempt_timeout = TimeoutLayer::new(ATTEMPT_TIMEOUT)
        .name("attempt")
        .hook(tally.clone());
    let mut replicas = Vec::new();
    for (name, endpoint) in endpoints(upstream) {
        // One breaker per replica: a `BreakerLayer` value is one breaker, shared by every
        // service it wraps, so each replica gets a layer of its own.
        let breaker = BreakerLayer::builder()
            .name(name)
            .classify(classify)
            .consecutive_failures(FAILURES_IN_A_ROW)
            .open_for(
                Backoff::exponential(Duration::from_secs(1)).max_delay(Duration::from_secs(8)),
            )
            .backpressure()
            .seed(seed)
            .hook(tally.clone())
            .build()?;
        let service = ServiceBuilder::new()
            .layer(breaker)
            .layer(attempt_timeout.clone())
            .service(endpoint);
        replicas.push((name, service));
    }
    let outliers = OutlierDetection::builder()
        .consecutive_failures(Some(FAILURES_IN_A_ROW))
        .base_ejection_time(Duration::from_secs(2))
        .max_ejection_time(Duration::from_secs(30))
        .max_ejection_percent(34.0)
        .build()?;
    let balance = BalanceLayer::builder()
        .strategy(Strategy::P2cPeakEwma(PeakEwma::default()))
        .outlier_detection(outliers)
        .classify(classify)
        .last_endpoint(ExtensionsLastEndpoint)
        .seed(seed)
        .name("replicas")
        .hook(tally.clone())
        .build()
        .endpoints(replicas);
    let retry = RetryLayer::builder()
        .classify(classify)
        .backoff(
            Backoff::exponential(Duration::from_millis(10))
                .max_delay(Duration::from_millis(100))
                .jitter(Jitter::Full),
        )
        .seed(seed)
        .hook(tally.clone())
        .build()?;
    Ok(ServiceBuilder::new()
        .layer(
            FallbackLayer::value(stale_answer())
                .classify(classify)
                .hook(tally.clone()),
        )
        .layer(
            TimeoutLayer::new(TOTAL_TIMEOUT)
                .name("total")
                .hook(tally.clone()),
        )
        .layer(LastEndpointLayer::new())
        .layer(retry)
        .service(balance))
}

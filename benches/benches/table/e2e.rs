//! End to end: a hyper server and a hyper client over loopback (HTTP/1.1, keep-alive), in one
//! process. The client sends through a bare service and through bulwark's standard client
//! stack in alternating rounds of equal length, from the same number of concurrent tasks, and
//! counts the requests answered.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bulwark_policy::BoxError;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tower::{service_fn, Service, ServiceExt};

/// Concurrent client tasks, each sending one request at a time on its own keep-alive
/// connection.
const TASKS: usize = 8;
/// One round, bare or stacked.
const ROUND: Duration = Duration::from_millis(300);
/// Rounds of each, alternating, times the scale.
const ROUNDS: usize = 25;

pub(crate) struct Outcome {
    bare: Vec<f64>,
    stack: Vec<f64>,
}

impl Outcome {
    /// The standard stack's throughput over the bare client's: the median of the ratios of
    /// rounds run back to back, which a burst of load from elsewhere on the machine moves
    /// less than it moves a sum.
    pub(crate) fn ratio(&self) -> f64 {
        let mut ratios: Vec<f64> = self
            .bare
            .iter()
            .zip(&self.stack)
            .map(|(b, s)| s / b)
            .collect();
        crate::median(&mut ratios)
    }

    /// The same, summed over all rounds.
    fn total_ratio(&self) -> f64 {
        self.stack.iter().sum::<f64>() / self.bare.iter().sum::<f64>()
    }

    pub(crate) fn print(&self) {
        let per_round: Vec<String> = self
            .bare
            .iter()
            .zip(&self.stack)
            .map(|(b, s)| format!("{:.3}", s / b))
            .collect();
        println!(
            "| client | requests/s (mean of {} rounds of {} ms) |",
            self.bare.len(),
            ROUND.as_millis()
        );
        println!("| --- | ---: |");
        println!("| bare hyper client | {:.0} |", mean(&self.bare));
        println!(
            "| through bulwark's standard stack | {:.0} |",
            mean(&self.stack)
        );
        println!();
        println!(
            "Standard stack ÷ bare: **{:.3}**, the median of {} pairs of rounds run back to back \
             ({:.3} summed over all rounds; pair by pair: {}).\n",
            self.ratio(),
            per_round.len(),
            self.total_ratio(),
            per_round.join(", ")
        );
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

async fn hello(_: hyper::Request<Incoming>) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    Ok(hyper::Response::new(Full::new(Bytes::from_static(
        b"hello",
    ))))
}

/// Serves `hello` on 127.0.0.1, on a port the system picks; returns the address.
async fn serve() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("the bound address");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), hyper::service::service_fn(hello))
                    .await;
            });
        }
    });
    addr
}

/// Sends requests through clones of `svc` from [`TASKS`] tasks for one round; returns the
/// requests answered per second.
async fn round<S>(svc: &S) -> f64
where
    S: Service<u64, Response = usize, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send,
{
    let answered = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let until = start + ROUND;
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let mut svc = svc.clone();
            let answered = answered.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < until {
                    let len = svc
                        .ready()
                        .await
                        .expect("ready")
                        .call(n)
                        .await
                        .expect("an answer");
                    assert_eq!(len, 5);
                    n += 1;
                }
                answered.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("a client task");
    }
    answered.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

pub(crate) fn run(scale: usize) -> Outcome {
    eprintln!("measuring hyper over loopback");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let addr = serve().await;
        let uri: hyper::Uri = format!("http://{addr}/").parse().expect("a uri");
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        // The innermost service, the same for both: a GET on a kept-alive connection, with the
        // whole body read. Requests are `u64`s, as in the other cases; the stack sees only them.
        let bare = service_fn(move |_: u64| {
            let client = client.clone();
            let req = hyper::Request::get(uri.clone())
                .body(Empty::<Bytes>::new())
                .expect("a request");
            async move {
                let res = client.request(req).await?;
                let body = res.into_body().collect().await?.to_bytes();
                Ok::<usize, BoxError>(body.len())
            }
        });
        let stack = crate::standard_bulwark(bare.clone());
        // Warm up: open every connection, fill the pool.
        round(&bare).await;
        round(&stack).await;
        let mut outcome = Outcome {
            bare: Vec::new(),
            stack: Vec::new(),
        };
        for i in 0..ROUNDS * scale {
            // Alternate which goes first, so neither always follows the other.
            if i % 2 == 0 {
                outcome.bare.push(round(&bare).await);
                outcome.stack.push(round(&stack).await);
            } else {
                outcome.stack.push(round(&stack).await);
                outcome.bare.push(round(&bare).await);
            }
        }
        outcome
    })
}

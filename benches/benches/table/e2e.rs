//! End to end: a hyper server and a hyper client over loopback (HTTP/1.1, keep-alive), in one
//! process. The client sends through a bare service, through bulwark's standard client stack
//! and through tower's nearest stack, in rounds of equal length that take turns (the order
//! rotating), from the same number of concurrent tasks, and counts the requests answered.

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

/// Concurrent client tasks, each sending one request at a time over the client's pool of
/// kept-alive connections.
const TASKS: usize = 8;
/// One round of one client.
const ROUND: Duration = Duration::from_millis(100);
/// Rounds of each client, times the scale.
const ROUNDS: usize = 60;

/// The clients, in the order of [`Outcome::arms`].
const NAMES: [&str; 3] = [
    "bare hyper client",
    "through bulwark's standard stack",
    "through tower's timeout, retry, timeout",
];

/// One client's rounds.
#[derive(Default)]
struct Arm {
    /// Requests per second, round by round.
    rates: Vec<f64>,
    /// This process's CPU time (both ends: client and server), in clock ticks, and the
    /// requests answered, over all rounds.
    ticks: u64,
    requests: u64,
}

impl Arm {
    fn cpu_per_request(&self) -> f64 {
        self.ticks as f64 / self.requests as f64
    }
}

pub(crate) struct Outcome {
    arms: [Arm; 3],
}

/// This process's user and system CPU time so far, in clock ticks, from `/proc/self/stat`
/// (0 where there is none: the CPU figures then read as not measured).
fn cpu_ticks() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // The fields after the command name, which is in parentheses and may hold spaces.
            let rest = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15 of the whole line, 12 and 13 here.
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

impl Outcome {
    /// Arm `i`'s throughput over the bare client's: the median of the ratios of rounds run
    /// back to back, which a burst of load from elsewhere on the machine moves less than it
    /// moves a sum.
    fn ratio_of(&self, i: usize) -> f64 {
        let mut ratios: Vec<f64> = self.arms[0]
            .rates
            .iter()
            .zip(&self.arms[i].rates)
            .map(|(b, s)| s / b)
            .collect();
        crate::median(&mut ratios)
    }

    /// bulwark's standard stack's throughput over the bare client's.
    pub(crate) fn ratio(&self) -> f64 {
        self.ratio_of(1)
    }

    pub(crate) fn print(&self) {
        println!(
            "| client | requests/s (mean of {} rounds of {} ms) | ÷ bare (median of rounds side by side) | CPU ticks per 1000 requests (client and server) | ÷ bare, by CPU per request |",
            self.arms[0].rates.len(),
            ROUND.as_millis()
        );
        println!("| --- | ---: | ---: | ---: | ---: |");
        for (i, arm) in self.arms.iter().enumerate() {
            println!(
                "| {} | {:.0} | {:.3} | {:.1} | {:.3} |",
                NAMES[i],
                arm.rates.iter().sum::<f64>() / arm.rates.len() as f64,
                self.ratio_of(i),
                arm.cpu_per_request() * 1000.0,
                self.arms[0].cpu_per_request() / arm.cpu_per_request(),
            );
        }
        println!();
    }
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

/// Sends requests through clones of `svc` from [`TASKS`] tasks for one round, and adds the
/// round to `arm`.
async fn round<S>(svc: &S, arm: &mut Arm)
where
    S: Service<u64, Response = usize, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send,
{
    let answered = Arc::new(AtomicU64::new(0));
    let ticks = cpu_ticks();
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
    let elapsed = start.elapsed().as_secs_f64();
    let requests = answered.load(Ordering::Relaxed);
    arm.rates.push(requests as f64 / elapsed);
    arm.ticks += cpu_ticks() - ticks;
    arm.requests += requests;
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
        // The innermost service, the same for all: a GET on a kept-alive connection, with the
        // whole body read. Requests are `u64`s, as in the other cases; the stacks see only them.
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
        let ours = crate::standard_bulwark(bare.clone());
        let tower = bulwark_benches::peers::tower_stack(bare.clone());
        let mut arms: [Arm; 3] = Default::default();
        // Warm up: open the connections, fill the pool; then forget it.
        round(&bare, &mut arms[0]).await;
        round(&ours, &mut arms[1]).await;
        round(&tower, &mut arms[2]).await;
        let mut arms: [Arm; 3] = Default::default();
        for i in 0..ROUNDS * scale {
            // Rotate which goes first, so none always follows another.
            for k in 0..3 {
                match (i + k) % 3 {
                    0 => round(&bare, &mut arms[0]).await,
                    1 => round(&ours, &mut arms[1]).await,
                    _ => round(&tower, &mut arms[2]).await,
                }
            }
        }
        Outcome { arms }
    })
}

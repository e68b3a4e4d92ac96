//! The demo: an outage on loopback, with and without bulwark, side by side.
//!
//! `cargo run --release --example demo` runs [`run`] with the default [`Scenario`] and prints
//! its [`Report`]. Everything happens on 127.0.0.1, on ports the system picks.
//!
//! # The upstream
//!
//! Three hyper replicas, each behind a seeded [`ChaosLayer`](bulwark_chaos::ChaosLayer):
//!
//! - **`dark`** fails every request from 30% to 70% of the run: the server drops the
//!   connection without answering, as a crashed or partitioned process would;
//! - **`5xx`** answers `500` to 20% of requests;
//! - **`slow`** delays 10% of requests by 300 ms to 1.2 s.
//!
//! # Two clients, two identical upstreams
//!
//! Each client gets a set of three replicas of its own, built with the same seeds and the same
//! schedule, started at the same instant. Chaos decides each call's fate by the call's number
//! at the replica, so the k-th request to a replica meets the same fault in both sets. Shared
//! replicas would mix the two clients' calls in one numbering, and the dark replica's counter
//! could not tell whose request reached it.
//!
//! Both clients send a `GET /` on the same schedule: `rps` requests a second each, open loop,
//! every request spawned when it is due whether or not earlier ones have finished.
//!
//! - **bare**: a hyper-util client, round robin over its replicas, one attempt, no timeout.
//! - **bulwark**: the same hyper-util client inside bulwark's standard client stack — a
//!   fallback, a total timeout (1 s), retry with a budget, then a balancer over the replicas
//!   with outlier ejection, and inside it, per replica, a breaker and a per-attempt timeout
//!   (200 ms). It is composed by hand in the order of `tower_bulwark::preset::standard_client`
//!   (total timeout → retry → breaker → per-attempt timeout), because that preset has one
//!   breaker for whatever it wraps, and here the breakers go inside the balancer.
//!
//! # Why a breaker per replica, inside the balancer
//!
//! A breaker outside the balancer would judge the three replicas as one: the dark replica's
//! failures would trip it for everyone, or be diluted by the healthy replicas' successes. A
//! keyed breaker cannot help there either: the key, the replica, is only known once the
//! balancer has picked. So each replica gets its own breaker, in backpressure mode: while it
//! is open its replica is not ready, and the balancer picks another, the same way it skips an
//! ejected one. Both react to 7 failures in a row. Ejection ends after 2 s (then 4, 6, ...);
//! the breaker stays open for 1 s, then 2, 4, up to 8 s, and once that time is up lets a
//! single probe through: a failed probe opens it again for longer, a successful one closes
//! it. So once the dark replica is found out, it gets one request every few seconds until
//! it answers again.
//!
//! # What it reports
//!
//! A [`Report`] with, for each client, the share of requests answered with a 2xx by a
//! replica, p50, p99 and max latency measured from when each request was due, the requests
//! that reached the dark replica while it was dark (counted by the replica itself), and for
//! bulwark the retries, fallbacks, ejections and breaker transitions its hook counted.
//! [`Report::table`] prints it side by side; [`Report::write_chart`] draws success rate and
//! p99 latency per second as an SVG, with the dark window shaded.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bulwark_policy::{BoxError, BreakerState};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tower::ServiceExt;

mod chart;
mod client;
mod load;
mod report;
mod tally;
mod upstream;

pub use load::{Answer, Record};
pub use report::{ClientReport, Report, Second};
pub use tally::{EventCounts, Transition};
pub use upstream::Fault;

use client::{BareClient, DemoRequest};
use load::Recorder;
use report::percent;
use tally::Tally;
use upstream::Upstream;

/// How long after the last request is due the run waits for stragglers.
const DRAIN: Duration = Duration::from_secs(3);
/// How long the replicas get to start listening before the first request is due.
const WARM_UP: Duration = Duration::from_millis(300);

/// What the demo runs: the load, and the faults of the replicas.
///
/// ```
/// use std::time::Duration;
/// use bulwark_examples::demo::Scenario;
///
/// let scenario = Scenario::new(7, Duration::from_secs(20), 300);
/// assert_eq!(scenario.dark_from(), Duration::from_secs(6));
/// assert_eq!(scenario.dark_until(), Duration::from_secs(14));
/// assert!(Scenario::new(7, Duration::ZERO, 300).validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Seeds the chaos of every replica and every random choice of bulwark's layers.
    pub seed: u64,
    /// How long requests are sent.
    pub duration: Duration,
    /// Requests per second, for each client.
    pub rps: u32,
    /// The share of requests the `5xx` replica answers with `500`.
    pub error_rate: f64,
    /// The share of requests the `slow` replica delays.
    pub spike_rate: f64,
    /// The shortest latency spike.
    pub spike_min: Duration,
    /// The longest latency spike.
    pub spike_max: Duration,
    /// Whether to keep a status line up to date on stderr while it runs.
    pub live: bool,
}

impl Default for Scenario {
    /// Seed 1, 20 s at 300 requests a second, with a live status line.
    fn default() -> Self {
        Self::new(1, Duration::from_secs(20), 300)
    }
}

impl Scenario {
    /// `duration` at `rps` requests a second under `seed`, with the default faults: the dark
    /// replica dark from 30% to 70% of the run, 20% of `500`s, and 10% of requests delayed by
    /// 300 ms to 1.2 s. The status line is on.
    ///
    /// ```
    /// use std::time::Duration;
    /// let scenario = bulwark_examples::demo::Scenario::new(1, Duration::from_secs(4), 100);
    /// assert_eq!(scenario.requests(), 400);
    /// ```
    pub fn new(seed: u64, duration: Duration, rps: u32) -> Self {
        Self {
            seed,
            duration,
            rps,
            error_rate: 0.2,
            spike_rate: 0.1,
            spike_min: Duration::from_millis(300),
            spike_max: Duration::from_millis(1200),
            live: true,
        }
    }

    /// When the dark replica goes dark: at 30% of the run.
    ///
    /// ```
    /// use std::time::Duration;
    /// let scenario = bulwark_examples::demo::Scenario::new(1, Duration::from_secs(10), 100);
    /// assert_eq!(scenario.dark_from(), Duration::from_secs(3));
    /// ```
    pub fn dark_from(&self) -> Duration {
        self.duration.mul_f64(0.3)
    }

    /// When it comes back: at 70% of the run.
    ///
    /// ```
    /// use std::time::Duration;
    /// let scenario = bulwark_examples::demo::Scenario::new(1, Duration::from_secs(10), 100);
    /// assert_eq!(scenario.dark_until(), Duration::from_secs(7));
    /// ```
    pub fn dark_until(&self) -> Duration {
        self.duration.mul_f64(0.7)
    }

    /// How many requests each client sends.
    ///
    /// ```
    /// use std::time::Duration;
    /// let scenario = bulwark_examples::demo::Scenario::new(1, Duration::from_millis(1500), 10);
    /// assert_eq!(scenario.requests(), 15);
    /// ```
    pub fn requests(&self) -> u64 {
        (self.duration.as_secs_f64() * f64::from(self.rps)).round() as u64
    }

    /// Refuses a run that would send nothing or could not be drawn: a duration under a
    /// second or over an hour, a rate of 0 or over 10 000, rates outside 0..=1, spikes with
    /// `min > max`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_examples::demo::Scenario;
    /// assert!(Scenario::new(1, Duration::from_secs(5), 0).validate().is_err());
    /// assert!(Scenario::new(1, Duration::from_secs(5), 50).validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<(), BoxError> {
        if self.duration < Duration::from_secs(1) || self.duration > Duration::from_secs(3600) {
            return Err(format!(
                "the duration must be from 1 s to 1 h, got {:?}",
                self.duration
            )
            .into());
        }
        if self.rps == 0 || self.rps > 10_000 {
            return Err(format!("the rate must be from 1 to 10000 rps, got {}", self.rps).into());
        }
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("spike_rate", self.spike_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be from 0 to 1, got {rate}").into());
            }
        }
        if self.spike_min > self.spike_max {
            return Err("spike_min must not be greater than spike_max".into());
        }
        Ok(())
    }
}

/// The run in one line: its length, rate and seed, and when the dark replica is dark.
///
/// ```
/// use std::time::Duration;
/// let scenario = bulwark_examples::demo::Scenario::new(7, Duration::from_secs(20), 300);
/// assert_eq!(
///     scenario.to_string(),
///     "20 s at 300 rps per client, seed 7; replica `dark` dark from 6.0 s to 14.0 s"
/// );
/// ```
impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} s at {} rps per client, seed {}; replica `dark` dark from {:.1} s to {:.1} s",
            self.duration.as_secs_f64(),
            self.rps,
            self.seed,
            self.dark_from().as_secs_f64(),
            self.dark_until().as_secs_f64(),
        )
    }
}

/// Runs `scenario` and reports what each client got.
///
/// It starts six replicas (three per client), sends `scenario.rps` requests a second through
/// each client for `scenario.duration`, waits up to 3 s for the last answers, and stops the
/// replicas. It needs a multi-threaded tokio runtime with the time and IO drivers.
///
/// ```no_run
/// use std::time::Duration;
/// use bulwark_examples::demo::{run, Scenario};
///
/// # #[tokio::main] async fn main() -> Result<(), bulwark_policy::BoxError> {
/// let mut scenario = Scenario::new(7, Duration::from_secs(4), 100);
/// scenario.live = false;
/// let report = run(&scenario).await?;
/// assert!(report.bulwark.success_rate() > report.bare.success_rate());
/// # Ok(()) }
/// ```
pub async fn run(scenario: &Scenario) -> Result<Report, BoxError> {
    scenario.validate()?;
    let start = Instant::now() + WARM_UP;
    let bare_upstream = Upstream::start(scenario, start).await?;
    let bulwark_upstream = Upstream::start(scenario, start).await?;
    let tally = Arc::new(Tally::new(start));
    let bare = BareClient::new(&bare_upstream);
    let bulwark = client::bulwark_client(&bulwark_upstream, scenario.seed, tally.clone())?;

    let requests = scenario.requests();
    let bare_log = Arc::new(Recorder::new(start, requests as usize));
    let bulwark_log = Arc::new(Recorder::new(start, requests as usize));
    let status = scenario.live.then(|| {
        tokio::spawn(status_line(
            start,
            scenario.duration,
            bare_log.clone(),
            bulwark_log.clone(),
            tally.clone(),
        ))
    });

    let period_nanos = 1e9 / f64::from(scenario.rps);
    let mut tasks: Vec<JoinHandle<()>> = Vec::with_capacity(2 * requests as usize);
    for i in 0..requests {
        let due = start + Duration::from_nanos((i as f64 * period_nanos) as u64);
        tokio::time::sleep_until(due).await;
        let send = bare.send(request());
        tasks.push(tokio::spawn(bare_log.track(due, send)));
        let send = bulwark.clone().oneshot(request());
        tasks.push(tokio::spawn(bulwark_log.track(due, send)));
    }
    let drained = Instant::now() + DRAIN;
    for task in &mut tasks {
        if tokio::time::timeout_at(drained, &mut *task).await.is_err() {
            task.abort();
        }
    }
    if let Some(status) = status {
        status.abort();
        eprintln!();
    }

    Ok(Report::new(
        scenario.clone(),
        (bare_log.records(), &bare_upstream),
        (bulwark_log.records(), &bulwark_upstream),
        tally.counts(),
    ))
}

fn request() -> DemoRequest {
    http::Request::new(http_body_util::Empty::new())
}

fn short(state: BreakerState) -> &'static str {
    match state {
        BreakerState::Closed => "closed",
        BreakerState::Open => "OPEN",
        BreakerState::HalfOpen => "half-open",
        other => other.as_str(),
    }
}

/// Rewrites one line on stderr four times a second: time, requests, each client's success
/// rate so far, and each replica's breaker and ejection in the bulwark client.
async fn status_line(
    start: Instant,
    duration: Duration,
    bare: Arc<Recorder>,
    bulwark: Arc<Recorder>,
    tally: Arc<Tally>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let elapsed = Instant::now().saturating_duration_since(start);
        let rate = |(done, ok): (u64, u64)| percent(ok, done);
        let breakers = Fault::ALL
            .iter()
            .zip(tally.replica_states())
            .map(|(fault, (state, ejected))| {
                let ejected = if ejected { ",ejected" } else { "" };
                format!("{}:{}{ejected}", fault.name(), short(state))
            })
            .collect::<Vec<_>>()
            .join(" ");
        eprint!(
            "\r{:>5.1}/{:.0}s {:>6} req  ok: bare {:>5.1}% bulwark {:>5.1}%  breakers {}   ",
            elapsed.as_secs_f64().min(duration.as_secs_f64()),
            duration.as_secs_f64(),
            bare.progress().0,
            rate(bare.progress()),
            rate(bulwark.progress()),
            breakers,
        );
    }
}

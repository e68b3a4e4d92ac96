//! The whole comparison as one markdown table, in one process:
//!
//! ```sh
//! cargo bench -p bulwark-benches --bench table
//! ```
//!
//! Every layer's success path against a bare `service_fn`, tower's equivalent where there is
//! one, and the peer crates (tower-resilience, failsafe, recloser); the standard client stack;
//! an open breaker's rejection; a retried call under paused time in polls and allocations;
//! one shared breaker and one balancer driven from two threads against one; and hyper over
//! loopback, bare against the standard stack.
//!
//! Times are medians over interleaved rounds: each round runs one batch of every case of a
//! group in turn (the order rotating), so a burst of load from elsewhere on the machine hits
//! all cases alike. Allocations are counted exactly, by this binary's global allocator, over
//! a separate run of calls after the timed ones.
//!
//! `BULWARK_TABLE_SCALE` (default 1) multiplies the number of rounds.
//!
//! `BULWARK_TABLE_PROFILE=<text>` times nothing: it runs each case whose "group: case" name
//! contains the text for a fixed number of calls inside the function `profiled`, for
//! callgrind; `benches/instructions.sh` uses it to print every case's instructions per call,
//! which a loaded machine does not move.

mod e2e;

use std::convert::Infallible;
use std::future::{ready as done, Future, Ready};
use std::hint::black_box;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bulwark_balance::BalanceLayer;
use bulwark_benches::{bare, count_window, once, peers};
use bulwark_breaker::BreakerLayer;
use bulwark_fallback::FallbackLayer;
use bulwark_policy::{Backoff, BoxError, IgnoreDeadline};
use bulwark_retry::RetryLayer;
use bulwark_timeout::TimeoutLayer;
use tower::{service_fn, Layer, Service, ServiceExt};

bulwark_test_support::counting_allocator!();

/// How long one timed batch of one case lasts, at least: short, so that most batches run
/// within one time slice of a loaded machine's scheduler and the median is one of them.
const BATCH: Duration = Duration::from_micros(200);
/// Interleaved rounds per group, times `BULWARK_TABLE_SCALE`.
const ROUNDS: usize = 301;
/// Calls whose allocations are counted, per case.
const ALLOC_CALLS: u64 = 1000;

// ---------------------------------------------------------------------------------------------
// Calling a service
// ---------------------------------------------------------------------------------------------

/// Polls `fut` until it is ready, spinning: for futures that may wait on a lock another thread
/// holds for a moment.
fn spin<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    for spins in 0u32.. {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        // On a loaded machine the holder may be descheduled: let it run.
        if spins % 64 == 63 {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
    unreachable!("a future polled forever")
}

/// One call that may have to wait for a lock held by another thread.
fn once_spin<S: Service<Req>, Req>(svc: &mut S, req: Req) -> Result<S::Response, S::Error> {
    spin(std::future::poll_fn(|cx| svc.poll_ready(cx)))?;
    spin(svc.call(req))
}

/// The same, with `BoxError` as its error type, as stacks of layers that add errors need.
fn bare_boxed(
) -> impl Service<u64, Response = u64, Error = BoxError, Future = Ready<Result<u64, BoxError>>>
       + Clone
       + Send
       + 'static {
    service_fn(|n: u64| done(Ok::<_, BoxError>(n)))
}

/// A service that fails while `down` is set.
fn switchable(
    down: Arc<AtomicBool>,
) -> impl Service<u64, Response = u64, Error = BoxError, Future = Ready<Result<u64, BoxError>>>
       + Clone
       + Send
       + 'static {
    service_fn(move |n: u64| {
        done(if down.load(Ordering::Relaxed) {
            Err(BoxError::from("down"))
        } else {
            Ok(n)
        })
    })
}

/// Runs `n` calls of `svc`, each on its own request, through `f`.
fn looped<'a, S, F>(mut svc: S, f: F) -> Runner<'a>
where
    S: 'a,
    F: Fn(&mut S, u64) + 'a,
{
    Box::new(move |n| {
        for i in 0..n {
            f(&mut svc, black_box(i));
        }
    })
}

macro_rules! case {
    ($role:expr, $name:expr, $svc:expr) => {
        Case::new(
            $role,
            $name,
            looped($svc, |s, i| {
                black_box(once(s, i).map_err(|_| ()).expect("the call failed"));
            }),
        )
    };
}

macro_rules! case_err {
    ($role:expr, $name:expr, $svc:expr) => {
        Case::new(
            $role,
            $name,
            looped($svc, |s, i| {
                black_box(
                    once(s, i)
                        .map(|_| ())
                        .expect_err("the call was not rejected"),
                );
            }),
        )
    };
}

// ---------------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------------

type Runner<'a> = Box<dyn FnMut(u64) + 'a>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    /// The floor: the bare service.
    Bare,
    /// bulwark; a primary row is the one the peers below it are compared with.
    Ours { primary: bool },
    /// tower or a peer crate.
    Peer,
    /// A reference point, not a layer: what one known operation costs.
    Reference,
}

struct Case<'a> {
    role: Role,
    name: String,
    run: Runner<'a>,
}

impl<'a> Case<'a> {
    fn new(role: Role, name: impl Into<String>, run: Runner<'a>) -> Self {
        Self {
            role,
            name: name.into(),
            run,
        }
    }
}

/// What a group measured for one case.
#[derive(Clone, Debug)]
struct Row {
    role: Role,
    name: String,
    ns: f64,
    allocs: f64,
}

#[derive(Clone, Debug)]
struct Group {
    title: String,
    rows: Vec<Row>,
}

impl Group {
    fn get(&self, name: &str) -> &Row {
        self.rows
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no row {name} in {}", self.title))
    }

    fn bare(&self) -> f64 {
        self.rows
            .iter()
            .find(|r| r.role == Role::Bare)
            .map_or(0.0, |r| r.ns)
    }

    fn overhead(&self, name: &str) -> f64 {
        self.get(name).ns - self.bare()
    }
}

fn scale() -> usize {
    std::env::var("BULWARK_TABLE_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// How many calls of `run` take at least [`BATCH`].
fn calibrate(run: &mut Runner<'_>) -> u64 {
    let mut n = 1u64;
    loop {
        let start = Instant::now();
        run(n);
        if start.elapsed() >= BATCH || n >= 1 << 30 {
            return n;
        }
        n *= 2;
    }
}

/// The calls that [`profiled`] makes, for callgrind.
const PROFILED_CALLS: u64 = 100_000;

/// Runs `PROFILED_CALLS` calls of one case and nothing else, for
/// `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='table::profiled'`: the
/// instructions it counts, divided by `PROFILED_CALLS`, are the case's instructions per call.
/// `benches/instructions.sh` reads the count from the `profiling` line `measure` prints.
#[inline(never)]
fn profiled(run: &mut Runner<'_>) {
    run(PROFILED_CALLS);
}

fn measure(title: &str, mut cases: Vec<Case<'_>>) -> Group {
    if let Ok(only) = std::env::var("BULWARK_TABLE_PROFILE") {
        let full = |c: &Case<'_>| format!("{title}: {}", c.name);
        for case in cases.iter_mut().filter(|c| full(c).contains(only.as_str())) {
            eprintln!("profiling {PROFILED_CALLS} {title}: {}", case.name);
            (case.run)(1000);
            profiled(&mut case.run);
        }
        return Group {
            title: title.to_owned(),
            rows: Vec::new(),
        };
    }
    eprintln!("measuring {title}");
    let sizes: Vec<u64> = cases.iter_mut().map(|c| calibrate(&mut c.run)).collect();
    let rounds = ROUNDS * scale();
    let mut samples = vec![Vec::with_capacity(rounds); cases.len()];
    for round in 0..rounds {
        for k in 0..cases.len() {
            let i = (k + round) % cases.len();
            let start = Instant::now();
            (cases[i].run)(sizes[i]);
            samples[i].push(start.elapsed().as_nanos() as f64 / sizes[i] as f64);
        }
    }
    let rows = cases
        .iter_mut()
        .zip(samples.iter_mut())
        .map(|(case, samples)| {
            (case.run)(16);
            let allocs = bulwark_test_support::allocations(|| (case.run)(ALLOC_CALLS));
            Row {
                role: case.role,
                name: case.name.clone(),
                ns: median(samples),
                allocs: allocs as f64 / ALLOC_CALLS as f64,
            }
        })
        .collect();
    Group {
        title: title.to_owned(),
        rows,
    }
}

// ---------------------------------------------------------------------------------------------
// The groups
// ---------------------------------------------------------------------------------------------

const OURS: Role = Role::Ours { primary: true };
const OURS_ALSO: Role = Role::Ours { primary: false };
const PEER: Role = Role::Peer;
const BARE: Role = Role::Bare;
const REFERENCE: Role = Role::Reference;

// The names of the cases the targets read, the same where the cases are built.
const BREAKER: &str = "bulwark BreakerLayer (default)";
const TR_BREAKER: &str = "tower-resilience CircuitBreaker";
const RECLOSER: &str = "recloser (AsyncRecloser)";
const RETRY: &str = "bulwark RetryLayer (default budget)";
const RETRY_NO_BUDGET: &str = "bulwark RetryLayer (no budget)";
const TOWER_RETRY: &str = "tower::retry (TpsBudget)";
const TOWER_RETRY_NO_BUDGET: &str = "tower::retry (no budget)";
const TOWER_RETRY_BACKOFF: &str = "tower::retry (ExponentialBackoff, no budget)";
const TIMEOUT: &str = "bulwark TimeoutLayer";
const TOWER_TIMEOUT: &str = "tower::timeout";
const STANDARD: &str = "bulwark preset::standard_client + FallbackLayer";

/// The bare service, cloning and dropping an `Arc` on each call: what one shared reference
/// count taken per call costs (two atomic read-modify-writes).
fn bare_cloning_an_arc(
) -> impl Service<u64, Response = u64, Error = Infallible, Future = Ready<Result<u64, Infallible>>>
       + Clone
       + Send
       + 'static {
    let shared = Arc::new(0u64);
    service_fn(move |n: u64| {
        let held = Arc::clone(&shared);
        done(Ok::<_, Infallible>(n + *black_box(held)))
    })
}

fn breaker_closed() -> Group {
    let tr = tower_resilience::circuitbreaker::CircuitBreakerLayer::builder()
        .build()
        .expect("a valid breaker");
    measure(
        "breaker, closed",
        vec![
            case!(BARE, "bare service_fn", bare()),
            case!(
                REFERENCE,
                "reference: bare service_fn cloning an Arc",
                bare_cloning_an_arc()
            ),
            case!(
                OURS,
                BREAKER,
                BreakerLayer::builder().build().unwrap().layer(bare())
            ),
            case!(
                OURS_ALSO,
                "bulwark BreakerLayer (count window 100)",
                count_window().layer(bare())
            ),
            case!(PEER, TR_BREAKER, tr.layer(bare())),
            case!(
                PEER,
                "failsafe (futures API)",
                peers::Failsafe::default_config(bare())
            ),
            case!(PEER, RECLOSER, peers::Recloser::default_config(bare())),
        ],
    )
}

fn breaker_open() -> Group {
    // Each breaker trips on a service that is down, and is then measured rejecting.
    let down = Arc::new(AtomicBool::new(true));
    let mut ours = BreakerLayer::builder()
        .consecutive_failures(1)
        .open_for(Backoff::constant(Duration::from_secs(3600)))
        .build()
        .unwrap()
        .layer(switchable(down.clone()));
    for i in 0..4 {
        let _ = once(&mut ours, i);
    }
    let peers::OpenPeers {
        resilience: tr,
        failsafe: fs,
        recloser: rc,
    } = peers::open_peers(switchable(down.clone()));
    // From now on the service answers: a call that got through would succeed.
    down.store(false, Ordering::Relaxed);
    assert!(once(&mut ours, 0).is_err());
    measure(
        "breaker, open: a rejected call",
        vec![
            case!(BARE, "bare service_fn (a success)", bare()),
            case_err!(OURS, "bulwark BreakerLayer", ours),
            case_err!(PEER, TR_BREAKER, tr),
            case_err!(PEER, "failsafe (futures API)", fs),
            case_err!(PEER, RECLOSER, rc),
        ],
    )
}

fn retry_success() -> Group {
    let budget = Arc::new(tower::retry::budget::TpsBudget::new(
        Duration::from_secs(10),
        10,
        0.2,
    ));
    let tr = tower_resilience::retry::RetryLayer::<u64, u64, Infallible>::builder()
        .max_attempts(3)
        .build();
    measure(
        "retry, success on the first attempt",
        vec![
            case!(BARE, "bare service_fn", bare()),
            case!(
                OURS,
                RETRY,
                RetryLayer::builder()
                    .deadline(IgnoreDeadline)
                    .build()
                    .unwrap()
                    .layer(bare())
            ),
            case!(
                PEER,
                TOWER_RETRY,
                tower::retry::Retry::new(peers::TowerAttempts::new(3, Some(budget)), bare())
            ),
            case!(
                OURS,
                RETRY_NO_BUDGET,
                RetryLayer::builder()
                    .deadline(IgnoreDeadline)
                    .no_budget()
                    .build()
                    .unwrap()
                    .layer(bare())
            ),
            case!(
                PEER,
                TOWER_RETRY_NO_BUDGET,
                tower::retry::Retry::new(peers::TowerAttempts::new(3, None), bare())
            ),
            case!(
                PEER,
                TOWER_RETRY_BACKOFF,
                tower::retry::Retry::new(peers::TowerBackoff::new(3), bare())
            ),
            case!(PEER, "tower-resilience Retry", tr.layer(bare())),
        ],
    )
}

fn timeout_success() -> Group {
    let tr = tower_resilience::timelimiter::TimeLimiterLayer::builder()
        .timeout_duration(Duration::from_secs(1))
        .build();
    measure(
        "timeout, an answer in time",
        vec![
            case!(BARE, "bare service_fn", bare()),
            case!(
                OURS,
                TIMEOUT,
                TimeoutLayer::new(Duration::from_secs(1))
                    .deadline(IgnoreDeadline)
                    .layer(bare())
            ),
            case!(
                PEER,
                TOWER_TIMEOUT,
                tower::timeout::TimeoutLayer::new(Duration::from_secs(1)).layer(bare())
            ),
            case!(PEER, "tower-resilience TimeLimiter", tr.layer(bare())),
        ],
    )
}

fn fallback_success() -> Group {
    let tr = tower_resilience::fallback::FallbackLayer::<u64, u64, BoxError>::value(0);
    measure(
        "fallback, the primary answers",
        vec![
            case!(BARE, "bare service_fn", bare_boxed()),
            case!(
                OURS,
                "bulwark FallbackLayer::value",
                FallbackLayer::value(0u64).layer(bare_boxed())
            ),
            case!(
                PEER,
                "tower-resilience Fallback::value",
                tr.layer(bare_boxed())
            ),
        ],
    )
}

fn endpoint(
    i: u64,
) -> impl Service<u64, Response = u64, Error = Infallible, Future = Ready<Result<u64, Infallible>>>
       + Clone
       + Send
       + 'static {
    service_fn(move |req: u64| done(Ok::<_, Infallible>(req ^ i)))
}

const ENDPOINTS: u64 = 10;

fn bulwark_balance() -> impl Service<u64, Response = u64, Error = BoxError> + Clone + Send + 'static
{
    BalanceLayer::builder()
        .seed(1)
        .build()
        .endpoints((0..ENDPOINTS).map(|i| (i, endpoint(i))))
}

fn balance(rt: &tokio::runtime::Runtime) -> Group {
    let tower_p2c = rt.block_on(async {
        let list = tower::discover::ServiceList::new((0..ENDPOINTS).map(|i| {
            tower::load::PendingRequests::new(
                endpoint(i),
                tower::load::CompleteOnResponse::default(),
            )
        }));
        tower::buffer::Buffer::new(tower::balance::p2c::Balance::new(list), 1024)
    });
    let ours = bulwark_balance();
    measure(
        &format!("balance: pick and call, {ENDPOINTS} ready endpoints"),
        vec![
            case!(BARE, "bare endpoint", endpoint(0)),
            on_rt(
                rt,
                OURS,
                "bulwark p2c, in a runtime's block_on",
                ours.clone(),
            ),
            case!(OURS_ALSO, "bulwark p2c, polled directly", ours),
            on_rt(
                rt,
                PEER,
                "tower p2c behind Buffer, in a runtime's block_on",
                tower_p2c,
            ),
        ],
    )
}

/// A case whose calls each run in `rt.block_on`, as a runtime drives them.
fn on_rt<'a, S>(rt: &'a tokio::runtime::Runtime, role: Role, name: &str, svc: S) -> Case<'a>
where
    S: Service<u64, Response = u64, Error = BoxError> + 'a,
{
    Case::new(
        role,
        name,
        looped(svc, move |s: &mut S, i| {
            black_box(
                rt.block_on(async { ServiceExt::<u64>::ready(s).await?.call(i).await })
                    .expect("the call failed"),
            );
        }),
    )
}

/// A future that is pending once (waking its task at once) and then ready: the shape of an
/// answer that has to wait, as every answer over a network does, without the network.
struct YieldOnce<T> {
    out: Option<T>,
    yielded: bool,
}

impl<T: Unpin> Future for YieldOnce<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if self.yielded {
            Poll::Ready(self.out.take().expect("polled after completion"))
        } else {
            self.yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// The bare service whose answers wait once.
fn waits_once(
) -> impl Service<u64, Response = u64, Error = BoxError, Future = YieldOnce<Result<u64, BoxError>>>
       + Clone
       + Send
       + 'static {
    service_fn(|n: u64| YieldOnce {
        out: Some(Ok::<_, BoxError>(n)),
        yielded: false,
    })
}

/// What a timeout costs when the answer has to wait, so the timer is armed: each call runs in
/// a runtime's `block_on`, the bare service included.
fn waiting(rt: &tokio::runtime::Runtime) -> Group {
    measure(
        "an answer that waits once, in a runtime's block_on",
        vec![
            on_rt(rt, BARE, "bare service_fn", waits_once()),
            on_rt(
                rt,
                OURS,
                TIMEOUT,
                TimeoutLayer::new(Duration::from_secs(1))
                    .deadline(IgnoreDeadline)
                    .layer(waits_once()),
            ),
            on_rt(
                rt,
                PEER,
                TOWER_TIMEOUT,
                tower::timeout::TimeoutLayer::new(Duration::from_secs(1)).layer(waits_once()),
            ),
            on_rt(rt, OURS, STANDARD, standard_bulwark(waits_once())),
            on_rt(
                rt,
                PEER,
                "tower: timeout, retry (TpsBudget), timeout",
                peers::tower_stack(waits_once()),
            ),
        ],
    )
}

fn standard_stack() -> Group {
    measure(
        "standard client stack (fallback, total timeout, retry, breaker, attempt timeout)",
        vec![
            case!(BARE, "bare service_fn", bare_boxed()),
            case!(OURS, STANDARD, standard_bulwark(bare_boxed())),
            case!(
                PEER,
                "tower: timeout, retry (TpsBudget), timeout",
                peers::tower_stack(bare_boxed())
            ),
            case!(
                PEER,
                "tower-resilience: the same five",
                peers::resilience_stack(bare_boxed())
            ),
        ],
    )
}

/// bulwark's standard client stack, `tower_bulwark::preset::standard_client()`, outermost
/// first: a fallback value (the preset's outer layer), a total timeout of 2 s, a retry with
/// its default budget, a breaker, and a per-attempt timeout of 500 ms.
pub(crate) fn standard_bulwark<S, T>(
    inner: S,
) -> impl Service<
    u64,
    Response = T,
    Error = BoxError,
    Future = impl Future<Output = Result<T, BoxError>> + Send,
> + Clone
       + Send
       + 'static
where
    S: Service<u64, Response = T, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send,
    T: Clone + Default + Send + Sync + 'static,
{
    tower_bulwark::preset::standard_client()
        .total_timeout(Duration::from_secs(2))
        .attempt_timeout(Duration::from_millis(500))
        .deadline(IgnoreDeadline)
        .outer(FallbackLayer::value(T::default()))
        .build()
        .expect("a valid standard client")
        .layer(inner)
}

// ---------------------------------------------------------------------------------------------
// Two threads against one
// ---------------------------------------------------------------------------------------------

struct Contended {
    name: &'static str,
    one: f64,
    two: f64,
}

/// Runs `calls` calls over `threads` threads, each on its own clone of `svc`; returns calls
/// per microsecond.
fn throughput<S>(svc: &S, threads: u64, calls: u64) -> f64
where
    S: Service<u64> + Clone + Send,
    S::Error: std::fmt::Debug,
{
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let mut svc = svc.clone();
            scope.spawn(move || {
                for n in 0..calls / threads {
                    black_box(once_spin(&mut svc, n).expect("the call failed"));
                }
            });
        }
    });
    calls as f64 / start.elapsed().as_nanos() as f64 * 1000.0
}

fn contended<S>(name: &'static str, svc: S) -> Contended
where
    S: Service<u64> + Clone + Send,
    S::Error: std::fmt::Debug,
{
    eprintln!("measuring two threads against one: {name}");
    const CALLS: u64 = 200_000;
    throughput(&svc, 2, CALLS / 10);
    let mut one = Vec::new();
    let mut two = Vec::new();
    for _ in 0..9 * scale() {
        one.push(throughput(&svc, 1, CALLS));
        two.push(throughput(&svc, 2, CALLS));
    }
    Contended {
        name,
        one: median(&mut one),
        two: median(&mut two),
    }
}

fn contention() -> Vec<Contended> {
    let tr = tower_resilience::circuitbreaker::CircuitBreakerLayer::builder()
        .build()
        .unwrap();
    vec![
        contended("bare service_fn", bare()),
        contended(
            BREAKER,
            BreakerLayer::builder().build().unwrap().layer(bare()),
        ),
        contended(
            "bulwark BreakerLayer (count window 100)",
            count_window().layer(bare()),
        ),
        contended(TR_BREAKER, tr.layer(bare())),
        contended(
            "failsafe (futures API)",
            peers::Failsafe::default_config(bare()),
        ),
        contended(RECLOSER, peers::Recloser::default_config(bare())),
        contended("bulwark p2c balancer, 10 endpoints", bulwark_balance()),
    ]
}

// ---------------------------------------------------------------------------------------------
// A retried call under paused time
// ---------------------------------------------------------------------------------------------

/// Counts the polls of the future it wraps.
struct Polls<'a, F> {
    fut: Pin<&'a mut F>,
    count: &'a AtomicU64,
}

impl<F: Future> Future for Polls<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.fut.as_mut().poll(cx)
    }
}

/// A service whose every odd-numbered call (the 1st, 3rd, ...) fails: each request through a
/// retry fails once and then succeeds.
fn fails_every_other(
    attempts: Arc<AtomicU64>,
) -> impl Service<u64, Response = u64, Error = BoxError, Future = Ready<Result<u64, BoxError>>>
       + Clone
       + Send
       + 'static {
    service_fn(move |n: u64| {
        let k = attempts.fetch_add(1, Ordering::Relaxed);
        done(if k % 2 == 0 {
            Err(BoxError::from("once"))
        } else {
            Ok(n)
        })
    })
}

struct Retried {
    name: &'static str,
    polls: f64,
    allocs: f64,
    attempts: f64,
}

fn retried<S>(name: &'static str, mut svc: S, attempts: &AtomicU64) -> Retried
where
    S: Service<u64, Response = u64>,
    S::Error: std::fmt::Debug,
{
    const CALLS: u64 = 200;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let polls = AtomicU64::new(0);
    let mut one = |i| {
        let fut = pin!(async {
            ServiceExt::<u64>::ready(&mut svc).await?;
            svc.call(i).await
        });
        rt.block_on(Polls { fut, count: &polls })
            .expect("the retried call failed")
    };
    for i in 0..16 {
        one(i);
    }
    polls.store(0, Ordering::Relaxed);
    let before = attempts.load(Ordering::Relaxed);
    let allocs = bulwark_test_support::allocations(|| {
        for i in 0..CALLS {
            black_box(one(i));
        }
    });
    Retried {
        name,
        polls: polls.load(Ordering::Relaxed) as f64 / CALLS as f64,
        allocs: allocs as f64 / CALLS as f64,
        attempts: (attempts.load(Ordering::Relaxed) - before) as f64 / CALLS as f64,
    }
}

fn retried_calls() -> Vec<Retried> {
    let delay = Duration::from_millis(10);
    let a = Arc::new(AtomicU64::new(0));
    let ours = RetryLayer::builder()
        .deadline(IgnoreDeadline)
        .no_budget()
        .backoff(Backoff::constant(delay))
        .build()
        .unwrap()
        .layer(fails_every_other(a.clone()));
    let b = Arc::new(AtomicU64::new(0));
    let tower = tower::retry::Retry::new(
        peers::TowerSleepRetry::new(delay),
        fails_every_other(b.clone()),
    );
    let c = Arc::new(AtomicU64::new(0));
    let tr = tower_resilience::retry::RetryLayer::<u64, u64, BoxError>::builder()
        .max_attempts(3)
        .fixed_backoff(delay)
        .build()
        .layer(fails_every_other(c.clone()));
    vec![
        retried("bulwark RetryLayer (constant 10 ms, no budget)", ours, &a),
        retried("tower::retry (sleep 10 ms, no budget)", tower, &b),
        retried("tower-resilience Retry (fixed 10 ms)", tr, &c),
    ]
}

// ---------------------------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------------------------

fn fmt_ratio(x: f64) -> String {
    if !x.is_finite() || x <= 0.0 {
        "–".to_owned()
    } else if x >= 100.0 {
        format!("{x:.0}×")
    } else if x >= 10.0 {
        format!("{x:.1}×")
    } else {
        format!("{x:.2}×")
    }
}

fn fmt_allocs(a: f64) -> String {
    if a.fract() == 0.0 {
        format!("{a:.0}")
    } else {
        format!("{a:.2}")
    }
}

fn print_group(g: &Group) {
    let bare = g.bare();
    // Each peer is compared with the primary bulwark row above it.
    let mut primary = f64::NAN;
    println!("#### {}\n", g.title);
    println!("| case | ns/call | × bare | ns over bare | bulwark ÷ this | allocs/call |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for r in &g.rows {
        if r.role == OURS {
            primary = r.ns;
        }
        let vs = match r.role {
            Role::Peer => fmt_ratio(primary / r.ns),
            _ => String::new(),
        };
        let over = match r.role {
            Role::Bare => String::new(),
            _ => format!("{:.1}", r.ns - bare),
        };
        println!(
            "| {} | {:.1} | {} | {} | {} | {} |",
            r.name,
            r.ns,
            fmt_ratio(r.ns / bare),
            over,
            vs,
            fmt_allocs(r.allocs)
        );
    }
    println!();
}

struct Target {
    what: &'static str,
    measured: String,
    met: bool,
}

fn main() {
    let started = Instant::now();
    // tower's Timeout and tower-resilience's time limiter make their timers in `call`, which
    // needs a runtime's handle; the balancer comparison runs tower's Buffer on it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _enter = rt.enter();

    let closed = breaker_closed();
    let open = breaker_open();
    let retry = retry_success();
    let timeout = timeout_success();
    let fallback = fallback_success();
    let stack = standard_stack();
    let balance = balance(&rt);
    let waiting = waiting(&rt);
    if std::env::var_os("BULWARK_TABLE_PROFILE").is_some() {
        return;
    }
    let contention = contention();
    let e2e = e2e::run(scale());
    // Last: once a runtime has paused its clock, tokio's `Instant::now` looks for a paused
    // clock on every call in this process, which would slow every timed case after it.
    let retried = retried_calls();

    println!("### Per call, success paths\n");
    for g in [
        &closed, &retry, &timeout, &fallback, &balance, &stack, &waiting,
    ] {
        print_group(g);
    }
    println!("### Failure paths\n");
    print_group(&open);
    println!("#### A call that fails once and succeeds on its retry, under paused time\n");
    println!(
        "Two of each call's allocations are the failing attempt's own error \
         (`BoxError::from(&str)`), the same for every row.\n"
    );
    println!("| case | polls/call | allocs/call | attempts/call |");
    println!("| --- | ---: | ---: | ---: |");
    for r in &retried {
        println!(
            "| {} | {:.2} | {} | {:.2} |",
            r.name,
            r.polls,
            fmt_allocs(r.allocs),
            r.attempts
        );
    }
    println!();
    println!("### Two threads on one shared service against one thread\n");
    println!("| case | 1 thread, calls/µs | 2 threads, calls/µs | 2 ÷ 1 | 2 ÷ 1, over bare's |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let bare_scaling = contention.first().map_or(f64::NAN, |c| c.two / c.one);
    for c in &contention {
        println!(
            "| {} | {:.1} | {:.1} | {} | {} |",
            c.name,
            c.one,
            c.two,
            fmt_ratio(c.two / c.one),
            fmt_ratio(c.two / c.one / bare_scaling)
        );
    }
    println!();
    println!("### End to end: hyper over loopback, HTTP/1.1 keep-alive\n");
    e2e.print();

    // The targets.
    let breaker_over = closed.overhead(BREAKER);
    // Floored for the ratios: an overhead at or under the bare service's is not divided by.
    let breaker_floor = breaker_over.max(0.1);
    let tr_over = closed.overhead(TR_BREAKER);
    let rc_over = closed.overhead(RECLOSER);
    let retry_ours = retry.get(RETRY).ns;
    let retry_tower = retry.get(TOWER_RETRY).ns;
    let retry_ours_nb = retry.get(RETRY_NO_BUDGET).ns;
    let retry_tower_nb = retry.get(TOWER_RETRY_NO_BUDGET).ns;
    let retry_tower_backoff = retry.get(TOWER_RETRY_BACKOFF).ns;
    let timeout_ours = timeout.get(TIMEOUT).ns;
    let timeout_tower = timeout.get(TOWER_TIMEOUT).ns;
    let stack_over = stack.overhead(STANDARD);
    let success_allocs: f64 = [&closed, &retry, &timeout, &fallback, &balance, &stack]
        .iter()
        .flat_map(|g| g.rows.iter())
        .filter(|r| matches!(r.role, Role::Ours { .. }) && !r.name.contains("block_on"))
        .map(|r| r.allocs)
        .sum();
    let breaker_threads = contention
        .iter()
        .find(|c| c.name == BREAKER)
        .map_or(f64::NAN, |c| c.two / c.one);
    let targets = [
        Target {
            what: "breaker closed: ≤10 ns over bare",
            measured: format!("{breaker_over:.1} ns"),
            met: breaker_over <= 10.0,
        },
        Target {
            what: "breaker: two threads on one breaker at least as fast as one",
            measured: format!("{} of one thread's throughput", fmt_ratio(breaker_threads)),
            met: breaker_threads >= 1.0,
        },
        Target {
            what: "breaker closed: overhead ≥10× smaller than tower-resilience's",
            measured: format!("{} smaller", fmt_ratio(tr_over / breaker_floor)),
            met: tr_over / breaker_floor >= 10.0,
        },
        Target {
            what: "breaker closed: no costlier than recloser",
            measured: format!(
                "{:.1} ns vs {:.1} ns per call",
                closed.get(BREAKER).ns,
                closed.get(RECLOSER).ns
            ),
            met: breaker_floor <= rc_over.max(0.1),
        },
        Target {
            what: "retry success path, the default layer: no costlier than tower::retry with TpsBudget",
            measured: format!("{} of tower's time", fmt_ratio(retry_ours / retry_tower)),
            met: retry_ours <= retry_tower,
        },
        Target {
            what: "retry success path without budgets: no costlier than tower::retry's attempt count",
            measured: format!(
                "{} of tower's time ({} of tower's ExponentialBackoff policy)",
                fmt_ratio(retry_ours_nb / retry_tower_nb),
                fmt_ratio(retry_ours_nb / retry_tower_backoff)
            ),
            met: retry_ours_nb <= retry_tower_nb,
        },
        Target {
            what: "timeout: no costlier than tower::timeout",
            measured: format!(
                "{} of tower's time",
                fmt_ratio(timeout_ours / timeout_tower)
            ),
            met: timeout_ours <= timeout_tower,
        },
        Target {
            what: "standard stack: ≤100 ns over bare",
            measured: format!("{stack_over:.1} ns"),
            met: stack_over <= 100.0,
        },
        Target {
            what: "end to end: standard stack ≥0.97× bare throughput",
            measured: fmt_ratio(e2e.ratio()),
            met: e2e.ratio() >= 0.97,
        },
        Target {
            what: "zero allocations on every success path (bulwark rows polled directly)",
            measured: format!("{} in all", fmt_allocs(success_allocs)),
            met: success_allocs == 0.0,
        },
    ];
    println!("### Targets\n");
    println!("| target | measured | met |");
    println!("| --- | --- | --- |");
    for t in &targets {
        println!(
            "| {} | {} | {} |",
            t.what,
            t.measured,
            if t.met { "yes" } else { "**no**" }
        );
    }
    println!();
    println!(
        "Took {:.0} s; load average at the end: {}.",
        started.elapsed().as_secs_f64(),
        std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "unknown".to_owned())
    );
}

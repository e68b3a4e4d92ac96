//! How the next endpoint is chosen.
//!
//! Every strategy picks among the endpoints the balancer offers it (ready, not ejected, not
//! removed) and never allocates. The random ones draw from the balancer clone's own seeded
//! [`Rng`], so a test that fixes the seed sees the same picks on every run.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bulwark_policy::{ConfigError, Rng};

use crate::endpoint::{lock, nanos, Endpoint, Shared};

/// The rule a balancer picks endpoints by.
///
/// - [`P2cPending`](Strategy::P2cPending), the default: draw two endpoints at random and send
///   to the one with fewer requests in flight. Mitzenmacher showed that this second choice
///   brings the worst load down from `log n / log log n` to `log log n`, at the cost of one
///   comparison, and it needs no global view that could go stale.
/// - [`P2cPeakEwma`](Strategy::P2cPeakEwma): the same two draws, compared by a latency
///   estimate times the requests in flight, so a slow endpoint loses even when it is not busy.
/// - [`RoundRobin`](Strategy::RoundRobin): each endpoint in turn.
/// - [`WeightedRoundRobin`](Strategy::WeightedRoundRobin): smooth weighted round robin (the
///   nginx algorithm): shares follow the endpoints' weights, interleaved rather than in bursts.
/// - [`Random`](Strategy::Random): uniformly at random.
///
/// ```
/// use bulwark_balance::{BalanceLayer, Strategy};
///
/// let layer = BalanceLayer::builder().strategy(Strategy::RoundRobin).build();
/// assert_eq!(layer.get_strategy(), &Strategy::RoundRobin);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub enum Strategy {
    /// Power of two choices, by requests in flight.
    #[default]
    P2cPending,
    /// Power of two choices, by peak-EWMA latency times requests in flight.
    P2cPeakEwma(PeakEwma),
    /// Each endpoint in turn.
    RoundRobin,
    /// Smooth weighted round robin, by the endpoints' weights (1 unless set).
    WeightedRoundRobin,
    /// Uniformly at random.
    Random,
}

/// The settings of peak-EWMA latency: the estimate a new endpoint starts with, and how fast
/// an estimate forgets.
///
/// The estimate jumps to any slower response at once (the *peak*), and moves towards faster
/// ones at a rate set by `decay`; with no responses it decays towards zero, so an endpoint that
/// was slow is tried again later. The defaults are tower's: 30 ms and 10 s.
///
/// ```
/// use std::time::Duration;
/// use bulwark_balance::PeakEwma;
///
/// let ewma = PeakEwma::new(Duration::from_millis(5), Duration::from_secs(2)).unwrap();
/// assert_eq!(ewma.default_rtt(), Duration::from_millis(5));
/// assert!(PeakEwma::new(Duration::from_millis(5), Duration::ZERO).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeakEwma {
    default_rtt: Duration,
    decay: Duration,
}

impl Default for PeakEwma {
    fn default() -> Self {
        Self {
            default_rtt: Duration::from_millis(30),
            decay: Duration::from_secs(10),
        }
    }
}

impl PeakEwma {
    /// Starts new endpoints at `default_rtt` and forgets over `decay`, which must not be zero.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let err = bulwark_balance::PeakEwma::new(Duration::from_millis(1), Duration::ZERO).unwrap_err();
    /// assert_eq!(err.field(), "decay");
    /// ```
    pub fn new(default_rtt: Duration, decay: Duration) -> Result<Self, ConfigError> {
        if decay.is_zero() {
            return Err(ConfigError::new("decay", "must be longer than zero"));
        }
        Ok(Self { default_rtt, decay })
    }

    /// The estimate a new endpoint starts with.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(bulwark_balance::PeakEwma::default().default_rtt(), Duration::from_millis(30));
    /// ```
    pub fn default_rtt(&self) -> Duration {
        self.default_rtt
    }

    /// How fast an estimate forgets.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(bulwark_balance::PeakEwma::default().decay(), Duration::from_secs(10));
    /// ```
    pub fn decay(&self) -> Duration {
        self.decay
    }
}

/// One endpoint's latency estimate, in nanoseconds as `f64` bits, and when it was last fed.
///
/// Two plain atomics rather than a lock: two responses finishing at the same instant may
/// each overwrite the other's update, which costs one sample of an estimate, never a stall.
pub(crate) struct Ewma {
    rtt: AtomicU64,
    stamp: AtomicU64,
}

impl Ewma {
    pub(crate) fn new(strategy: &Strategy) -> Self {
        let start = match strategy {
            Strategy::P2cPeakEwma(cfg) => nanos(cfg.default_rtt) as f64,
            _ => 0.0,
        };
        Self {
            rtt: AtomicU64::new(start.to_bits()),
            stamp: AtomicU64::new(0),
        }
    }

    fn decay(cfg: &PeakEwma, since: u64, now: u64) -> f64 {
        let elapsed = now.saturating_sub(since) as f64;
        (-elapsed / nanos(cfg.decay) as f64).exp()
    }

    /// The estimate decayed to `now`, times the requests in flight plus one.
    pub(crate) fn cost(&self, cfg: &PeakEwma, now: u64, pending: usize) -> f64 {
        let est = f64::from_bits(self.rtt.load(Ordering::Relaxed));
        let d = Self::decay(cfg, self.stamp.load(Ordering::Relaxed), now);
        est * d * (pending as f64 + 1.0)
    }

    /// Feeds one response time.
    pub(crate) fn observe(&self, cfg: &PeakEwma, now: u64, rtt: u64) {
        let est = f64::from_bits(self.rtt.load(Ordering::Relaxed));
        let rtt = rtt as f64;
        let next = if rtt > est {
            rtt
        } else {
            let d = Self::decay(cfg, self.stamp.load(Ordering::Relaxed), now);
            est * d + rtt * (1.0 - d)
        };
        self.rtt.store(next.to_bits(), Ordering::Relaxed);
        self.stamp.store(now, Ordering::Relaxed);
    }
}

impl fmt::Debug for Ewma {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ewma")
            .field("rtt_ns", &f64::from_bits(self.rtt.load(Ordering::Relaxed)))
            .finish()
    }
}

/// How many random draws are tried before falling back to a scan; with most endpoints
/// offered, the first draw almost always lands.
const DRAWS: usize = 4;

fn random_offered<K, S>(
    list: &[Arc<Endpoint<K, S>>],
    rng: &mut Rng,
    except: Option<usize>,
    offered: &impl Fn(&Endpoint<K, S>) -> bool,
) -> Option<usize> {
    let n = list.len();
    if n == 0 {
        return None;
    }
    let fits = |i: usize| Some(i) != except && offered(&list[i]);
    for _ in 0..DRAWS {
        let i = rng.below(n as u64) as usize;
        if fits(i) {
            return Some(i);
        }
    }
    let start = rng.below(n as u64) as usize;
    (0..n).map(|k| (start + k) % n).find(|&i| fits(i))
}

/// Picks an index into `list` among the endpoints `offered` accepts.
pub(crate) fn pick<K, S>(
    shared: &Shared<K, S>,
    list: &[Arc<Endpoint<K, S>>],
    rng: &mut Rng,
    offered: impl Fn(&Endpoint<K, S>) -> bool,
) -> Option<usize> {
    match &shared.strategy {
        Strategy::Random => random_offered(list, rng, None, &offered),
        Strategy::P2cPending => {
            let a = random_offered(list, rng, None, &offered)?;
            let Some(b) = random_offered(list, rng, Some(a), &offered) else {
                return Some(a);
            };
            Some(if list[b].pending() < list[a].pending() {
                b
            } else {
                a
            })
        }
        Strategy::P2cPeakEwma(cfg) => {
            let a = random_offered(list, rng, None, &offered)?;
            let Some(b) = random_offered(list, rng, Some(a), &offered) else {
                return Some(a);
            };
            let now = shared.cluster.now();
            let cost = |i: usize| list[i].ewma.cost(cfg, now, list[i].pending());
            Some(if cost(b) < cost(a) { b } else { a })
        }
        Strategy::RoundRobin => {
            let n = list.len();
            let start = shared.cursor.fetch_add(1, Ordering::Relaxed);
            (0..n)
                .map(|k| start.wrapping_add(k) % n)
                .find(|&i| offered(&list[i]))
        }
        Strategy::WeightedRoundRobin => {
            let _turn = lock(&shared.wrr);
            let mut total = 0i64;
            let mut best: Option<(usize, i64)> = None;
            for (i, ep) in list.iter().enumerate() {
                let w = i64::from(ep.weight.load(Ordering::Relaxed));
                if w == 0 || !offered(ep) {
                    continue;
                }
                let current = ep.current_weight.load(Ordering::Relaxed).saturating_add(w);
                ep.current_weight.store(current, Ordering::Relaxed);
                total = total.saturating_add(w);
                if best.is_none_or(|(_, b)| current > b) {
                    best = Some((i, current));
                }
            }
            let (i, current) = best?;
            list[i]
                .current_weight
                .store(current.saturating_sub(total), Ordering::Relaxed);
            Some(i)
        }
    }
}

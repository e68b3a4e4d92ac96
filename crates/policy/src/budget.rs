//! The retry budget.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use crate::ConfigError;
use atomic::{AtomicI64, AtomicU64};

/// The budget's atomics: the standard library's, or loom's under `--cfg loom`, for the loom tests
/// at the end of this file.
mod atomic {
    #[cfg(not(loom))]
    pub(super) use std::sync::atomic::{AtomicI64, AtomicU64};

    #[cfg(loom)]
    pub(super) use loom::sync::atomic::{AtomicI64, AtomicU64};
}

/// Tokens are counted in millionths of a retry.
const SCALE: i64 = 1_000_000;
/// The largest floor a budget accepts, in retries a second; more is a mistake, and would
/// overflow the reserve's count in millionths.
const MAX_MIN_PER_SEC: u32 = 1_000_000;
/// The TTL is divided into this many rolling slots.
const SLOTS: usize = 10;

/// The settings of a [`RetryBudget`]: plain data, with the defaults of Finagle and Envoy.
///
/// ```
/// use std::time::Duration;
/// use bulwark_policy::BudgetConfig;
///
/// let config = BudgetConfig { retry_percent: 0.1, ..BudgetConfig::default() };
/// assert_eq!(config.ttl, Duration::from_secs(10));
/// let budget = config.build().unwrap();
/// assert_eq!(budget.retry_percent(), 0.1);
///
/// let nonsense = BudgetConfig { retry_percent: -1.0, ..BudgetConfig::default() };
/// assert!(nonsense.build().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct BudgetConfig {
    /// How long a deposit counts: between 100 ms and 1 hour. Default 10 s.
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_duration"))]
    pub ttl: Duration,
    /// Retries per second allowed however little traffic there is. Default 10.
    pub min_per_sec: u32,
    /// Retries allowed as a share of requests: 0.2 is 20%, between 0 and 1000. Default 0.2.
    pub retry_percent: f64,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(10),
            min_per_sec: 10,
            retry_percent: 0.2,
        }
    }
}

impl BudgetConfig {
    /// Checks the settings and makes the budget.
    ///
    /// ```
    /// use bulwark_policy::BudgetConfig;
    ///
    /// let err = BudgetConfig { retry_percent: f64::NAN, ..Default::default() }.build().unwrap_err();
    /// assert_eq!(err.field(), "retry_percent");
    /// ```
    pub fn build(self) -> Result<RetryBudget, ConfigError> {
        RetryBudget::new(self.ttl, self.min_per_sec, self.retry_percent)
    }
}

/// A token bucket that bounds retries to a share of requests; share it through an `Arc`.
//////
/// # Why a budget, not just a maximum number of attempts
///
/// A cap of three attempts per request looks harmless, but under an outage it triples the load
/// on a service that is already failing, and in a chain of services that each retry three
/// times the amplification multiplies at every hop: 3 × 3 × 3 = 27 calls at the bottom for one
/// at the top. That is the *retry storm* that turns a blip into an outage, and it is why
/// Finagle, Envoy, gRPC and reqwest bound retries by a budget instead.
///
/// A budget lets retries add at most a fixed *percentage* of extra load (20% by default), plus
/// a small floor of retries per second so that a quiet client can still retry at all. When the
/// service is healthy, the budget is never touched; when everything fails, retries stop at
/// `requests × percent + floor`, whatever the per-request attempt limit says.
///
/// # How it works
///
/// Every request *deposits* `percent` of a token and every retry *withdraws* a whole token.
/// Deposits and withdrawals are recorded in ten rolling time slots spanning the TTL, so what
/// happened more than a TTL ago is forgotten. A retry is allowed while the tokens in the
/// window plus the floor's reserve (`min_per_sec × TTL`) cover it.
///
/// Tokens are counted in millionths, so a percentage is exact to six decimal places: 10% of
/// 1000 requests is exactly 100 retries, and 30% is 300, not the 333 that rounding
/// `1 / 0.3` to a whole number gives.
///
/// A deposit is one clock read and one atomic add, with no lock; only a deposit that starts a
/// new slot does more (it clears the expired slots).
///
/// ```
/// use std::time::Duration;
/// use bulwark_policy::RetryBudget;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// // 50% extra load, no floor.
/// let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.5).unwrap();
/// assert!(!budget.try_withdraw());
/// budget.deposit();
/// budget.deposit();
/// assert!(budget.try_withdraw());
/// assert!(!budget.try_withdraw());
/// # }
/// ```
#[derive(Debug)]
pub struct RetryBudget {
    config: BudgetConfig,
    deposit: i64,
    reserve: i64,
    slot_nanos: u64,
    start: Instant,
    generation: AtomicU64,
    slots: [AtomicI64; SLOTS],
}

impl Default for RetryBudget {
    /// 20% extra load, 10 retries per second, a TTL of 10 s.
    fn default() -> Self {
        BudgetConfig::default()
            .build()
            .expect("the default budget is valid")
    }
}

impl RetryBudget {
    /// A budget that forgets after `ttl`, always allows `min_per_sec` retries per second, and
    /// otherwise allows `retry_percent` retries per request.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::RetryBudget;
    ///
    /// assert!(RetryBudget::new(Duration::from_secs(10), 10, 0.2).is_ok());
    /// assert!(RetryBudget::new(Duration::ZERO, 10, 0.2).is_err());
    /// assert!(RetryBudget::new(Duration::from_secs(10), u32::MAX, 0.2).is_err());
    /// ```
    pub fn new(ttl: Duration, min_per_sec: u32, retry_percent: f64) -> Result<Self, ConfigError> {
        if ttl < Duration::from_millis(100) || ttl > Duration::from_secs(3600) {
            return Err(ConfigError::new(
                "ttl",
                format!("must lie between 100ms and 1h, got {ttl:?}"),
            ));
        }
        if !retry_percent.is_finite() || !(0.0..=1000.0).contains(&retry_percent) {
            return Err(ConfigError::new(
                "retry_percent",
                format!("must be a share between 0 and 1000 (0.2 is 20%), got {retry_percent}"),
            ));
        }
        if min_per_sec > MAX_MIN_PER_SEC {
            return Err(ConfigError::new(
                "min_per_sec",
                format!("must be at most {MAX_MIN_PER_SEC} retries a second, got {min_per_sec}"),
            ));
        }
        // At most 10^6 a second over at most 3600 s, in millionths: 3.6 × 10^15, far inside i64.
        let reserve = (u128::from(min_per_sec) * ttl.as_millis() * SCALE as u128 / 1000) as i64;
        Ok(Self {
            config: BudgetConfig {
                ttl,
                min_per_sec,
                retry_percent,
            },
            deposit: (retry_percent * SCALE as f64).round() as i64,
            reserve,
            slot_nanos: (ttl.as_nanos() / SLOTS as u128) as u64,
            start: Instant::now(),
            generation: AtomicU64::new(0),
            slots: Default::default(),
        })
    }

    /// The settings it was made with.
    ///
    /// ```
    /// use bulwark_policy::{BudgetConfig, RetryBudget};
    /// assert_eq!(RetryBudget::default().config(), BudgetConfig::default());
    /// ```
    pub fn config(&self) -> BudgetConfig {
        self.config
    }

    /// The share of requests that may be retried.
    ///
    /// ```
    /// assert_eq!(bulwark_policy::RetryBudget::default().retry_percent(), 0.2);
    /// ```
    pub fn retry_percent(&self) -> f64 {
        self.config.retry_percent
    }

    /// Records a request. Never blocks.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let budget = bulwark_policy::RetryBudget::default();
    /// budget.deposit();
    /// # }
    /// ```
    #[inline]
    pub fn deposit(&self) {
        if self.deposit != 0 {
            let slot = self.current_slot();
            self.slots[slot].fetch_add(self.deposit, Ordering::Relaxed);
        }
    }

    /// Takes one retry from the budget if it has one.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// // A floor of 1 retry per second over 1 s: one retry, then none.
    /// let budget = bulwark_policy::RetryBudget::new(Duration::from_secs(1), 1, 0.0).unwrap();
    /// assert!(budget.try_withdraw());
    /// assert!(!budget.try_withdraw());
    /// # }
    /// ```
    pub fn try_withdraw(&self) -> bool {
        let slot = self.current_slot();
        loop {
            let current = self.slots[slot].load(Ordering::Acquire);
            let others: i64 = self
                .slots
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != slot)
                .map(|(_, s)| s.load(Ordering::Acquire))
                .sum();
            if current + others + self.reserve < SCALE {
                return false;
            }
            // Only a change to the current slot can race with this withdrawal's check in a way
            // that over-spends; a failed exchange re-reads everything.
            if self.slots[slot]
                .compare_exchange(
                    current,
                    current - SCALE,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                return true;
            }
        }
    }

    /// How many retries the budget would allow right now.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// let budget = bulwark_policy::RetryBudget::new(Duration::from_secs(10), 2, 0.5).unwrap();
    /// assert_eq!(budget.available(), 20);
    /// budget.deposit();
    /// budget.deposit();
    /// assert_eq!(budget.available(), 21);
    /// # }
    /// ```
    pub fn available(&self) -> u64 {
        self.current_slot();
        let total: i64 = self.slots.iter().map(|s| s.load(Ordering::Acquire)).sum();
        ((total + self.reserve).max(0) / SCALE) as u64
    }

    /// The slot for now, clearing slots that have expired since the last call.
    #[inline]
    fn current_slot(&self) -> usize {
        // 64-bit nanoseconds last 584 years, and a 128-bit division costs more than the rest
        // of a deposit.
        let now = Instant::now()
            .saturating_duration_since(self.start)
            .as_nanos() as u64;
        let seen = self.generation.load(Ordering::Acquire);
        // Still in the generation already current, as nearly every call is: no division. (The
        // product cannot overflow: a generation is at most `u64::MAX / slot_nanos`.)
        if now.wrapping_sub(seen * self.slot_nanos) < self.slot_nanos {
            return (seen % SLOTS as u64) as usize;
        }
        self.slot_at(now, seen)
    }

    /// The slot of the time `now` when it is not in the generation `seen`, advancing the
    /// generation if `now` is past it.
    #[cold]
    fn slot_at(&self, now: u64, seen: u64) -> usize {
        let generation = now / self.slot_nanos;
        if generation > seen {
            self.advance(seen, generation);
        }
        (generation % SLOTS as u64) as usize
    }

    #[cold]
    fn advance(&self, mut seen: u64, generation: u64) {
        // One thread wins each move of the generation and clears the slots it reuses. A thread
        // that loses the exchange to an older generation than its own tries again from the one
        // it saw, so the generation never stays behind the clock of a thread about to use its
        // slot (that slot would be cleared later, losing what was written to it meanwhile).
        //
        // What the clearing cannot keep: a deposit or withdrawal made in a reused slot by a
        // thread that saw the new generation before the winner cleared that slot is lost. The
        // window is the few stores between the exchange and the clearing, once per slot.
        while seen < generation {
            match self.generation.compare_exchange_weak(
                seen,
                generation,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    let first = seen
                        .saturating_add(1)
                        .max(generation.saturating_sub(SLOTS as u64 - 1));
                    for g in first..=generation {
                        self.slots[(g % SLOTS as u64) as usize].store(0, Ordering::Release);
                    }
                    return;
                }
                Err(actual) => seen = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn allowed(budget: &RetryBudget) -> u64 {
        let mut n = 0;
        while budget.try_withdraw() {
            n += 1;
        }
        n
    }

    #[tokio::test(start_paused = true)]
    async fn fractional_percentages_are_exact() {
        // tower#857: with 10% and 1000 requests, exactly 100 + the floor, not more.
        for (percent, expected) in [
            (0.1, 100),
            (0.3, 300),
            (0.25, 250),
            (0.333, 333),
            (0.2, 200),
        ] {
            let budget = RetryBudget::new(Duration::from_secs(10), 10, percent).unwrap();
            for _ in 0..1000 {
                budget.deposit();
            }
            assert_eq!(allowed(&budget), expected + 100, "percent {percent}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn deposits_expire_after_the_ttl() {
        let budget = RetryBudget::new(Duration::from_secs(10), 0, 1.0).unwrap();
        for _ in 0..5 {
            budget.deposit();
        }
        tokio::time::advance(Duration::from_secs(5)).await;
        for _ in 0..3 {
            budget.deposit();
        }
        assert_eq!(budget.available(), 8);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(
            budget.available(),
            3,
            "the first five are older than the TTL"
        );
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(budget.available(), 0);
        // A long silence clears everything, however many slots it skips.
        budget.deposit();
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(budget.available(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn withdrawals_expire_too() {
        let budget = RetryBudget::new(Duration::from_secs(1), 5, 0.0).unwrap();
        assert_eq!(allowed(&budget), 5);
        tokio::time::advance(Duration::from_millis(1100)).await;
        assert_eq!(
            allowed(&budget),
            5,
            "the floor refills once the withdrawals expire"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_thread_that_loses_the_race_to_advance_still_advances() {
        // Slots of one second; the clock is in slot 7.
        let budget = RetryBudget::new(Duration::from_secs(10), 0, 1.0).unwrap();
        tokio::time::advance(Duration::from_millis(7_500)).await;
        // Two threads read generation 0. One, whose clock read said slot 6, moves it to 6 first.
        budget.advance(0, 6);
        // The other, whose clock says slot 7, loses the exchange: it must still move it to 7...
        budget.advance(0, 7);
        assert_eq!(budget.generation.load(Ordering::Acquire), 7);
        // ...so that the deposit it then makes in slot 7 is not cleared by the next caller.
        budget.slots[7].fetch_add(SCALE, Ordering::Relaxed);
        assert_eq!(budget.available(), 1, "the deposit was kept");
    }

    #[test]
    fn nonsense_is_refused() {
        let s = Duration::from_secs(1);
        assert_eq!(
            RetryBudget::new(Duration::from_millis(5), 1, 0.2)
                .unwrap_err()
                .field(),
            "ttl"
        );
        assert_eq!(
            RetryBudget::new(s, 1, -0.1).unwrap_err().field(),
            "retry_percent"
        );
        assert_eq!(
            RetryBudget::new(s, 1, 1e9).unwrap_err().field(),
            "retry_percent"
        );
        assert_eq!(
            RetryBudget::new(s, 1, f64::INFINITY).unwrap_err().field(),
            "retry_percent"
        );
    }

    #[test]
    fn concurrent_withdrawals_never_overspend() {
        let budget =
            std::sync::Arc::new(RetryBudget::new(Duration::from_secs(3600), 0, 1.0).unwrap());
        for _ in 0..1000 {
            budget.deposit();
        }
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let b = budget.clone();
                std::thread::spawn(move || (0..1000).filter(|_| b.try_withdraw()).count())
            })
            .collect();
        let total: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(total, 1000);
    }

    #[cfg(feature = "serde")]
    #[test]
    fn deserialises_with_defaults() {
        let c: BudgetConfig = serde_json::from_str(r#"{"ttl":"2s","retry_percent":0.05}"#).unwrap();
        assert_eq!(
            c,
            BudgetConfig {
                ttl: Duration::from_secs(2),
                min_per_sec: 10,
                retry_percent: 0.05
            }
        );
        assert!(serde_json::from_str::<BudgetConfig>(r#"{"ttl":"2 fortnights"}"#).is_err());
        assert!(serde_json::from_str::<BudgetConfig>(r#"{"tll":"2s"}"#).is_err());
    }

    proptest! {
        // The amplification bound: whatever the order of requests and retries, the retries
        // allowed within one TTL never exceed requests × percent + the floor.
        #[test]
        fn retries_never_exceed_the_bound(percent in 0.0f64..2.0, floor in 0u32..20, ops in proptest::collection::vec(any::<bool>(), 0..400)) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
            rt.block_on(async {
                let budget = RetryBudget::new(Duration::from_secs(10), floor, percent).unwrap();
                let (mut requests, mut retries) = (0u64, 0u64);
                for deposit in ops {
                    if deposit { budget.deposit(); requests += 1; } else if budget.try_withdraw() { retries += 1; }
                }
                // Tokens are counted in millionths, so allow the rounding of a millionth per request.
                let bound = (requests as f64 * percent + f64::from(floor) * 10.0 + requests as f64 * 1e-6).floor() as u64;
                prop_assert!(retries <= bound, "{retries} > {bound}");
                Ok(())
            })?;
        }
    }
}

/// Every interleaving of racing withdrawals and of racing moves of the slot generation:
/// `RUSTFLAGS="--cfg loom" cargo test -p bulwark-policy --release --lib loom` (the filter
/// matters: the other tests cannot run on loom's atomics).
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    #[test]
    fn racing_withdrawals_never_overspend() {
        loom::model(|| {
            // One token, and an hour-long TTL, so that no clock read moves the slots.
            let budget = Arc::new(RetryBudget::new(Duration::from_secs(3600), 0, 1.0).unwrap());
            budget.deposit();
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let b = budget.clone();
                    thread::spawn(move || b.try_withdraw())
                })
                .collect();
            let won = threads
                .into_iter()
                .map(|t| t.join().unwrap())
                .filter(|w| *w)
                .count();
            assert_eq!(won, 1);
            assert_eq!(budget.available(), 0);
        });
    }

    #[test]
    fn a_deposit_racing_a_withdrawal_is_counted_once() {
        loom::model(|| {
            let budget = Arc::new(RetryBudget::new(Duration::from_secs(3600), 0, 1.0).unwrap());
            let b = budget.clone();
            let depositor = thread::spawn(move || b.deposit());
            let b = budget.clone();
            let withdrawer = thread::spawn(move || b.try_withdraw());
            depositor.join().unwrap();
            let took = withdrawer.join().unwrap();
            assert_eq!(budget.available(), if took { 0 } else { 1 });
        });
    }

    #[test]
    fn racing_moves_of_the_generation_end_at_the_newest() {
        loom::model(|| {
            let budget = Arc::new(RetryBudget::new(Duration::from_secs(10), 0, 1.0).unwrap());
            let b = budget.clone();
            // Both read generation 0; one's clock says slot 6, the other's slot 7, and the
            // latter deposits in slot 7 once it has moved the generation.
            let six = thread::spawn(move || b.advance(0, 6));
            let b = budget.clone();
            let seven = thread::spawn(move || {
                b.advance(0, 7);
                b.slots[7].fetch_add(SCALE, Ordering::Relaxed);
            });
            six.join().unwrap();
            seven.join().unwrap();
            assert_eq!(budget.generation.load(Ordering::Acquire), 7);
            assert_eq!(
                budget.slots[7].load(Ordering::Acquire),
                SCALE,
                "the deposit was kept"
            );
        });
    }
}

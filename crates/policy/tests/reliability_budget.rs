//! The retry budget against a reference model, over random deposits, withdrawals and clock
//! moves: every withdrawal is allowed exactly when the model allows it, `available` agrees
//! with the model at every step, and over any TTL the retries never exceed
//! `requests × percent + floor × TTL`.
//!
//! The model keeps every deposit and withdrawal with the time slot it happened in (the TTL cut
//! into ten slots, as the budget's docs say) and forgets an entry once ten newer slots have
//! begun. It shares no code with the budget.

use std::time::Duration;

use bulwark_policy::RetryBudget;
use bulwark_test_support::fuzz::paused_runtime;
use proptest::prelude::*;

/// Millionths of a retry, as the docs say tokens are counted.
const SCALE: i64 = 1_000_000;
const SLOTS: u64 = 10;

#[derive(Debug, Clone)]
enum Op {
    Deposit(u8),
    Withdraw(u8),
    Available,
    Advance(u64),
}

#[derive(Debug)]
struct Model {
    slot_nanos: u64,
    deposit: i64,
    reserve: i64,
    /// (slot number since the start, millionths): deposits positive, withdrawals negative.
    entries: Vec<(u64, i64)>,
    /// Allowed withdrawals with their time in nanoseconds, and deposits likewise.
    withdrawals: Vec<u64>,
    deposits: Vec<u64>,
}

impl Model {
    fn new(ttl: Duration, floor: u32, percent: f64) -> Self {
        Self {
            slot_nanos: (ttl.as_nanos() / u128::from(SLOTS)) as u64,
            deposit: (percent * SCALE as f64).round() as i64,
            reserve: (i128::from(floor) * ttl.as_millis() as i128 * i128::from(SCALE) / 1000)
                as i64,
            entries: Vec::new(),
            withdrawals: Vec::new(),
            deposits: Vec::new(),
        }
    }

    fn slot(&self, now: u64) -> u64 {
        now / self.slot_nanos
    }

    /// The tokens in the window that ends in slot `slot`, in millionths.
    fn balance(&self, now: u64) -> i64 {
        let slot = self.slot(now);
        self.entries
            .iter()
            .filter(|(s, _)| s + SLOTS > slot)
            .map(|(_, v)| v)
            .sum()
    }

    fn deposit(&mut self, now: u64) {
        self.deposits.push(now);
        if self.deposit != 0 {
            self.entries.push((self.slot(now), self.deposit));
        }
    }

    fn try_withdraw(&mut self, now: u64) -> bool {
        if self.balance(now) + self.reserve < SCALE {
            return false;
        }
        self.entries.push((self.slot(now), -SCALE));
        self.withdrawals.push(now);
        true
    }

    fn available(&self, now: u64) -> u64 {
        ((self.balance(now) + self.reserve).max(0) / SCALE) as u64
    }
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(
        prop_oneof![
            4 => (1u8..20).prop_map(Op::Deposit),
            4 => (1u8..8).prop_map(Op::Withdraw),
            1 => Just(Op::Available),
            // From a nanosecond to a little over a TTL of a minute.
            3 => prop_oneof![0u64..2_000, 0u64..2_000_000_000, 0u64..70_000_000_000].prop_map(Op::Advance),
        ],
        0..60,
    )
}

fn percents() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(0.2),
        Just(1.0),
        0.0f64..3.0,
        // Six decimals are exact, seven are rounded: both are allowed.
        (0u32..3_000_000).prop_map(|m| f64::from(m) / 1e6),
        (0u32..30_000_000).prop_map(|m| f64::from(m) / 1e7),
        0.0f64..=1000.0,
    ]
}

fn check(ttl_ms: u64, floor: u32, percent: f64, ops: &[Op]) -> Result<(), TestCaseError> {
    paused_runtime().block_on(async {
        let ttl = Duration::from_millis(ttl_ms);
        let budget = RetryBudget::new(ttl, floor, percent).unwrap();
        let mut model = Model::new(ttl, floor, percent);
        let mut now = 0u64;
        for op in ops {
            match *op {
                Op::Deposit(n) => {
                    for _ in 0..n {
                        budget.deposit();
                        model.deposit(now);
                    }
                }
                Op::Withdraw(n) => {
                    for _ in 0..n {
                        let expected = model.try_withdraw(now);
                        prop_assert_eq!(budget.try_withdraw(), expected, "withdrawal at {}ns", now);
                    }
                }
                Op::Available => {
                    prop_assert_eq!(
                        budget.available(),
                        model.available(now),
                        "available at {}ns",
                        now
                    );
                }
                Op::Advance(nanos) => {
                    tokio::time::advance(Duration::from_nanos(nanos)).await;
                    now += nanos;
                }
            }
            prop_assert_eq!(budget.available(), model.available(now));
        }
        // The amplification bound, judged over every window of ten slots (one TTL) that ends
        // in a slot with a retry: the retries in it never exceed what its requests and the
        // floor paid for, `requests × percent + floor × TTL`, in exact millionths.
        let slot_of = |t: u64| t / model.slot_nanos;
        for &at in &model.withdrawals {
            let last = slot_of(at);
            let first = last.saturating_sub(SLOTS - 1);
            let in_window = |t: &&u64| (first..=last).contains(&slot_of(**t));
            let retries = model.withdrawals.iter().filter(in_window).count() as i128;
            let requests = model.deposits.iter().filter(in_window).count() as i128;
            let paid = requests * i128::from(model.deposit) + i128::from(model.reserve);
            prop_assert!(
                retries * i128::from(SCALE) <= paid,
                "{} retries for {} requests in slots {}..={}",
                retries,
                requests,
                first,
                last
            );
            // And in plain numbers, with the rounding of a millionth per request allowed.
            let bound = requests as f64 * (percent + 1e-6) + f64::from(floor) * ttl.as_secs_f64();
            prop_assert!(retries as f64 <= bound + 1e-6, "{} > {}", retries, bound);
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    /// The budget and the model agree on every decision, whatever the order of requests,
    /// retries and pauses.
    #[test]
    fn the_budget_follows_its_model(
        ttl_ms in prop_oneof![Just(100u64), 100u64..3_000, 100u64..3_600_000],
        floor in prop_oneof![Just(0u32), 0u32..20, 0u32..1_000],
        percent in percents(),
        ops in ops(),
    ) {
        check(ttl_ms, floor, percent, &ops)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000_000))]

    #[test]
    #[ignore = "a million cases; run with --ignored"]
    fn the_budget_follows_its_model_long(
        ttl_ms in prop_oneof![Just(100u64), 100u64..3_000, 100u64..3_600_000],
        floor in prop_oneof![Just(0u32), 0u32..20, 0u32..1_000],
        percent in percents(),
        ops in ops(),
    ) {
        check(ttl_ms, floor, percent, &ops)?;
    }
}

/// Large settings that fit its arithmetic keep exact counts.
#[tokio::test(start_paused = true)]
async fn large_settings_keep_exact_counts() {
    let budget = RetryBudget::new(Duration::from_secs(3600), 1_000_000, 1000.0).unwrap();
    let floor = 1_000_000 * 3600;
    assert_eq!(budget.available(), floor);
    for _ in 0..1000 {
        budget.deposit();
    }
    assert_eq!(budget.available(), floor + 1_000_000);
    assert!(budget.try_withdraw());
    assert_eq!(budget.available(), floor + 999_999);
}

/// The largest floor the budget accepts, over the longest TTL, still allows retries, and a
/// larger one is refused rather than overflowing into a budget that allows none.
#[tokio::test(start_paused = true)]
async fn the_largest_accepted_floor_allows_retries() {
    let hour = Duration::from_secs(3600);
    let budget = RetryBudget::new(hour, 1_000_000, 0.2).unwrap();
    assert_eq!(budget.available(), 1_000_000 * 3600);
    assert!(budget.try_withdraw());
    let err = RetryBudget::new(hour, 1_000_001, 0.2).unwrap_err();
    assert_eq!(err.field(), "min_per_sec");
    assert!(RetryBudget::new(hour, u32::MAX, 0.2).is_err());
}

//! Hostile configuration for `BudgetConfig` and `Backoff`: arbitrary text and near-valid JSON
//! (the right fields with wrong types, negative, huge, fractional and malformed durations,
//! unknown fields). Reading never panics; what is refused is refused with a message; what is
//! accepted builds, and the built value works without panicking and within its own bounds.
#![cfg(feature = "serde")]

use std::time::Duration;

use bulwark_policy::{Backoff, BudgetConfig, Rng};
use bulwark_test_support::fuzz::{
    accepted, assert_refused, backoff_json, budget_json, inputs, paused_runtime, read,
};
use proptest::prelude::*;

fn check_budget(input: &str) -> Result<(), TestCaseError> {
    let Some(config) = read::<BudgetConfig>(input)? else {
        return Ok(());
    };
    match config.build() {
        Err(err) => prop_assert!(!err.field().is_empty() && !err.to_string().is_empty()),
        Ok(budget) => {
            paused_runtime().block_on(async {
                let before = budget.available();
                for _ in 0..3 {
                    budget.deposit();
                }
                let mut allowed = 0u64;
                while allowed < 10 && budget.try_withdraw() {
                    allowed += 1;
                }
                tokio::time::advance(config.ttl * 2).await;
                // Every deposit and withdrawal has expired: the floor alone is left.
                prop_assert_eq!(budget.available(), before);
                Ok(())
            })?;
        }
    }
    Ok(())
}

fn check_backoff(input: &str) -> Result<(), TestCaseError> {
    let Some(backoff) = read::<Backoff>(input)? else {
        return Ok(());
    };
    prop_assert!(
        backoff.validate().is_ok(),
        "accepted but invalid: {:?}",
        backoff
    );
    let mut rng = Rng::new(input.len() as u64);
    let mut prev = Duration::ZERO;
    for n in [0, 1, 2, 10, 1000, u32::MAX] {
        prev = backoff.delay(n, prev, &mut rng);
        prop_assert!(prev <= backoff.get_max_delay());
    }
    let hint = Some(Duration::MAX);
    let used = backoff.apply_retry_after(prev, hint);
    match backoff.get_retry_after_cap() {
        Some(cap) => prop_assert_eq!(used, cap),
        None => prop_assert_eq!(used, prev),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn budget_config_is_read_safely(input in inputs(budget_json())) {
        check_budget(&input)?;
    }

    #[test]
    fn backoff_config_is_read_safely(input in inputs(backoff_json())) {
        check_backoff(&input)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000_000))]

    #[test]
    #[ignore = "a million inputs; run with --ignored"]
    fn configs_are_read_safely_long(budget in inputs(budget_json()), backoff in inputs(backoff_json())) {
        check_budget(&budget)?;
        check_backoff(&backoff)?;
    }
}

/// The inputs that matter most, spelled out: each is refused with a message naming the field.
#[test]
fn nonsense_is_refused_with_the_field_named() {
    for (input, field) in [
        (r#"{"ttl":"0s"}"#, "ttl"),
        (r#"{"ttl":"2h"}"#, "ttl"),
        (r#"{"retry_percent":-0.5}"#, "retry_percent"),
        (r#"{"retry_percent":1e300}"#, "retry_percent"),
    ] {
        let config: BudgetConfig = serde_json::from_str(input).unwrap();
        assert_eq!(config.build().unwrap_err().field(), field, "{input}");
    }
    for (input, words) in [
        (
            r#"{"kind":"exponential","base":"1s","factor":0.5}"#,
            "factor",
        ),
        (
            r#"{"kind":"constant","base":"2s","max_delay":"1s"}"#,
            "max_delay",
        ),
        (
            r#"{"kind":"constant","base":"1s","jitter":{"proportional":2}}"#,
            "jitter",
        ),
        (
            r#"{"kind":"constant","base":"99999999999999999999999y"}"#,
            "99999999999999999999999y",
        ),
        (r#"{"kind":"sideways","base":"1s"}"#, "sideways"),
    ] {
        assert_refused::<Backoff>(input, words);
    }
}

/// The near-valid inputs reach the accepted path often enough for the fuzzing to test it.
#[test]
fn the_structured_inputs_are_often_accepted() {
    let built = accepted(budget_json(), 2_000, |s| {
        serde_json::from_str::<BudgetConfig>(s).is_ok_and(|c| c.build().is_ok())
    });
    let read = accepted(backoff_json(), 2_000, |s| {
        serde_json::from_str::<Backoff>(s).is_ok()
    });
    eprintln!("accepted of 2000: {built} budgets, {read} backoffs");
    assert!(
        built >= 20 && read >= 20,
        "{built} budgets, {read} backoffs"
    );
}

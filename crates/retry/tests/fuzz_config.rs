//! Hostile configuration for `RetryConfig`: arbitrary text and near-valid JSON (the right
//! fields with wrong types, nested backoff and budget objects that are almost right, unknown
//! fields). Reading never panics; what is refused is refused with a message; what is accepted
//! builds a layer, and that layer retries a failing call under paused time within its
//! attempts, its budget and its backoff's cap, without panicking.
#![cfg(feature = "serde")]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bulwark_policy::{BoxError, IgnoreDeadline};
use bulwark_retry::{RetryConfig, RetryLayer};
use bulwark_test_support::fuzz::{
    accepted, anything, assert_refused, backoff_json, budget_json, inputs, number, object,
    paused_runtime, read,
};
use proptest::prelude::*;
use serde_json::Value;
use tower::{service_fn, Layer, ServiceExt};

fn retry_json() -> BoxedStrategy<Value> {
    object(
        &["max_attempts", "backoff", "budget", "name"],
        |field| match field {
            "max_attempts" => {
                prop_oneof![3 => (0u32..6).prop_map(Value::from), 1 => number(), 1 => anything()]
                    .boxed()
            }
            "backoff" => prop_oneof![3 => backoff_json(), 1 => anything()].boxed(),
            "budget" => {
                prop_oneof![3 => budget_json(), 1 => Just(Value::Null), 1 => anything()].boxed()
            }
            _ => prop_oneof![".{0,8}".prop_map(Value::from), anything()].boxed(),
        },
    )
}

fn check(input: &str) -> Result<(), TestCaseError> {
    let Some(config) = read::<RetryConfig>(input)? else {
        return Ok(());
    };
    prop_assert!(
        config.validate().is_ok(),
        "accepted but invalid: {:?}",
        config
    );
    let layer = RetryLayer::builder()
        .config(config.clone())
        .deadline(IgnoreDeadline)
        .seed(1)
        .build()
        .map_err(|err| TestCaseError::fail(format!("{config:?} read but not built: {err}")))?;
    prop_assert_eq!(layer.max_attempts(), config.max_attempts);
    paused_runtime().block_on(async {
        let calls = Arc::new(AtomicU32::new(0));
        let counter = calls.clone();
        let svc = layer.layer(service_fn(move |()| {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), BoxError>("down".into()) }
        }));
        let start = tokio::time::Instant::now();
        prop_assert!(svc.oneshot(()).await.is_err());
        let attempts = calls.load(Ordering::SeqCst);
        prop_assert!(attempts >= 1 && attempts <= config.max_attempts);
        // No sleep beyond the backoff's cap between attempts. tokio's timer counts whole
        // milliseconds, so a shorter sleep still takes one.
        let slept = start.elapsed();
        let cap = config.backoff.get_max_delay();
        prop_assert!(
            slept
                <= cap
                    .saturating_add(Duration::from_millis(1))
                    .saturating_mul(attempts),
            "{:?} slept for {} attempts, cap {:?}",
            slept,
            attempts,
            cap
        );
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn retry_config_is_read_safely(input in inputs(retry_json())) {
        check(&input)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000_000))]

    #[test]
    #[ignore = "a million inputs; run with --ignored"]
    fn retry_config_is_read_safely_long(input in inputs(retry_json())) {
        check(&input)?;
    }
}

#[test]
fn nonsense_is_refused_with_the_field_named() {
    for (input, words) in [
        (r#"{"max_attempts":0}"#, "max_attempts"),
        (r#"{"max_attempts":-1}"#, "-1"),
        (r#"{"budget":{"ttl":"1ms"}}"#, "ttl"),
        (r#"{"budget":{"retry_percent":-1}}"#, "retry_percent"),
        (
            r#"{"backoff":{"kind":"exponential","base":"1s","factor":0.1}}"#,
            "factor",
        ),
        (r#"{"retries":3}"#, "retries"),
    ] {
        assert_refused::<RetryConfig>(input, words);
    }
}

/// The near-valid inputs reach the accepted path often enough for the fuzzing to test it.
#[test]
fn the_structured_inputs_are_often_accepted() {
    let accepted = accepted(retry_json(), 2_000, |s| {
        serde_json::from_str::<RetryConfig>(s).is_ok()
    });
    eprintln!("{accepted} of 2000 structured inputs accepted");
    assert!(accepted >= 20, "only {accepted} of 2000 accepted");
}

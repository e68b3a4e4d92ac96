//! Hostile configuration for `ChaosConfig` (the fault injector's settings, read from files in
//! chaos drills) and `BreakerConfig`: arbitrary text and near-valid JSON. Reading never panics;
//! what is refused is refused with a message.
//!
//! What is accepted builds a layer that works under paused time. A chaos layer answers every
//! call (with the inner answer, an injected error or the chosen response), counts every call,
//! and never delays a call longer than its latency's maximum. A breaker answers every call
//! with the inner answer or a rejection whose `retry_after` is within its open period's cap.

use std::time::Duration;

use bulwark_breaker::{BreakerConfig, BreakerLayer};
use bulwark_chaos::{ChaosConfig, ChaosLayer};
use bulwark_policy::{BoxError, Rejected};
use bulwark_test_support::fuzz::{
    accepted, anything, backoff_json, duration_value, inputs, number, object, paused_runtime, rate,
    read,
};
use proptest::prelude::*;
use serde_json::{json, Value};
use tower::{service_fn, Layer, ServiceExt};

fn chaos_json() -> BoxedStrategy<Value> {
    const FIELDS: &[&str] = &[
        "enabled",
        "seed",
        "error_rate",
        "response_rate",
        "latency_rate",
        "latency",
        "outages",
        "outage_answer",
        "name",
    ];
    object(FIELDS, |field| match field {
        "enabled" => prop_oneof![any::<bool>().prop_map(Value::Bool), anything()].boxed(),
        "seed" => prop_oneof![any::<u64>().prop_map(Value::from), number()].boxed(),
        "latency" => prop_oneof![
            3 => object(&["min", "max"], |_| duration_value()),
            1 => anything(),
        ]
        .boxed(),
        "outages" => prop_oneof![
            3 => proptest::collection::vec(object(&["start", "end"], |_| duration_value()), 0..3)
                .prop_map(Value::Array),
            1 => anything(),
        ]
        .boxed(),
        "outage_answer" => {
            prop_oneof![Just(json!("error")), Just(json!("response")), anything()].boxed()
        }
        "name" => prop_oneof![".{0,8}".prop_map(Value::from), anything()].boxed(),
        _ => rate(),
    })
}

fn check(input: &str) -> Result<(), TestCaseError> {
    let Some(config) = read::<ChaosConfig>(input)? else {
        return Ok(());
    };
    prop_assert!(
        config.validate().is_ok(),
        "accepted but invalid: {:?}",
        config
    );
    let max_latency = config.latency.max;
    let enabled = config.enabled;
    paused_runtime().block_on(async {
        let layer = ChaosLayer::builder()
            .config(config)
            .response_with(|| "chosen")
            .build();
        let layer = match layer {
            Ok(layer) => layer,
            Err(err) => return Err(TestCaseError::fail(format!("read but not built: {err}"))),
        };
        let svc = layer.layer(service_fn(|()| async { Ok::<_, BoxError>("real") }));
        for _ in 0..20 {
            let start = tokio::time::Instant::now();
            let answer = svc.clone().oneshot(()).await;
            // tokio's timer has millisecond resolution: a shorter delay takes a millisecond.
            prop_assert!(
                start.elapsed() <= max_latency.saturating_add(Duration::from_millis(1)),
                "{:?} delayed past {:?}",
                start.elapsed(),
                max_latency
            );
            match answer {
                Ok(a) => prop_assert!(a == "real" || a == "chosen"),
                Err(e) => prop_assert!(e.is::<bulwark_chaos::Injected>(), "{}", e),
            }
            tokio::time::advance(Duration::from_millis(250)).await;
        }
        let stats = layer.handle().stats();
        prop_assert_eq!(stats.calls, if enabled { 20 } else { 0 });
        prop_assert!(stats.errors + stats.responses + stats.outages <= stats.calls);
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn chaos_config_is_read_safely(input in inputs(chaos_json())) {
        check(&input)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000_000))]

    #[test]
    #[ignore = "a million inputs; run with --ignored"]
    fn chaos_config_is_read_safely_long(input in inputs(chaos_json())) {
        check(&input)?;
    }
}

/// The near-valid inputs reach the accepted path often enough for the fuzzing to test it.
#[test]
fn the_structured_inputs_are_often_accepted() {
    let chaos = accepted(chaos_json(), 2_000, |s| {
        serde_json::from_str::<ChaosConfig>(s).is_ok()
    });
    let breaker = accepted(breaker_json(), 2_000, |s| {
        serde_json::from_str::<BreakerConfig>(s).is_ok()
    });
    eprintln!("of 2000 structured inputs accepted: chaos {chaos}, breaker {breaker}");
    assert!(chaos >= 20, "only {chaos} of 2000 chaos configs accepted");
    assert!(
        breaker >= 20,
        "only {breaker} of 2000 breaker configs accepted"
    );
}

#[test]
fn nonsense_is_refused_with_the_field_named() {
    for (input, words) in [
        (r#"{"error_rate":1.5}"#, "error_rate"),
        (r#"{"latency_rate":-0.1}"#, "latency_rate"),
        (r#"{"latency":{"min":"2s","max":"1s"}}"#, "latency"),
        (r#"{"outages":[{"start":"2s","end":"1s"}]}"#, "end"),
        (r#"{"outage_answer":"shrug"}"#, "shrug"),
        (r#"{"errors":0.1}"#, "errors"),
    ] {
        let err = serde_json::from_str::<ChaosConfig>(input)
            .unwrap_err()
            .to_string();
        assert!(err.contains(words), "{input}: {err}");
    }
}

fn breaker_json() -> BoxedStrategy<Value> {
    const FIELDS: &[&str] = &[
        "consecutive_failures",
        "no_consecutive_failures",
        "failure_rate",
        "slow_call_rate",
        "slow_call_threshold",
        "count_window",
        "time_window",
        "time_window_buckets",
        "min_calls",
        "open_for",
        "half_open_probes",
        "half_open_successes",
        "half_open_max_wait",
        "mode",
    ];
    object(FIELDS, |field| match field {
        "failure_rate" | "slow_call_rate" => rate(),
        "slow_call_threshold" | "time_window" | "half_open_max_wait" => duration_value(),
        "no_consecutive_failures" => {
            prop_oneof![any::<bool>().prop_map(Value::Bool), anything()].boxed()
        }
        "open_for" => prop_oneof![3 => backoff_json(), 1 => anything()].boxed(),
        "mode" => prop_oneof![
            Just(json!("fail_fast")),
            Just(json!("backpressure")),
            anything()
        ]
        .boxed(),
        _ => prop_oneof![
            3 => (0u64..200).prop_map(Value::from),
            1 => number(),
            1 => anything(),
        ]
        .boxed(),
    })
}

fn check_breaker(input: &str) -> Result<(), TestCaseError> {
    let Some(config) = read::<BreakerConfig>(input)? else {
        return Ok(());
    };
    prop_assert!(
        config.validate().is_ok(),
        "accepted but invalid: {:?}",
        config
    );
    let cap = config.open_for.get_max_delay();
    paused_runtime().block_on(async {
        let layer = match BreakerLayer::new(config) {
            Ok(layer) => layer,
            Err(err) => return Err(TestCaseError::fail(format!("read but not built: {err}"))),
        };
        let svc = layer.layer(service_fn(|n: u32| async move {
            if n % 3 == 0 {
                Err(BoxError::from("down"))
            } else {
                Ok(n)
            }
        }));
        for n in 0..30u32 {
            // A backpressure breaker waits while open: bound the wait, it is not a hang.
            let answer =
                tokio::time::timeout(Duration::from_secs(3600), svc.clone().oneshot(n)).await;
            match answer {
                Err(_) => {}
                Ok(Ok(m)) => prop_assert_eq!(m, n),
                Ok(Err(e)) => match e.downcast_ref::<Rejected>() {
                    Some(rejected) => prop_assert!(
                        rejected.retry_after().is_none_or(|after| after <= cap),
                        "{:?} past the cap {:?}",
                        rejected.retry_after(),
                        cap
                    ),
                    None => prop_assert_eq!(e.to_string(), "down"),
                },
            }
            tokio::time::advance(Duration::from_millis(100)).await;
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn breaker_config_is_read_safely(input in inputs(breaker_json())) {
        check_breaker(&input)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000_000))]

    #[test]
    #[ignore = "a million inputs; run with --ignored"]
    fn breaker_config_is_read_safely_long(input in inputs(breaker_json())) {
        check_breaker(&input)?;
    }
}

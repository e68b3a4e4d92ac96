//! Hostile configuration for `OutlierDetection`: arbitrary text and near-valid JSON. Reading
//! never panics; what is refused is refused with a message; what is accepted drives a
//! balancer whose endpoints all fail, under paused time, without panicking, and never ejects
//! more endpoints than its maximum percentage allows.
#![cfg(feature = "serde")]

mod support;

use std::time::Duration;

use bulwark_balance::{BalanceLayer, OutlierDetection};
use bulwark_test_support::fuzz::{
    accepted, anything, duration_text, inputs, number, object, paused_runtime, read,
};
use proptest::prelude::*;
use serde_json::Value;
use support::{call, ejected, failing, max_ejected};

fn outlier_json() -> BoxedStrategy<Value> {
    const FIELDS: &[&str] = &[
        "consecutive_failures",
        "failure_percentage",
        "base_ejection_time",
        "max_ejection_time",
        "ejection_jitter",
        "max_ejection_percent",
        "panic_threshold",
    ];
    object(FIELDS, |field| {
        match field {
        "consecutive_failures" => prop_oneof![3 => (0u32..6).prop_map(Value::from), 1 => Just(Value::Null), 1 => anything()].boxed(),
        "failure_percentage" => prop_oneof![
            3 => object(&["percent", "min_requests", "interval"], |f| match f {
                "interval" => prop_oneof![3 => duration_text().prop_map(Value::String), 1 => anything()].boxed(),
                "min_requests" => prop_oneof![3 => (0u32..10).prop_map(Value::from), 1 => number()].boxed(),
                _ => prop_oneof![3 => (-10.0f64..120.0).prop_map(Value::from), 1 => number()].boxed(),
            }),
            1 => anything(),
        ]
        .boxed(),
        "base_ejection_time" | "max_ejection_time" => {
            prop_oneof![3 => duration_text().prop_map(Value::String), 1 => anything()].boxed()
        }
        "ejection_jitter" => prop_oneof![3 => (-0.5f64..1.5).prop_map(Value::from), 1 => number()].boxed(),
        _ => prop_oneof![3 => (-10.0f64..120.0).prop_map(Value::from), 1 => number(), 1 => anything()].boxed(),
    }
    })
}

fn check(input: &str) -> Result<(), TestCaseError> {
    let Some(outlier) = read::<OutlierDetection>(input)? else {
        return Ok(());
    };
    let percent = outlier.get_max_ejection_percent();
    prop_assert!((0.0..=100.0).contains(&percent));
    prop_assert!((0.0..=100.0).contains(&outlier.get_panic_threshold()));
    paused_runtime().block_on(async {
        let mut lb = BalanceLayer::builder()
            .outlier_detection(outlier)
            .seed(3)
            .build()
            .endpoints(failing(&["a", "b", "c", "d"]));
        let most = max_ejected(4, percent);
        for round in 0..40 {
            let _ = call(&mut lb, ()).await;
            let ejected = ejected(&lb.handle());
            prop_assert!(ejected <= most, "{} ejected, at most {}", ejected, most);
            if round % 10 == 9 {
                tokio::time::advance(Duration::from_secs(3600)).await;
            }
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn outlier_config_is_read_safely(input in inputs(outlier_json())) {
        check(&input)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000_000))]

    #[test]
    #[ignore = "a million inputs; run with --ignored"]
    fn outlier_config_is_read_safely_long(input in inputs(outlier_json())) {
        check(&input)?;
    }
}

/// The near-valid inputs reach the accepted path often enough for the fuzzing to test it.
#[test]
fn the_structured_inputs_are_often_accepted() {
    let accepted = accepted(outlier_json(), 2_000, |s| {
        serde_json::from_str::<OutlierDetection>(s).is_ok()
    });
    eprintln!("{accepted} of 2000 structured inputs accepted");
    assert!(accepted >= 20, "only {accepted} of 2000 accepted");
}

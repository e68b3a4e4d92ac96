//! Hostile configuration for `TimeoutConfig`: arbitrary text and near-valid JSON. Reading
//! never panics; what is refused is refused with a message; what is accepted builds a layer
//! that, under paused time, lets a call through or elapses exactly at its timeout, however
//! short or absurdly long the timeout is.
#![cfg(feature = "serde")]

use std::time::Duration;

use bulwark_test_support::fuzz::{
    accepted, anything, assert_refused, duration_value, inputs, object_weighted, paused_runtime,
    read,
};
use bulwark_timeout::{Elapsed, TimeoutConfig, TimeoutLayer};
use proptest::prelude::*;
use serde_json::Value;
use tower::{service_fn, Layer, ServiceExt};

fn timeout_json() -> BoxedStrategy<Value> {
    object_weighted(0.8, &["timeout", "name"], |field| match field {
        "timeout" => duration_value(),
        _ => prop_oneof![".{0,8}".prop_map(Value::from), anything()].boxed(),
    })
}

fn check(input: &str) -> Result<(), TestCaseError> {
    let Some(config) = read::<TimeoutConfig>(input)? else {
        return Ok(());
    };
    let timeout = config.timeout;
    let layer = TimeoutLayer::from_config(config);
    prop_assert_eq!(layer.timeout(), timeout);
    paused_runtime().block_on(async {
        // The call takes a second.
        let svc = layer.layer(service_fn(|_: http::Request<()>| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, std::io::Error>("done")
        }));
        let start = tokio::time::Instant::now();
        let result = svc.oneshot(http::Request::new(())).await;
        let took = start.elapsed();
        if timeout < Duration::from_secs(1) {
            prop_assert!(result.unwrap_err().is::<Elapsed>());
            // Paused time and tokio's millisecond timer: it fires within a millisecond.
            prop_assert!(
                took >= timeout && took <= timeout + Duration::from_millis(1),
                "{:?} for {:?}",
                took,
                timeout
            );
        } else {
            prop_assert_eq!(result.unwrap(), "done");
            prop_assert_eq!(took, Duration::from_secs(1));
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn timeout_config_is_read_safely(input in inputs(timeout_json())) {
        check(&input)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000_000))]

    #[test]
    #[ignore = "a million inputs; run with --ignored"]
    fn timeout_config_is_read_safely_long(input in inputs(timeout_json())) {
        check(&input)?;
    }
}

#[test]
fn nonsense_is_refused() {
    for (input, words) in [
        (r#"{"timeout":"soon"}"#, "soon"),
        (r#"{"timeout":"-1s"}"#, "-1s"),
        (r#"{"timeout":5}"#, "expected a string"),
        (r#"{"name":"x"}"#, "timeout"),
        (r#"{"timeout":"1s","retries":1}"#, "retries"),
    ] {
        assert_refused::<TimeoutConfig>(input, words);
    }
}

/// The near-valid inputs reach the accepted path often enough for the fuzzing to test it.
#[test]
fn the_structured_inputs_are_often_accepted() {
    let accepted = accepted(timeout_json(), 2_000, |s| {
        serde_json::from_str::<TimeoutConfig>(s).is_ok()
    });
    eprintln!("{accepted} of 2000 structured inputs accepted");
    assert!(accepted >= 20, "only {accepted} of 2000 accepted");
}

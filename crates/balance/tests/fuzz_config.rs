//! Hostile configuration for `OutlierDetection`: arbitrary text and near-valid JSON. Reading
//! never panics; what is refused is refused with a message; what is accepted drives a
//! balancer whose endpoints all fail, under paused time, without panicking, and never ejects
//! more endpoints than its maximum percentage allows.
#![cfg(feature = "serde")]

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use bulwark_balance::{BalanceLayer, OutlierDetection};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use support::{call, ep};

/// Durations as a config file might write them, right or wrong.
fn duration_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[0-9]{1,4}(ns|us|ms|s|m|h|d)",
        1 => "[0-9]{0,25}(ns|us|ms|s|m|h|d|w|y|M|fortnights|)( [0-9]{1,6}(ms|s|h|y))?",
        1 => "-[0-9]{1,3}s",
        1 => "[0-9]{1,3}\\.[0-9]{1,3}s",
        1 => ".{0,12}",
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-10i64..100).prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (-2.0f64..3.0).prop_map(Value::from),
        Just(json!(1e308)),
    ]
}

/// Any value, favouring the kinds the fields expect.
fn anything() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        duration_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object with some of `fields`, each given a value from `value`, and now and then a field
/// that does not exist.
fn object(
    fields: &'static [&'static str],
    value: impl Fn(&'static str) -> BoxedStrategy<Value>,
) -> BoxedStrategy<Value> {
    let per_field: Vec<_> = fields
        .iter()
        .map(|&f| proptest::option::weighted(0.35, value(f)).prop_map(move |v| (f, v)))
        .collect();
    (per_field, proptest::option::weighted(0.1, "[a-z_]{1,10}"))
        .prop_map(|(pairs, extra)| {
            let mut map = Map::new();
            for (field, v) in pairs {
                if let Some(v) = v {
                    map.insert(field.to_owned(), v);
                }
            }
            if let Some(extra) = extra {
                map.insert(extra, json!(1));
            }
            Value::Object(map)
        })
        .boxed()
}

/// Raw text: arbitrary characters, or JSON cut short or padded with junk.
fn text(structured: BoxedStrategy<Value>) -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,64}",
        proptest::collection::vec(any::<u8>(), 0..64)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        (structured, any::<usize>(), ".{0,4}").prop_map(|(v, cut, junk)| {
            let s = v.to_string();
            let mut at = cut % (s.len() + 1);
            while !s.is_char_boundary(at) {
                at -= 1;
            }
            format!("{}{junk}", &s[..at])
        }),
    ]
}

/// Half near-valid JSON, half raw text.
fn inputs(structured: BoxedStrategy<Value>) -> impl Strategy<Value = String> {
    prop_oneof![
        structured.clone().prop_map(|v| v.to_string()),
        text(structured)
    ]
}

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
    let outlier = match serde_json::from_str::<OutlierDetection>(input) {
        Err(err) => {
            prop_assert!(!err.to_string().is_empty());
            return Ok(());
        }
        Ok(outlier) => outlier,
    };
    let percent = outlier.get_max_ejection_percent();
    prop_assert!((0.0..=100.0).contains(&percent));
    prop_assert!((0.0..=100.0).contains(&outlier.get_panic_threshold()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let endpoints: Vec<_> = ["a", "b", "c", "d"]
            .into_iter()
            .map(|k| {
                let (e, c) = ep(k);
                c.fail.store(true, Ordering::SeqCst);
                (k, e)
            })
            .collect();
        let mut lb = BalanceLayer::builder()
            .outlier_detection(outlier)
            .seed(3)
            .build()
            .endpoints(endpoints);
        let most = if percent <= 0.0 {
            0
        } else {
            ((4.0 * percent / 100.0).floor() as usize).max(1)
        };
        for round in 0..40 {
            let _ = call(&mut lb, ()).await;
            let ejected = lb.handle().endpoints().iter().filter(|e| e.ejected).count();
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
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = outlier_json();
    let accepted = (0..2_000)
        .filter(|_| {
            let input = strategy
                .new_tree(&mut runner)
                .unwrap()
                .current()
                .to_string();
            serde_json::from_str::<OutlierDetection>(&input).is_ok()
        })
        .count();
    eprintln!("{accepted} of 2000 structured inputs accepted");
    assert!(accepted >= 20, "only {accepted} of 2000 accepted");
}

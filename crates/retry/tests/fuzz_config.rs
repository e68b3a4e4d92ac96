//! Hostile configuration for `RetryConfig`: arbitrary text and near-valid JSON (the right
//! fields with wrong types, nested backoff and budget objects that are almost right, unknown
//! fields). Reading never panics; what is refused is refused with a message; what is accepted
//! builds a layer, and that layer retries a failing call under paused time within its
//! attempts, its budget and its backoff's cap, without panicking.
#![cfg(feature = "serde")]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use bulwark_policy::{BoxError, IgnoreDeadline};
use bulwark_retry::{RetryConfig, RetryLayer};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use tower::{service_fn, Layer, ServiceExt};

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

fn budget_json() -> BoxedStrategy<Value> {
    object(
        &["ttl", "min_per_sec", "retry_percent"],
        |field| match field {
            "ttl" => {
                prop_oneof![3 => duration_text().prop_map(Value::String), 1 => anything()].boxed()
            }
            _ => prop_oneof![3 => number(), 1 => anything()].boxed(),
        },
    )
}

fn backoff_json() -> BoxedStrategy<Value> {
    const FIELDS: &[&str] = &[
        "step",
        "factor",
        "max_delay",
        "jitter",
        "retry_after_cap",
        "ignore_retry_after",
    ];
    let optional = object(FIELDS, |field| match field {
        "factor" => prop_oneof![3 => number(), 1 => anything()].boxed(),
        "jitter" => prop_oneof![
            prop_oneof![
                Just("none"),
                Just("full"),
                Just("equal"),
                Just("decorrelated"),
                Just("proportional")
            ]
            .prop_map(Value::from),
            number().prop_map(|n| json!({ "proportional": n })),
            anything(),
        ]
        .boxed(),
        "ignore_retry_after" => {
            prop_oneof![any::<bool>().prop_map(Value::Bool), anything()].boxed()
        }
        _ => prop_oneof![3 => duration_text().prop_map(Value::String), 1 => anything()].boxed(),
    });
    // The two required fields are there most of the time.
    let kind = prop_oneof![
        3 => prop_oneof![Just("constant"), Just("linear"), Just("exponential")].prop_map(Value::from),
        1 => anything(),
    ];
    let base = prop_oneof![3 => duration_text().prop_map(Value::String), 1 => anything()];
    (
        optional,
        proptest::option::weighted(0.9, kind),
        proptest::option::weighted(0.9, base),
    )
        .prop_map(|(mut object, kind, base)| {
            if let Value::Object(map) = &mut object {
                if let Some(kind) = kind {
                    map.insert("kind".into(), kind);
                }
                if let Some(base) = base {
                    map.insert("base".into(), base);
                }
            }
            object
        })
        .boxed()
}

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
    let config = match serde_json::from_str::<RetryConfig>(input) {
        Err(err) => {
            prop_assert!(!err.to_string().is_empty());
            return Ok(());
        }
        Ok(config) => config,
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
        .build();
    let layer = match layer {
        Ok(layer) => layer,
        Err(err) => {
            return Err(TestCaseError::fail(format!(
                "{config:?} read but not built: {err}"
            )))
        }
    };
    prop_assert_eq!(layer.max_attempts(), config.max_attempts);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
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
        // No sleep beyond the backoff's cap between attempts.
        let slept = start.elapsed();
        let cap = config.backoff.get_max_delay();
        prop_assert!(
            slept <= cap.saturating_mul(attempts),
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
        let err = serde_json::from_str::<RetryConfig>(input)
            .unwrap_err()
            .to_string();
        assert!(err.contains(words), "{input}: {err}");
    }
}

/// The near-valid inputs reach the accepted path often enough for the fuzzing to test it.
#[test]
fn the_structured_inputs_are_often_accepted() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = retry_json();
    let accepted = (0..2_000)
        .filter(|_| {
            let input = strategy
                .new_tree(&mut runner)
                .unwrap()
                .current()
                .to_string();
            serde_json::from_str::<RetryConfig>(&input).is_ok()
        })
        .count();
    eprintln!("{accepted} of 2000 structured inputs accepted");
    assert!(accepted >= 20, "only {accepted} of 2000 accepted");
}

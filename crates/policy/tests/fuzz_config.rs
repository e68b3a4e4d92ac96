//! Hostile configuration for `BudgetConfig` and `Backoff`: arbitrary text and near-valid JSON
//! (the right fields with wrong types, negative, huge, fractional and malformed durations,
//! unknown fields). Reading never panics; what is refused is refused with a message; what is
//! accepted builds, and the built value works without panicking and within its own bounds.
#![cfg(feature = "serde")]

use std::time::Duration;

use bulwark_policy::{Backoff, BudgetConfig, Rng};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

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

fn check_budget(input: &str) -> Result<(), TestCaseError> {
    let Ok(config) = serde_json::from_str::<BudgetConfig>(input) else {
        return Ok(());
    };
    match config.build() {
        Err(err) => prop_assert!(!err.field().is_empty() && !err.to_string().is_empty()),
        Ok(budget) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            rt.block_on(async {
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
    match serde_json::from_str::<Backoff>(input) {
        Err(err) => prop_assert!(!err.to_string().is_empty()),
        Ok(backoff) => {
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
        }
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
        let err = serde_json::from_str::<Backoff>(input)
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
    let (budgets, backoffs) = (budget_json(), backoff_json());
    let (mut built, mut read) = (0, 0);
    for _ in 0..2_000 {
        let input = budgets.new_tree(&mut runner).unwrap().current().to_string();
        built += usize::from(
            serde_json::from_str::<BudgetConfig>(&input).is_ok_and(|c| c.build().is_ok()),
        );
        let input = backoffs
            .new_tree(&mut runner)
            .unwrap()
            .current()
            .to_string();
        read += usize::from(serde_json::from_str::<Backoff>(&input).is_ok());
    }
    eprintln!("accepted of 2000: {built} budgets, {read} backoffs");
    assert!(
        built >= 20 && read >= 20,
        "{built} budgets, {read} backoffs"
    );
}

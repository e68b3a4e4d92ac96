//! Hostile configuration for `TimeoutConfig`: arbitrary text and near-valid JSON. Reading
//! never panics; what is refused is refused with a message; what is accepted builds a layer
//! that, under paused time, lets a call through or elapses exactly at its timeout, however
//! short or absurdly long the timeout is.
#![cfg(feature = "serde")]

use std::time::Duration;

use bulwark_timeout::{Elapsed, TimeoutConfig, TimeoutLayer};
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
        .map(|&f| proptest::option::weighted(0.8, value(f)).prop_map(move |v| (f, v)))
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

fn timeout_json() -> BoxedStrategy<Value> {
    object(&["timeout", "name"], |field| match field {
        "timeout" => {
            prop_oneof![4 => duration_text().prop_map(Value::String), 1 => anything()].boxed()
        }
        _ => prop_oneof![".{0,8}".prop_map(Value::from), anything()].boxed(),
    })
}

fn check(input: &str) -> Result<(), TestCaseError> {
    let config = match serde_json::from_str::<TimeoutConfig>(input) {
        Err(err) => {
            prop_assert!(!err.to_string().is_empty());
            return Ok(());
        }
        Ok(config) => config,
    };
    let timeout = config.timeout;
    let layer = TimeoutLayer::from_config(config);
    prop_assert_eq!(layer.timeout(), timeout);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
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
        let err = serde_json::from_str::<TimeoutConfig>(input)
            .unwrap_err()
            .to_string();
        assert!(err.contains(words), "{input}: {err}");
    }
}

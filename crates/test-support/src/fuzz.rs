//! Proptest strategies for hostile configuration: arbitrary text and near-valid JSON.
//!
//! A config fuzz test describes its type's fields with [`object`] (each field given a value
//! that is usually of the right kind, from [`duration_text`], [`number`], [`rate`], … and
//! now and then [`anything`]), feeds [`inputs`] of that to its reader, and checks that what
//! is refused is refused with a message ([`read`]) and that what is accepted works. The
//! counter [`accepted`] shows that the near-valid inputs reach the accepted path often
//! enough for the fuzzing to test it.
//!
//! Behind the cargo feature `fuzz`.
//!
//! ```
//! use bulwark_test_support::fuzz::{accepted, anything, duration_value, inputs, object, read};
//! use proptest::prelude::*;
//! use proptest::test_runner::TestCaseError;
//! use serde_json::Value;
//!
//! #[derive(Debug, serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Config {
//!     ttl: String,
//!     enabled: Option<bool>,
//! }
//!
//! fn config_json() -> BoxedStrategy<Value> {
//!     object(&["ttl", "enabled"], |field| match field {
//!         "ttl" => duration_value(),
//!         _ => prop_oneof![any::<bool>().prop_map(Value::Bool), anything()].boxed(),
//!     })
//! }
//!
//! fn check(input: &str) -> Result<(), TestCaseError> {
//!     let Some(config) = read::<Config>(input)? else {
//!         return Ok(());
//!     };
//!     prop_assert!(config.ttl.len() <= input.len());
//!     Ok(())
//! }
//!
//! let mut runner = proptest::test_runner::TestRunner::deterministic();
//! runner
//!     .run(&inputs(config_json()), |input| check(&input))
//!     .unwrap();
//! let read_ok = accepted(config_json(), 200, |s| serde_json::from_str::<Config>(s).is_ok());
//! assert!(read_ok > 0);
//! ```

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{TestCaseError, TestRunner};
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

/// Durations as a config file might write them, right or wrong: mostly well formed
/// (`"250ms"`, `"3h"`), and otherwise with absurd numbers, unknown or missing units, a second
/// part, a sign, a fraction, or any short text.
///
/// ```
/// use bulwark_test_support::fuzz::duration_text;
/// use proptest::strategy::{Strategy, ValueTree};
///
/// let mut runner = proptest::test_runner::TestRunner::deterministic();
/// let text = duration_text().new_tree(&mut runner).unwrap().current();
/// assert!(text.chars().count() <= 64);
/// ```
pub fn duration_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[0-9]{1,4}(ns|us|ms|s|m|h|d)",
        1 => "[0-9]{0,25}(ns|us|ms|s|m|h|d|w|y|M|fortnights|)( [0-9]{1,6}(ms|s|h|y))?",
        1 => "-[0-9]{1,3}s",
        1 => "[0-9]{1,3}\\.[0-9]{1,3}s",
        1 => ".{0,12}",
    ]
}

/// JSON numbers, right or wrong: any `i64`, `u64` or `f64` (a NaN or an infinity, which JSON
/// cannot hold, becomes `null`), small integers and fractions around the usual ranges, and
/// `1e308`.
///
/// ```
/// use bulwark_test_support::fuzz::number;
/// use proptest::strategy::{Strategy, ValueTree};
///
/// let mut runner = proptest::test_runner::TestRunner::deterministic();
/// let value = number().new_tree(&mut runner).unwrap().current();
/// assert!(value.is_number() || value.is_null());
/// ```
pub fn number() -> impl Strategy<Value = Value> {
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

/// Any JSON value, favouring the kinds config fields expect: `null`, booleans, [`number`]s,
/// [`duration_text`]s, and arrays and objects of those nested at most two deep.
///
/// ```
/// use bulwark_test_support::fuzz::anything;
/// use proptest::strategy::{Strategy, ValueTree};
///
/// let mut runner = proptest::test_runner::TestRunner::deterministic();
/// let value = anything().new_tree(&mut runner).unwrap().current();
/// assert!(serde_json::from_str::<serde_json::Value>(&value.to_string()).is_ok());
/// ```
pub fn anything() -> impl Strategy<Value = Value> {
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

/// A duration field's value: four times in five a [`duration_text`], otherwise [`anything`].
///
/// ```
/// use bulwark_test_support::fuzz::{duration_value, object};
///
/// let latency = object(&["min", "max"], |_| duration_value());
/// # drop(latency);
/// ```
pub fn duration_value() -> BoxedStrategy<Value> {
    prop_oneof![4 => duration_text().prop_map(Value::String), 1 => anything()].boxed()
}

/// A rate field's value: four times in six a number from 0 to 1, otherwise a [`number`] or
/// [`anything`].
///
/// ```
/// use bulwark_test_support::fuzz::{object, rate};
///
/// let rates = object(&["error_rate", "latency_rate"], |_| rate());
/// # drop(rates);
/// ```
pub fn rate() -> BoxedStrategy<Value> {
    prop_oneof![4 => (0.0f64..=1.0).prop_map(Value::from), 1 => number(), 1 => anything()].boxed()
}

/// A JSON object with some of `fields` (each there with probability 0.35), each given a
/// value from `value(field)`, and one time in ten a field that does not exist.
///
/// ```
/// use bulwark_test_support::fuzz::{duration_value, number, object};
/// use proptest::prelude::*;
///
/// let budget = object(&["ttl", "retry_percent"], |field| match field {
///     "ttl" => duration_value(),
///     _ => number().boxed(),
/// });
/// # drop(budget);
/// ```
pub fn object(
    fields: &'static [&'static str],
    value: impl Fn(&'static str) -> BoxedStrategy<Value>,
) -> BoxedStrategy<Value> {
    object_weighted(0.35, fields, value)
}

/// As [`object`], with each field there with probability `present` (for a type with few
/// fields, most of them required).
///
/// ```
/// use bulwark_test_support::fuzz::{anything, duration_value, object_weighted};
/// use proptest::prelude::*;
///
/// let timeout = object_weighted(0.8, &["timeout", "name"], |field| match field {
///     "timeout" => duration_value(),
///     _ => anything().boxed(),
/// });
/// # drop(timeout);
/// ```
pub fn object_weighted(
    present: f64,
    fields: &'static [&'static str],
    value: impl Fn(&'static str) -> BoxedStrategy<Value>,
) -> BoxedStrategy<Value> {
    let per_field: Vec<_> = fields
        .iter()
        .map(|&f| proptest::option::weighted(present, value(f)).prop_map(move |v| (f, v)))
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

/// Raw text: arbitrary characters, arbitrary bytes read lossily as UTF-8, or a `structured`
/// value written as JSON, cut short at any point and padded with junk.
///
/// ```
/// use bulwark_test_support::fuzz::{number, text};
/// use proptest::prelude::*;
///
/// let broken = text(number().boxed());
/// # drop(broken);
/// ```
pub fn text(structured: BoxedStrategy<Value>) -> impl Strategy<Value = String> {
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

/// The inputs of a config fuzz test: half the time a `structured` (near-valid) value written
/// as JSON, half the time [`text`].
///
/// ```
/// use bulwark_test_support::fuzz::{inputs, rate};
/// use proptest::prelude::*;
///
/// proptest! {
///     #![proptest_config(ProptestConfig::with_cases(10))]
///     fn a_rate_is_read_safely(input in inputs(rate())) {
///         let _ = serde_json::from_str::<f64>(&input);
///     }
/// }
/// # a_rate_is_read_safely();
/// ```
pub fn inputs(structured: BoxedStrategy<Value>) -> impl Strategy<Value = String> {
    prop_oneof![
        structured.clone().prop_map(|v| v.to_string()),
        text(structured)
    ]
}

/// Reads `input` as JSON into a `T`: `Ok(Some(config))` when it is accepted, `Ok(None)` when
/// it is refused with a message, and a test failure when it is refused with an empty one.
///
/// ```
/// use bulwark_test_support::fuzz::read;
///
/// assert_eq!(read::<u32>("7").unwrap(), Some(7));
/// assert_eq!(read::<u32>("-7").unwrap(), None);
/// ```
pub fn read<T: DeserializeOwned>(input: &str) -> Result<Option<T>, TestCaseError> {
    match serde_json::from_str::<T>(input) {
        Err(err) => {
            prop_assert!(!err.to_string().is_empty());
            Ok(None)
        }
        Ok(config) => Ok(Some(config)),
    }
}

/// Asserts that `input` is refused as a `T`, with an error message that contains `words`.
///
/// ```
/// bulwark_test_support::fuzz::assert_refused::<u8>("300", "expected u8");
/// ```
///
/// # Panics
///
/// If `input` is read, or the message does not contain `words`.
pub fn assert_refused<T: DeserializeOwned>(input: &str, words: &str) {
    match serde_json::from_str::<T>(input) {
        Ok(_) => panic!("{input}: read, but should be refused"),
        Err(err) => {
            let err = err.to_string();
            assert!(err.contains(words), "{input}: {err}");
        }
    }
}

/// How many of `count` values of `structured`, written as JSON, `reads` accepts. The values
/// come from a deterministic runner: the same on every run.
///
/// ```
/// use bulwark_test_support::fuzz::{accepted, rate};
///
/// let fractions = accepted(rate(), 2_000, |s| serde_json::from_str::<f64>(s).is_ok());
/// assert!(fractions >= 20, "only {fractions} of 2000 read");
/// ```
pub fn accepted(
    structured: BoxedStrategy<Value>,
    count: usize,
    reads: impl Fn(&str) -> bool,
) -> usize {
    let mut runner = TestRunner::deterministic();
    (0..count)
        .filter(|_| {
            let value = structured
                .new_tree(&mut runner)
                .expect("a JSON value strategy never rejects")
                .current();
            reads(&value.to_string())
        })
        .count()
}

/// A current-thread tokio runtime with time enabled and paused, for a proptest body (which
/// is not async) to drive a layer built from an accepted config.
///
/// ```
/// use std::time::Duration;
///
/// let rt = bulwark_test_support::fuzz::paused_runtime();
/// rt.block_on(async {
///     let start = tokio::time::Instant::now();
///     tokio::time::sleep(Duration::from_secs(3600)).await;
///     assert_eq!(start.elapsed(), Duration::from_secs(3600));
/// });
/// ```
pub fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime builds")
}

/// Near-valid JSON for `bulwark_policy::BudgetConfig`: some of `ttl` (mostly a
/// [`duration_text`]), `min_per_sec` and `retry_percent` (mostly [`number`]s).
///
/// ```
/// use bulwark_test_support::fuzz::{budget_json, inputs};
///
/// let budgets = inputs(budget_json());
/// # drop(budgets);
/// ```
pub fn budget_json() -> BoxedStrategy<Value> {
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

/// Near-valid JSON for `bulwark_policy::Backoff`: mostly with its required `kind` and `base`,
/// and some of `step`, `factor`, `max_delay`, `jitter` (a named kind, a proportion, or
/// anything), `retry_after_cap` and `ignore_retry_after`.
///
/// ```
/// use bulwark_test_support::fuzz::{backoff_json, inputs};
///
/// let backoffs = inputs(backoff_json());
/// # drop(backoffs);
/// ```
pub fn backoff_json() -> BoxedStrategy<Value> {
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

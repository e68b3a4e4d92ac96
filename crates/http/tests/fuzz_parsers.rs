//! Hostile header values for the three parsers a server controls: `Retry-After`,
//! `grpc-timeout` and `grpc-retry-pushback-ms`, and the server layer that turns
//! `grpc-timeout` into a deadline.
//!
//! Each is fed arbitrary bytes and near-valid values (signs, spaces and tabs, fractions,
//! leading zeros, too many digits, wrong units, dates in odd formats and far years). None
//! panics; no wait is ever longer than the cap it was given; a well-formed value is read
//! exactly as its grammar says. 10,000 inputs per parser in the default run, a million behind
//! `#[ignore]`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bulwark_http::{
    parse_grpc_timeout, parse_pushback, parse_retry_after, pushback, retry_after, Deadline,
    Pushback, ReadGrpcTimeoutLayer, GRPC_RETRY_PUSHBACK_MS, GRPC_TIMEOUT,
};
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use tower::{service_fn, Layer};

/// Digits as the grammar reads them: saturating at `u64::MAX`.
fn digits_value(digits: &str) -> u64 {
    digits.bytes().fold(0u64, |acc, b| {
        acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    })
}

fn trim(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Values a misbehaving server might send: mostly almost right.
fn near_numbers() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,25}",
        "[ \t]{0,2}[0-9]{1,12}[ \t]{0,2}",
        "[-+][0-9]{1,6}",
        "[0-9]{1,4}\\.[0-9]{1,3}",
        "0{1,30}[0-9]{0,3}",
        "[0-9]{1,3}[eE][0-9]{1,3}",
        "[0-9]{0,3}[ ,;][0-9]{0,3}",
        "[0-9]{1,10}[A-Za-z]{1,3}",
        "\u{0}[0-9]{1,3}",
        ".{0,10}",
    ]
}

fn dates() -> impl Strategy<Value = String> {
    let days = prop_oneof![Just("Mon"), Just("Tue"), Just("Sun"), Just("Xyz")];
    let months = prop_oneof![
        Just("Jan"),
        Just("Feb"),
        Just("Nov"),
        Just("Dec"),
        Just("Foo")
    ];
    prop_oneof![
        // IMF-fixdate, sometimes with impossible fields.
        (
            days.clone(),
            0u32..40,
            months.clone(),
            1900u32..10_050,
            0u32..26,
            0u32..62,
            0u32..62
        )
            .prop_map(|(d, day, m, y, h, min, s)| format!(
                "{d}, {day:02} {m} {y} {h:02}:{min:02}:{s:02} GMT"
            )),
        // RFC 850 and asctime, which HTTP-date also allows.
        (0u32..32, months.clone(), 0u32..100)
            .prop_map(|(day, m, y)| format!("Sunday, {day:02}-{m}-{y:02} 08:49:37 GMT")),
        (months, 0u32..32, 1900u32..3000)
            .prop_map(|(m, day, y)| format!("Sun {m} {day:2} 08:49:37 {y}")),
        "[A-Za-z]{3}, [0-9]{1,3} [A-Za-z]{3} [0-9]{1,6} [0-9:]{1,9} [A-Z]{0,4}",
    ]
}

/// Arbitrary bytes, near-valid numbers, or dates.
fn values() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..48),
        near_numbers().prop_map(String::into_bytes),
        dates().prop_map(String::into_bytes),
    ]
}

fn caps() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::from_secs(30)),
        (0u64..u64::MAX).prop_map(Duration::from_nanos),
        Just(Duration::MAX),
    ]
}

fn check_retry_after(bytes: &[u8], now_secs: u64, max: Duration) -> Result<(), TestCaseError> {
    let Ok(value) = HeaderValue::from_bytes(bytes) else {
        return Ok(());
    };
    let now = UNIX_EPOCH + Duration::from_secs(now_secs);
    let got = parse_retry_after(&value, now, max);
    if let Some(wait) = got {
        prop_assert!(
            wait <= max,
            "{:?} over the cap {:?} for {:?}",
            wait,
            max,
            value
        );
    }
    let want = match value.to_str().map(trim) {
        Ok(text) if is_digits(text) => Some(Duration::from_secs(digits_value(text)).min(max)),
        Ok(text) => httpdate::parse_http_date(text)
            .ok()
            .map(|at| at.duration_since(now).unwrap_or(Duration::ZERO).min(max)),
        Err(_) => None,
    };
    prop_assert_eq!(got, want, "{:?}", value);
    // Through a header map, with the clock of the machine: still within the cap.
    let mut headers = HeaderMap::new();
    headers.append(http::header::RETRY_AFTER, value);
    if let Some(wait) = retry_after(&headers, max) {
        prop_assert!(wait <= max);
    }
    Ok(())
}

/// What `grpc-timeout` means: 1 to 8 digits and a unit, spaces and tabs around allowed.
fn grpc_timeout_model(bytes: &[u8]) -> Option<Duration> {
    let text = trim(std::str::from_utf8(bytes).ok()?);
    let unit = text.chars().last()?;
    let digits = &text[..text.len() - unit.len_utf8()];
    if !is_digits(digits) || digits.len() > 8 {
        return None;
    }
    let n = digits_value(digits);
    Some(match unit {
        'H' => Duration::from_secs(n * 3600),
        'M' => Duration::from_secs(n * 60),
        'S' => Duration::from_secs(n),
        'm' => Duration::from_millis(n),
        'u' => Duration::from_micros(n),
        'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

fn check_grpc_timeout(bytes: &[u8], max: Duration) -> Result<(), TestCaseError> {
    let Ok(value) = HeaderValue::from_bytes(bytes) else {
        return Ok(());
    };
    let got = parse_grpc_timeout(&value);
    prop_assert_eq!(got, grpc_timeout_model(bytes), "{:?}", value);
    if let Some(t) = got {
        prop_assert!(t <= Duration::from_secs(99_999_999 * 3600));
    }
    // A server reading it never grants more than its cap.
    if max.is_zero() {
        prop_assert!(ReadGrpcTimeoutLayer::new(max).is_err());
        return Ok(());
    }
    let mut svc = ReadGrpcTimeoutLayer::new(max).unwrap().layer(service_fn(
        |req: http::Request<()>| async move {
            Ok::<_, std::convert::Infallible>(req.extensions().get::<Deadline>().copied())
        },
    ));
    let req = http::Request::builder()
        .header(GRPC_TIMEOUT, value)
        .body(())
        .unwrap();
    let Ok(deadline) = bulwark_test_support::call_once(&mut svc, req);
    prop_assert_eq!(deadline.is_some(), got.is_some());
    if let Some(deadline) = deadline {
        prop_assert!(
            deadline.remaining() <= max,
            "{:?} over the cap {:?}",
            deadline.remaining(),
            max
        );
    }
    Ok(())
}

fn check_pushback(bytes: &[u8], max: Duration) -> Result<(), TestCaseError> {
    let Ok(value) = HeaderValue::from_bytes(bytes) else {
        return Ok(());
    };
    let got = parse_pushback(&value, max);
    let text = std::str::from_utf8(bytes).map(trim);
    let want = match text {
        Ok(t) if is_digits(t) => {
            Pushback::RetryAfter(Duration::from_millis(digits_value(t)).min(max))
        }
        _ => Pushback::DoNotRetry,
    };
    prop_assert_eq!(got, want, "{:?}", value);
    if let Pushback::RetryAfter(wait) = got {
        prop_assert!(wait <= max);
    }
    let mut headers = HeaderMap::new();
    headers.append(GRPC_RETRY_PUSHBACK_MS, value);
    prop_assert_eq!(pushback(&headers, max), Some(got));
    Ok(())
}

/// `grpc-timeout` values near the grammar: digits and one trailing character.
fn grpc_timeouts() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        values(),
        "[ \t]{0,2}[0-9]{0,10}[HMSmunhsx]{0,2}[ \t]{0,2}".prop_map(String::into_bytes),
        "[0-9]{8}[HMSmun]".prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn retry_after_is_total_exact_and_capped(bytes in values(), now in 0u64..400_000_000_000, max in caps()) {
        check_retry_after(&bytes, now, max)?;
    }

    #[test]
    fn grpc_timeout_is_total_exact_and_capped(bytes in grpc_timeouts(), max in caps()) {
        check_grpc_timeout(&bytes, max)?;
    }

    #[test]
    fn pushback_is_total_exact_and_capped(bytes in values(), max in caps()) {
        check_pushback(&bytes, max)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000_000))]

    #[test]
    #[ignore = "a million inputs; run with --ignored"]
    fn retry_after_a_million_inputs(bytes in values(), now in 0u64..400_000_000_000, max in caps()) {
        check_retry_after(&bytes, now, max)?;
    }

    #[test]
    #[ignore = "a million inputs; run with --ignored"]
    fn grpc_timeout_a_million_inputs(bytes in grpc_timeouts(), max in caps()) {
        check_grpc_timeout(&bytes, max)?;
    }

    #[test]
    #[ignore = "a million inputs; run with --ignored"]
    fn pushback_a_million_inputs(bytes in values(), max in caps()) {
        check_pushback(&bytes, max)?;
    }
}

/// A date far in the future is cut to the cap, not read as a wait of centuries.
#[test]
fn a_far_date_is_capped() {
    let value = HeaderValue::from_static("Fri, 31 Dec 9999 23:59:59 GMT");
    let max = Duration::from_secs(30);
    assert_eq!(parse_retry_after(&value, SystemTime::now(), max), Some(max));
}

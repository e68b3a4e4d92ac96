//! `Retry-After`: how long a server asked callers to wait, read and written.
//!
//! RFC 9110 §10.2.3 allows two forms: a number of seconds (`Retry-After: 120`) and an HTTP-date
//! (`Retry-After: Fri, 31 Dec 1999 23:59:59 GMT`). The parser is total: it never panics, reads
//! a malformed value as no value at all, and never returns more than the maximum it is given,
//! so a server cannot make a client sleep for a year by asking.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue};

/// Reads a `Retry-After` value, in either form, as a wait of at most `max`.
///
/// - delta-seconds (`120`): that many seconds; a number too large for any clock is `max`;
/// - an HTTP-date: the time from `now` until then, and zero for a date already past;
/// - anything else (`-1`, `1.5`, `soon`, an empty value): `None`.
///
/// `now` is passed in so that the date form can be tested; [`retry_after`] reads the clock.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use http::HeaderValue;
/// use bulwark_http::parse_retry_after;
///
/// let max = Duration::from_secs(60);
/// let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
/// let value = |s| HeaderValue::from_static(s);
///
/// assert_eq!(parse_retry_after(&value("5"), now, max), Some(Duration::from_secs(5)));
/// assert_eq!(parse_retry_after(&value("86400"), now, max), Some(max));
/// assert_eq!(
///     parse_retry_after(&value("Sun, 06 Nov 1994 08:49:47 GMT"), now, max),
///     Some(Duration::from_secs(10)),
/// );
/// assert_eq!(
///     parse_retry_after(&value("Sun, 06 Nov 1994 08:00:00 GMT"), now, max),
///     Some(Duration::ZERO),
/// );
/// assert_eq!(parse_retry_after(&value("-1"), now, max), None);
/// ```
pub fn parse_retry_after(value: &HeaderValue, now: SystemTime, max: Duration) -> Option<Duration> {
    let text = value.to_str().ok()?.trim_matches(|c| c == ' ' || c == '\t');
    let wait = if text.bytes().next()?.is_ascii_digit() {
        delta_seconds(text)?
    } else {
        let at = httpdate::parse_http_date(text).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(max))
}

/// Reads the first `Retry-After` header of `headers` against the system clock, as a wait of at
/// most `max`; see [`parse_retry_after`].
///
/// ```
/// use std::time::Duration;
/// use http::{header::RETRY_AFTER, HeaderMap, HeaderValue};
/// use bulwark_http::retry_after;
///
/// let mut headers = HeaderMap::new();
/// assert_eq!(retry_after(&headers, Duration::from_secs(30)), None);
/// headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
/// assert_eq!(retry_after(&headers, Duration::from_secs(30)), Some(Duration::from_secs(3)));
/// ```
pub fn retry_after(headers: &HeaderMap, max: Duration) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?;
    parse_retry_after(value, SystemTime::now(), max)
}

/// Writes a wait as a `Retry-After` value in whole seconds, rounded up, so that a caller who
/// honours it never comes back early.
///
/// ```
/// use std::time::Duration;
/// use bulwark_http::retry_after_value;
///
/// assert_eq!(retry_after_value(Duration::from_millis(1200)), "2");
/// assert_eq!(retry_after_value(Duration::from_secs(7)), "7");
/// assert_eq!(retry_after_value(Duration::ZERO), "0");
/// ```
pub fn retry_after_value(wait: Duration) -> HeaderValue {
    let secs = wait
        .as_secs()
        .saturating_add(u64::from(wait.subsec_nanos() > 0));
    HeaderValue::from(secs)
}

/// `1*DIGIT` as seconds, saturating: a number too large for a `Duration` is as good as forever,
/// and the caller's cap brings it back to earth.
fn delta_seconds(text: &str) -> Option<Duration> {
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs = text.bytes().fold(0u64, |acc, b| {
        acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    });
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use proptest::prelude::*;

    use super::*;

    const MAX: Duration = Duration::from_secs(120);

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn parse(s: &str) -> Option<Duration> {
        parse_retry_after(&HeaderValue::from_str(s).unwrap(), now(), MAX)
    }

    #[test]
    fn reads_delta_seconds() {
        assert_eq!(parse("0"), Some(Duration::ZERO));
        assert_eq!(parse("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse("007"), Some(Duration::from_secs(7)));
        assert_eq!(parse("121"), Some(MAX));
        assert_eq!(parse("99999999999999999999999999999"), Some(MAX));
    }

    #[test]
    fn reads_all_three_date_formats() {
        // 1_700_000_000 is Tue, 14 Nov 2023 22:13:20 GMT.
        for date in [
            "Tue, 14 Nov 2023 22:13:50 GMT",
            "Tuesday, 14-Nov-23 22:13:50 GMT",
            "Tue Nov 14 22:13:50 2023",
        ] {
            assert_eq!(parse(date), Some(Duration::from_secs(30)), "{date}");
        }
        assert_eq!(parse("Tue, 14 Nov 2023 22:13:20 GMT"), Some(Duration::ZERO));
        assert_eq!(parse("Thu, 01 Jan 1970 00:00:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse("Fri, 31 Dec 9999 23:59:59 GMT"), Some(MAX));
    }

    #[test]
    fn ignores_malformed_values() {
        for bad in [
            "",
            " ",
            "-1",
            "+5",
            "1.5",
            "1e3",
            "5s",
            "soon",
            "0x10",
            "Tue, 14 Nov 2023",
            "5, 6",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        let opaque = HeaderValue::from_bytes(b"\xff12").unwrap();
        assert_eq!(parse_retry_after(&opaque, now(), MAX), None);
    }

    #[test]
    fn writes_whole_seconds_rounded_up() {
        assert_eq!(retry_after_value(Duration::from_nanos(1)), "1");
        assert_eq!(retry_after_value(Duration::from_secs(1)), "1");
        assert_eq!(retry_after_value(Duration::MAX), "18446744073709551615");
    }

    fn check_total(bytes: &[u8], max: Duration) -> Result<(), TestCaseError> {
        if let Ok(value) = HeaderValue::from_bytes(bytes) {
            if let Some(wait) = parse_retry_after(&value, now(), max) {
                prop_assert!(wait <= max);
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn never_panics_and_never_exceeds_the_cap(
            bytes in proptest::collection::vec(any::<u8>(), 0..40),
            max_ms in 0u64..10_000_000,
        ) {
            check_total(&bytes, Duration::from_millis(max_ms))?;
        }

        #[test]
        fn date_like_input_is_total(s in "[A-Za-z]{3}, [0-9]{1,3} [A-Za-z]{3} [0-9]{1,5} [0-9:]{1,9} GMT") {
            check_total(s.as_bytes(), MAX)?;
        }

        #[test]
        fn seconds_round_trip(secs in 0u64..1_000_000) {
            let value = retry_after_value(Duration::from_secs(secs));
            let cap = Duration::from_secs(2_000_000);
            prop_assert_eq!(parse_retry_after(&value, now(), cap), Some(Duration::from_secs(secs)));
        }

        #[test]
        fn written_values_never_shorten_the_wait(nanos in any::<u64>()) {
            let wait = Duration::from_nanos(nanos);
            let value = retry_after_value(wait);
            let read = parse_retry_after(&value, now(), Duration::MAX).unwrap();
            prop_assert!(read >= wait && read - wait < Duration::from_secs(1));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000_000))]

        #[test]
        #[ignore = "a million inputs; run with --ignored"]
        fn fuzz_a_million_inputs(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            check_total(&bytes, MAX)?;
        }
    }
}

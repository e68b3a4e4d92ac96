//! `grpc-timeout`: the time a gRPC client gives the server, read and written.
//!
//! The gRPC over HTTP/2 spec defines it as `TimeoutValue TimeoutUnit`: at most 8 ASCII digits
//! followed by one of `H` (hours), `M` (minutes), `S` (seconds), `m` (milliseconds), `u`
//! (microseconds) or `n` (nanoseconds).

use std::time::Duration;

use http::HeaderValue;

/// The name of the header, `grpc-timeout`.
///
/// ```
/// assert_eq!(bulwark_http::GRPC_TIMEOUT.as_str(), "grpc-timeout");
/// ```
pub const GRPC_TIMEOUT: http::HeaderName = http::HeaderName::from_static("grpc-timeout");

/// The largest number the spec allows: 8 digits.
const MAX_VALUE: u64 = 99_999_999;

/// Reads a `grpc-timeout` value; `None` if it is not 1 to 8 digits followed by a unit.
///
/// Zero (`0n`), which the spec's "positive integer" excludes but some clients send for an
/// expired deadline, is read as zero. Surrounding spaces are tolerated. The result is at most
/// 99,999,999 hours; a server caps it further (see
/// [`ReadGrpcTimeoutLayer`](crate::ReadGrpcTimeoutLayer)).
///
/// ```
/// use std::time::Duration;
/// use http::HeaderValue;
/// use bulwark_http::parse_grpc_timeout;
///
/// let parse = |s| parse_grpc_timeout(&HeaderValue::from_static(s));
/// assert_eq!(parse("250m"), Some(Duration::from_millis(250)));
/// assert_eq!(parse("3S"), Some(Duration::from_secs(3)));
/// assert_eq!(parse("1H"), Some(Duration::from_secs(3600)));
/// assert_eq!(parse("123456789n"), None); // nine digits
/// assert_eq!(parse("10"), None); // no unit
/// assert_eq!(parse("10s"), None); // seconds are `S`
/// ```
pub fn parse_grpc_timeout(value: &HeaderValue) -> Option<Duration> {
    let bytes = trim(value.as_bytes());
    let (&unit, digits) = bytes.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Writes a timeout as a `grpc-timeout` value: the finest unit whose count fits in 8 digits,
/// rounded down, so the server is never promised more time than the client has.
///
/// Two edge cases keep the value valid: zero is written `1n` (the spec wants a positive
/// number; a nanosecond is as good as expired), and anything beyond 99,999,999 hours is
/// written as that.
///
/// ```
/// use std::time::Duration;
/// use bulwark_http::format_grpc_timeout;
///
/// assert_eq!(format_grpc_timeout(Duration::from_millis(25)), "25000000n");
/// assert_eq!(format_grpc_timeout(Duration::from_millis(250)), "250000u");
/// assert_eq!(format_grpc_timeout(Duration::from_secs(5)), "5000000u");
/// assert_eq!(format_grpc_timeout(Duration::from_secs(3600)), "3600000m");
/// assert_eq!(format_grpc_timeout(Duration::ZERO), "1n");
/// ```
pub fn format_grpc_timeout(timeout: Duration) -> HeaderValue {
    let nanos = timeout.as_nanos();
    let units: [(u128, char); 6] = [
        (1, 'n'),
        (1_000, 'u'),
        (1_000_000, 'm'),
        (1_000_000_000, 'S'),
        (60_000_000_000, 'M'),
        (3_600_000_000_000, 'H'),
    ];
    let (count, unit) = units
        .iter()
        .map(|&(per, unit)| (nanos / per, unit))
        .find(|&(count, _)| count <= u128::from(MAX_VALUE))
        .unwrap_or((u128::from(MAX_VALUE), 'H'));
    let count = count.max(1);
    let mut text = count.to_string();
    text.push(unit);
    HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static("99999999H"))
}

pub(crate) fn trim(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn parse(s: &str) -> Option<Duration> {
        parse_grpc_timeout(&HeaderValue::from_str(s).unwrap())
    }

    #[test]
    fn reads_every_unit() {
        assert_eq!(parse("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse("2m"), Some(Duration::from_millis(2)));
        assert_eq!(parse("2u"), Some(Duration::from_micros(2)));
        assert_eq!(parse("2n"), Some(Duration::from_nanos(2)));
        assert_eq!(parse(" 2n\t"), Some(Duration::from_nanos(2)));
        assert_eq!(parse("0n"), Some(Duration::ZERO));
        assert_eq!(
            parse("99999999H"),
            Some(Duration::from_secs(99_999_999 * 3600))
        );
    }

    #[test]
    fn ignores_malformed_values() {
        for bad in [
            "",
            "S",
            "1",
            "1x",
            "1 S",
            "-1S",
            "+1S",
            "1.5S",
            "123456789S",
            "1SS",
            "１S",
            "0x1S",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            parse_grpc_timeout(&HeaderValue::from_bytes(b"1\xffS").unwrap()),
            None
        );
    }

    #[test]
    fn writes_the_finest_unit_that_fits() {
        let f = |d| format_grpc_timeout(d);
        assert_eq!(f(Duration::from_nanos(99_999_999)), "99999999n");
        assert_eq!(f(Duration::from_nanos(100_000_000)), "100000u");
        assert_eq!(f(Duration::from_nanos(100_000_999)), "100000u");
        assert_eq!(f(Duration::from_secs(100_000)), "100000S");
        assert_eq!(f(Duration::from_secs(100_000_000)), "1666666M");
        assert_eq!(f(Duration::from_secs(6_000_000_000)), "1666666H");
        assert_eq!(f(Duration::MAX), "99999999H");
    }

    fn check_total(bytes: &[u8]) -> Result<(), TestCaseError> {
        if let Ok(value) = HeaderValue::from_bytes(bytes) {
            if let Some(d) = parse_grpc_timeout(&value) {
                prop_assert!(d <= Duration::from_secs(99_999_999 * 3600));
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            check_total(&bytes)?;
        }

        #[test]
        fn well_formed_values_are_read(n in 0u64..=99_999_999, unit in "[HMSmun]") {
            let value = HeaderValue::from_str(&format!("{n}{unit}")).unwrap();
            prop_assert!(parse_grpc_timeout(&value).is_some());
        }

        #[test]
        fn written_values_are_valid_and_close_below(
            secs in 0u64..=u64::MAX,
            nanos in 0u32..1_000_000_000,
            small in any::<bool>(),
        ) {
            // Half the cases stay under a day, where the finer units are chosen.
            let d = if small {
                Duration::new(secs % 86_400, nanos)
            } else {
                Duration::new(secs, nanos)
            };
            let value = format_grpc_timeout(d);
            let bytes = value.as_bytes();
            prop_assert!(bytes.len() >= 2 && bytes.len() <= 9);
            let read = parse_grpc_timeout(&value).unwrap();
            let cap = Duration::from_secs(99_999_999 * 3600);
            if d.is_zero() {
                prop_assert_eq!(read, Duration::from_nanos(1));
            } else if d <= cap {
                prop_assert!(read <= d);
                // The unit is the finest that fits, so the count is at least 100,000 and
                // rounding down loses less than one part in 100,000.
                prop_assert!(d - read <= d / 100_000);
            } else {
                prop_assert_eq!(read, cap);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000_000))]

        #[test]
        #[ignore = "a million inputs; run with --ignored"]
        fn fuzz_a_million_inputs(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            check_total(&bytes)?;
        }
    }
}

//! `grpc-retry-pushback-ms`: a gRPC server's word on whether, and when, to retry.
//!
//! gRPC's retry design (proposal A6) gives the header three meanings: a non-negative integer
//! is how many milliseconds to wait before the next attempt; a negative or unparseable value
//! means "do not retry"; no header leaves the decision to the client's own policy.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};

/// The name of the header, `grpc-retry-pushback-ms`.
///
/// ```
/// assert_eq!(bulwark_http::GRPC_RETRY_PUSHBACK_MS.as_str(), "grpc-retry-pushback-ms");
/// ```
pub const GRPC_RETRY_PUSHBACK_MS: http::HeaderName =
    http::HeaderName::from_static("grpc-retry-pushback-ms");

/// What a server said through `grpc-retry-pushback-ms`.
///
/// ```
/// use std::time::Duration;
/// use http::HeaderValue;
/// use bulwark_http::{parse_pushback, Pushback};
///
/// let max = Duration::from_secs(10);
/// assert_eq!(
///     parse_pushback(&HeaderValue::from_static("250"), max),
///     Pushback::RetryAfter(Duration::from_millis(250)),
/// );
/// assert_eq!(parse_pushback(&HeaderValue::from_static("-1"), max), Pushback::DoNotRetry);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pushback {
    /// Retry, but not before this long.
    RetryAfter(Duration),
    /// Do not retry: the value was negative or could not be read.
    DoNotRetry,
}

/// Reads a `grpc-retry-pushback-ms` value, capping the wait at `max`.
///
/// A non-negative decimal integer is a wait in milliseconds (a number too large for any clock
/// is `max`). Anything else — a negative number, a fraction, text, an empty value — is
/// [`Pushback::DoNotRetry`], as gRPC's retry design requires.
///
/// ```
/// use std::time::Duration;
/// use http::HeaderValue;
/// use bulwark_http::{parse_pushback, Pushback};
///
/// let max = Duration::from_secs(10);
/// let read = |s| parse_pushback(&HeaderValue::from_static(s), max);
/// assert_eq!(read("0"), Pushback::RetryAfter(Duration::ZERO));
/// assert_eq!(read("99999999999"), Pushback::RetryAfter(max));
/// assert_eq!(read("1.5"), Pushback::DoNotRetry);
/// assert_eq!(read("soon"), Pushback::DoNotRetry);
/// ```
pub fn parse_pushback(value: &HeaderValue, max: Duration) -> Pushback {
    parse_pushback_bytes(value.as_bytes(), max)
}

pub(crate) fn parse_pushback_bytes(bytes: &[u8], max: Duration) -> Pushback {
    let bytes = super::timeout::trim(bytes);
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return Pushback::DoNotRetry;
    }
    let ms = bytes.iter().fold(0u64, |acc, b| {
        acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    });
    Pushback::RetryAfter(Duration::from_millis(ms).min(max))
}

/// Reads the first `grpc-retry-pushback-ms` header of `headers`; `None` when there is none.
///
/// ```
/// use std::time::Duration;
/// use http::{HeaderMap, HeaderValue};
/// use bulwark_http::{pushback, Pushback, GRPC_RETRY_PUSHBACK_MS};
///
/// let mut headers = HeaderMap::new();
/// assert_eq!(pushback(&headers, Duration::from_secs(1)), None);
/// headers.insert(GRPC_RETRY_PUSHBACK_MS, HeaderValue::from_static("-1"));
/// assert_eq!(pushback(&headers, Duration::from_secs(1)), Some(Pushback::DoNotRetry));
/// ```
pub fn pushback(headers: &HeaderMap, max: Duration) -> Option<Pushback> {
    headers
        .get(GRPC_RETRY_PUSHBACK_MS)
        .map(|value| parse_pushback(value, max))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const MAX: Duration = Duration::from_secs(30);

    fn read(s: &str) -> Pushback {
        parse_pushback(&HeaderValue::from_str(s).unwrap(), MAX)
    }

    #[test]
    fn reads_milliseconds_and_refusals() {
        assert_eq!(
            read("1500"),
            Pushback::RetryAfter(Duration::from_millis(1500))
        );
        assert_eq!(
            read(" 15 "),
            Pushback::RetryAfter(Duration::from_millis(15))
        );
        assert_eq!(read("30001"), Pushback::RetryAfter(MAX));
        for refusal in ["-1", "-0", "", "+1", "1e3", "0x10", "1 2", "ms"] {
            assert_eq!(read(refusal), Pushback::DoNotRetry, "{refusal:?}");
        }
    }

    fn check_total(bytes: &[u8]) -> Result<(), TestCaseError> {
        if let Ok(value) = HeaderValue::from_bytes(bytes) {
            if let Pushback::RetryAfter(d) = parse_pushback(&value, MAX) {
                prop_assert!(d <= MAX);
                prop_assert!(bytes.iter().any(u8::is_ascii_digit));
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn never_panics_and_never_exceeds_the_cap(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
            check_total(&bytes)?;
        }

        #[test]
        fn non_negative_integers_are_waits(ms in 0u64..30_000) {
            prop_assert_eq!(read(&ms.to_string()), Pushback::RetryAfter(Duration::from_millis(ms)));
        }

        #[test]
        fn negative_integers_are_refusals(ms in 1u64..u64::MAX) {
            prop_assert_eq!(read(&format!("-{ms}")), Pushback::DoNotRetry);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000_000))]

        #[test]
        #[ignore = "a million inputs; run with --ignored"]
        fn fuzz_a_million_inputs(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
            check_total(&bytes)?;
        }
    }
}

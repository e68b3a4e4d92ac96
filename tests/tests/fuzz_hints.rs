//! Hostile server hints end to end: an upstream that fails every call and sends an arbitrary
//! or near-valid `Retry-After` (HTTP) or `grpc-retry-pushback-ms` (gRPC) value, through a
//! retry layer with the matching classifier, under paused time.
//!
//! Never a panic; no wait between attempts is longer than the retry layer's cap on hints, so
//! the whole call never sleeps longer than `(attempts - 1) × cap`; a well-formed hint is
//! waited for exactly (cut to the cap); a gRPC "do not retry" (a negative or malformed
//! pushback) is obeyed.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bulwark_http::{GrpcClassifier, HttpClassifier, HttpReplay, ReplayBody};
use bulwark_policy::{Backoff, BoxError, Classify};
use bulwark_test_support::fuzz::paused_runtime;
use bytes::Bytes;
use http::HeaderValue;
use http_body_util::Empty;
use proptest::prelude::*;
use tower::{service_fn, Layer, ServiceExt};

const ATTEMPTS: u32 = 3;
const BACKOFF: Duration = Duration::from_millis(10);
/// The classifiers' own cap on a hint: one minute.
const CLASSIFIER_CAP: Duration = Duration::from_secs(60);

fn hints() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..32),
        "[ \t]{0,2}[0-9]{1,25}[ \t]{0,2}".prop_map(String::into_bytes),
        "[-+]?[0-9]{1,6}(\\.[0-9]{1,3})?".prop_map(String::into_bytes),
        "(Mon|Sun|Xyz), [0-9]{2} (Jan|Nov|Foo) [0-9]{4,5} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT"
            .prop_map(String::into_bytes),
        ".{0,12}".prop_map(String::into_bytes),
    ]
}

/// Digits only (spaces and tabs around allowed): the value in units.
fn plain_number(bytes: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(bytes)
        .ok()?
        .trim_matches(|c| c == ' ' || c == '\t');
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.bytes().fold(0u64, |acc, b| {
        acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

/// Runs one failing call with `hint` in `header`; returns the attempts made and the time
/// the call took.
async fn one_call<C>(
    classify: C,
    header: &'static str,
    status: u16,
    grpc: bool,
    hint: HeaderValue,
    cap: Duration,
) -> (u32, Duration)
where
    C: Classify<http::Response<()>, BoxError> + Clone + Send + Sync + 'static,
{
    let calls = Arc::new(AtomicU32::new(0));
    let seen = calls.clone();
    let upstream = service_fn(move |_: http::Request<ReplayBody<Empty<Bytes>>>| {
        seen.fetch_add(1, Ordering::SeqCst);
        let mut res = http::Response::builder().status(status);
        if grpc {
            res = res.header("grpc-status", "14");
        }
        let res = res.header(header, hint.clone()).body(()).unwrap();
        async move { Ok::<_, BoxError>(res) }
    });
    let retry = bulwark_retry::RetryLayer::builder()
        .max_attempts(ATTEMPTS)
        .backoff(Backoff::constant(BACKOFF))
        .honor_retry_after(cap)
        .no_budget()
        .classify(classify)
        .replay(HttpReplay)
        .build()
        .unwrap();
    let req = ReplayBody::wrap_request(http::Request::new(Empty::new()), 1024);
    let start = tokio::time::Instant::now();
    let _ = retry.layer(upstream).oneshot(req).await;
    (calls.load(Ordering::SeqCst), start.elapsed())
}

fn check(bytes: &[u8], cap_ms: u64, grpc: bool) -> Result<(), TestCaseError> {
    let Ok(hint) = HeaderValue::from_bytes(bytes) else {
        return Ok(());
    };
    let cap = Duration::from_millis(cap_ms);
    let rt = paused_runtime();
    let (attempts, took) = rt.block_on(async {
        if grpc {
            one_call(
                GrpcClassifier::new(),
                "grpc-retry-pushback-ms",
                200,
                true,
                hint,
                cap,
            )
            .await
        } else {
            one_call(HttpClassifier::new(), "retry-after", 503, false, hint, cap).await
        }
    });
    let longest = cap.max(BACKOFF);
    prop_assert!((1..=ATTEMPTS).contains(&attempts));
    prop_assert!(
        took <= longest * (attempts - 1),
        "{:?} for {} attempts, cap {:?}",
        took,
        attempts,
        cap
    );
    let exact = |unit: Duration, n: u64| {
        unit.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX))
            .min(CLASSIFIER_CAP)
            .min(cap)
    };
    match (grpc, plain_number(bytes)) {
        (false, Some(secs)) => {
            prop_assert_eq!(attempts, ATTEMPTS);
            prop_assert_eq!(took, exact(Duration::from_secs(1), secs) * (ATTEMPTS - 1));
        }
        (true, Some(ms)) => {
            prop_assert_eq!(attempts, ATTEMPTS);
            prop_assert_eq!(took, exact(Duration::from_millis(1), ms) * (ATTEMPTS - 1));
        }
        // Anything but a non-negative integer is gRPC's "do not retry".
        (true, None) => prop_assert_eq!(attempts, 1),
        (false, None) => {}
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn retry_after_hints_never_stretch_a_wait_past_the_cap(bytes in hints(), cap_ms in prop_oneof![1u64..100, 1u64..120_000]) {
        check(&bytes, cap_ms, false)?;
    }

    #[test]
    fn pushback_hints_never_stretch_a_wait_past_the_cap(bytes in hints(), cap_ms in prop_oneof![1u64..100, 1u64..120_000]) {
        check(&bytes, cap_ms, true)?;
    }
}

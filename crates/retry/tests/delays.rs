//! The delay before each retry: the backoff's, or the server's `retry_after` in its place.

mod support;

use std::time::Duration;

use bulwark_policy::{
    Backoff, BoxError, EventKind, IgnoreDeadline, Jitter, Outcome, Rejected, Rng,
};
use bulwark_retry::{RetryBuilder, RetryLayer};
use bulwark_test_support::RecordingHook;
use support::{by_status, failing, upstream, Answer, Boom};
use tower::{service_fn, Layer, ServiceExt};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Sends one request to an upstream that always fails; returns the gaps between its calls.
async fn gaps_for(backoff: Backoff, max_attempts: u32) -> Vec<Duration> {
    let up = failing();
    let svc = RetryLayer::builder()
        .max_attempts(max_attempts)
        .backoff(backoff)
        .deadline(IgnoreDeadline)
        .no_budget()
        .build()
        .unwrap()
        .layer(up.clone());
    assert_eq!(svc.oneshot(0).await, Err(Boom(max_attempts - 1)));
    up.calls.gaps()
}

#[tokio::test(start_paused = true)]
async fn constant_backoff_waits_the_same_each_time() {
    assert_eq!(gaps_for(Backoff::constant(ms(100)), 4).await, [ms(100); 3]);
}

#[tokio::test(start_paused = true)]
async fn linear_backoff_adds_a_step_each_time() {
    let gaps = gaps_for(Backoff::linear(ms(100), ms(50)), 4).await;
    assert_eq!(gaps, [ms(100), ms(150), ms(200)]);
}

#[tokio::test(start_paused = true)]
async fn exponential_backoff_multiplies_up_to_its_cap() {
    let b = Backoff::exponential(ms(100)).max_delay(ms(300));
    assert_eq!(gaps_for(b, 5).await, [ms(100), ms(200), ms(300), ms(300)]);
    let b = Backoff::exponential(ms(10)).factor(3.0);
    assert_eq!(gaps_for(b, 4).await, [ms(10), ms(30), ms(90)]);
}

#[tokio::test(start_paused = true)]
async fn a_zero_delay_retries_at_once() {
    assert_eq!(
        gaps_for(Backoff::constant(Duration::ZERO), 3).await,
        [Duration::ZERO; 2]
    );
}

#[tokio::test(start_paused = true)]
async fn seeded_jitter_gives_the_backoffs_own_delays() {
    for jitter in [
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
        Jitter::Proportional(0.5),
    ] {
        let backoff = Backoff::exponential(ms(100)).jitter(jitter);
        let mut rng = Rng::new(42);
        let mut prev = Duration::ZERO;
        let expected: Vec<Duration> = (0..4)
            .map(|n| {
                prev = backoff.delay(n, prev, &mut rng);
                prev
            })
            .collect();

        let hook = RecordingHook::new();
        let up = failing();
        let svc = RetryLayer::builder()
            .max_attempts(5)
            .backoff(backoff)
            .seed(42)
            .deadline(IgnoreDeadline)
            .hook(hook.clone())
            .build()
            .unwrap()
            .layer(up.clone());
        assert_eq!(svc.oneshot(0).await, Err(Boom(4)));
        let delays: Vec<Duration> = hook
            .kinds()
            .into_iter()
            .filter_map(|k| match k {
                EventKind::RetryAttempt { delay, .. } => Some(delay),
                _ => None,
            })
            .collect();
        assert_eq!(delays, expected, "{jitter:?}");
        // tokio's timer has millisecond ticks, so a sleep ends on the next whole millisecond.
        for (gap, delay) in up.calls.gaps().into_iter().zip(&expected) {
            assert!(
                gap >= *delay && gap < *delay + ms(1),
                "{jitter:?}: {gap:?} for {delay:?}"
            );
        }
    }
}

type ByStatus = fn(&Result<Answer, Boom>) -> Outcome;
type Builder = RetryBuilder<ByStatus, IgnoreDeadline>;

/// Answers 503 with each hint in turn, then 200; returns the gaps between calls.
async fn gaps_with_hints(
    builder: impl FnOnce(Builder) -> Builder,
    hints: &'static [Option<Duration>],
) -> Vec<Duration> {
    let up = upstream(move |n, _: ()| {
        Ok(match hints.get(n as usize) {
            Some(hint) => Answer::unavailable(*hint),
            None => Answer::ok(),
        })
    });
    let classify: ByStatus = by_status;
    let base = RetryLayer::builder()
        .max_attempts(10)
        .backoff(Backoff::constant(ms(100)))
        .deadline(IgnoreDeadline)
        .classify(classify);
    let svc = builder(base).build().unwrap().layer(up.clone());
    assert_eq!(svc.oneshot(()).await, Ok(Answer::ok()));
    up.calls.gaps()
}

/// A long hint, then none at all (the retry goes at once, after a sleep that has finished),
/// one over every cap, a short one, and the backoff's own delay.
const HINTS: &[Option<Duration>] = &[
    Some(Duration::from_secs(2)),
    Some(Duration::ZERO),
    Some(Duration::from_secs(40)),
    Some(Duration::from_millis(10)),
    None,
];

#[tokio::test(start_paused = true)]
async fn retry_after_takes_the_place_of_the_backoff_up_to_the_default_cap() {
    let gaps = gaps_with_hints(|b| b, HINTS).await;
    assert_eq!(
        gaps,
        [
            Duration::from_secs(2),
            Duration::ZERO,
            Duration::from_secs(30),
            ms(10),
            ms(100)
        ],
        "the hint wins even when shorter; 40 s is cut to the default 30 s"
    );
}

#[tokio::test(start_paused = true)]
async fn honor_retry_after_sets_the_cap() {
    let gaps = gaps_with_hints(|b| b.honor_retry_after(Duration::from_secs(1)), HINTS).await;
    assert_eq!(
        gaps,
        [
            Duration::from_secs(1),
            Duration::ZERO,
            Duration::from_secs(1),
            ms(10),
            ms(100)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_backoffs_own_cap_applies_when_the_builder_sets_none() {
    let gaps = gaps_with_hints(
        |b| b.backoff(Backoff::constant(ms(100)).retry_after_cap(Some(Duration::from_secs(5)))),
        HINTS,
    )
    .await;
    assert_eq!(
        gaps,
        [
            Duration::from_secs(2),
            Duration::ZERO,
            Duration::from_secs(5),
            ms(10),
            ms(100)
        ]
    );
    // honor_retry_after wins over the backoff's cap whichever comes first.
    let gaps = gaps_with_hints(
        |b| {
            b.honor_retry_after(Duration::from_secs(3))
                .backoff(Backoff::constant(ms(100)).retry_after_cap(Some(Duration::from_secs(5))))
        },
        HINTS,
    )
    .await;
    assert_eq!(
        gaps,
        [
            Duration::from_secs(2),
            Duration::ZERO,
            Duration::from_secs(3),
            ms(10),
            ms(100)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn ignore_retry_after_keeps_the_backoff() {
    let gaps = gaps_with_hints(|b| b.ignore_retry_after(), HINTS).await;
    assert_eq!(gaps, [ms(100); 5]);
}

#[tokio::test(start_paused = true)]
async fn a_breakers_rejection_is_not_retried_by_default() {
    let hook = RecordingHook::new();
    let svc = RetryLayer::builder()
        .deadline(IgnoreDeadline)
        .hook(hook.clone())
        .build()
        .unwrap()
        .layer(service_fn(|_: ()| async {
            Err::<(), BoxError>(Rejected::new(Some(Duration::from_secs(1))).into())
        }));
    let err = svc.oneshot(()).await.unwrap_err();
    assert!(err.is::<Rejected>(), "the rejection itself comes back");
    assert!(hook.events().is_empty());
}

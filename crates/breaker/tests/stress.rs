//! Many threads on one breaker: half-open never admits more than N and loses no permit, and a
//! keyed map stays bounded and keeps its open keys.

mod support;

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bulwark_breaker::{BreakerLayer, Rejected};
use bulwark_policy::{Backoff, BoxError, BreakerState, Outcome, Rng};
use support::keyed_inner;
use tower::{service_fn, Layer, Service};

const PROBES: usize = 3;
const THREADS: usize = 8;
const ROUNDS: usize = 4_000;

/// The inner call: counts itself in flight from `call` until it completes or is dropped.
struct InFlight {
    count: Arc<AtomicUsize>,
    answer: Option<Result<bool, BoxError>>,
}

impl Future for InFlight {
    type Output = Result<bool, BoxError>;
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        self.count.fetch_sub(1, SeqCst);
        Poll::Ready(self.answer.take().expect("polled once"))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.answer.is_some() {
            self.count.fetch_sub(1, SeqCst);
        }
    }
}

#[test]
fn half_open_never_admits_more_than_n_and_loses_no_permit() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    // Only successes and ignores after the trip, and more successes needed than will ever
    // come: it stays half-open for the whole run.
    let layer = BreakerLayer::builder()
        .consecutive_failures(1)
        .open_for(Backoff::constant(Duration::ZERO))
        .half_open_probes(PROBES as u32)
        .half_open_successes(u32::MAX)
        .classify(|r: &Result<bool, BoxError>| match r {
            Ok(true) => Outcome::Success,
            Ok(false) => Outcome::Ignore,
            Err(e) => Outcome::Failure(bulwark_policy::classify_error(e)),
        })
        .build()
        .unwrap();
    let (count, top, n) = (in_flight.clone(), peak.clone(), calls.clone());
    let svc = layer.layer(service_fn(move |req: u8| {
        top.fetch_max(count.fetch_add(1, SeqCst) + 1, SeqCst);
        n.fetch_add(1, SeqCst);
        let answer = if req == 0 {
            Err(BoxError::from("down"))
        } else {
            Ok(req == 1)
        };
        InFlight {
            count: count.clone(),
            answer: Some(answer),
        }
    }));

    let mut cx = Context::from_waker(Waker::noop());
    let mut trip = svc.clone();
    assert!(trip.poll_ready(&mut cx).is_ready());
    assert!(matches!(
        pin!(trip.call(0)).poll(&mut cx),
        Poll::Ready(Err(_))
    ));
    assert_eq!(layer.handle().state(), BreakerState::Open);

    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (svc, barrier) = (svc.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut rng = Rng::new(t as u64);
                let mut cx = Context::from_waker(Waker::noop());
                let (mut ok, mut rejected) = (0, 0);
                barrier.wait();
                for _ in 0..ROUNDS {
                    // Up to 4 services ready at once, so that even one thread contends.
                    let mut held: Vec<_> = (0..=rng.below(4)).map(|_| svc.clone()).collect();
                    for svc in &mut held {
                        assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
                    }
                    // Call most of them, keeping every future alive at once...
                    let futures: Vec<_> = held
                        .into_iter()
                        .filter_map(|mut svc| {
                            (rng.below(4) != 0).then(|| svc.call(1 + rng.below(2) as u8))
                        })
                        .collect();
                    // ...then finish or abandon each.
                    for fut in futures {
                        if rng.below(4) == 0 {
                            drop(fut);
                            continue;
                        }
                        match pin!(fut).poll(&mut cx) {
                            Poll::Ready(Ok(_)) => ok += 1,
                            Poll::Ready(Err(e)) => {
                                assert!(e.is::<Rejected>(), "{e}");
                                rejected += 1;
                            }
                            Poll::Pending => unreachable!("the inner call answers at once"),
                        }
                    }
                }
                (ok, rejected)
            })
        })
        .collect();
    let (ok, rejected) = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
    assert!(
        ok > 0 && rejected > 0,
        "both admissions and rejections happened: {ok} / {rejected}"
    );
    assert!(
        peak.load(SeqCst) <= PROBES,
        "peak of {} probes in flight",
        peak.load(SeqCst)
    );
    assert_eq!(in_flight.load(SeqCst), 0);
    assert_eq!(layer.handle().state(), BreakerState::HalfOpen);

    // No permit lost: exactly PROBES calls can hold one now.
    let mut holders: Vec<_> = (0..=PROBES).map(|_| svc.clone()).collect();
    for h in &mut holders {
        assert!(h.poll_ready(&mut cx).is_ready());
    }
    let before = calls.load(SeqCst);
    // The permits are taken by `call` and held by the futures until they finish.
    let futures: Vec<_> = holders.iter_mut().map(|h| h.call(1)).collect();
    let results: Vec<bool> = futures
        .into_iter()
        .map(|fut| match pin!(fut).poll(&mut cx) {
            Poll::Ready(r) => r.is_ok(),
            Poll::Pending => unreachable!(),
        })
        .collect();
    assert_eq!(results.iter().filter(|ok| **ok).count(), PROBES);
    assert!(!results[PROBES], "the one beyond the limit was rejected");
    assert_eq!(calls.load(SeqCst) - before, PROBES);
}

#[test]
fn many_threads_on_a_keyed_breaker_keep_the_map_bounded_and_down_keys_known() {
    const MAX_KEYS: usize = 16;
    let layer = BreakerLayer::builder()
        .consecutive_failures(3)
        .open_for(Backoff::constant(Duration::from_secs(3600)))
        .max_keys(MAX_KEYS)
        .build_keyed(|(key, _): &(u32, bool)| *key)
        .unwrap();
    let handle = layer.handle();
    let svc = layer.layer(keyed_inner::<u32>());
    // Key 0 is down before the flood, and must stay known to be down through it.
    for _ in 0..3 {
        assert!(bulwark_test_support::call_once(&mut svc.clone(), (0, false)).is_err());
    }
    assert_eq!(handle.get(&0).unwrap().state(), BreakerState::Open);

    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (svc, barrier, handle) = (svc.clone(), barrier.clone(), handle.clone());
            std::thread::spawn(move || {
                let mut rng = Rng::new(100 + t as u64);
                let mut cx = Context::from_waker(Waker::noop());
                barrier.wait();
                for _ in 0..ROUNDS {
                    // Keys 1..=40: more than the map holds; one call in eight fails.
                    let key = 1 + rng.below(40) as u32;
                    let mut s = svc.clone();
                    assert!(s.poll_ready(&mut cx).is_ready());
                    let fut = s.call((key, rng.below(8) != 0));
                    if rng.below(4) == 0 {
                        drop(fut);
                    } else {
                        let _ = pin!(fut).poll(&mut cx);
                    }
                    assert!(handle.len() <= MAX_KEYS, "{} keys", handle.len());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(handle.len() <= MAX_KEYS);
    assert_eq!(
        handle.get(&0).map(|h| h.state()),
        Some(BreakerState::Open),
        "the open key was never evicted"
    );
}

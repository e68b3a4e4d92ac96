//! Outlier detection's bookkeeping against a reference model, over random scripts of calls
//! (each endpoint failing or not), clock moves, removals and re-insertions.
//!
//! The model follows the rules the docs state: consecutive failures and a failure percentage
//! per interval eject; the `n`-th ejection in a row lasts `base × n`, capped, jittered by the
//! configured fraction, and the count starts over once the endpoint has stayed in rotation for
//! the cap; at most `max_ejection_percent` of the endpoints (at least one) are out at once;
//! restoration happens at the first pick after an ejection ends; below the panic threshold
//! ejections are ignored; a removed endpoint takes its ejection with it.
//!
//! After every step the balancer's view (`BalanceHandle::endpoints`: ejected, ejections,
//! pending) and its events (`EndpointEjected` with its count and duration, `EndpointRestored`)
//! must match the model exactly; every call must go to an endpoint the model allows, and a call
//! fails with `NoEndpoint` exactly when the model has no endpoint to offer.

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bulwark_balance::{BalanceLayer, OutlierDetection, Strategy as Pick};
use bulwark_policy::{EventKind, NoEndpoint};
use bulwark_test_support::fuzz::paused_runtime;
use bulwark_test_support::RecordingHook;
use proptest::prelude::*;
use support::{call, ep, max_ejected, Controls};

const NAMES: [&str; 6] = ["a", "b", "c", "d", "e", "f"];

#[derive(Debug, Clone)]
enum Op {
    /// Which endpoints fail (a bit each), then one call.
    Call(u8),
    Advance(u64),
    Remove(usize),
    Insert(usize),
}

#[derive(Debug, Clone)]
struct Settings {
    endpoints: usize,
    consecutive: Option<u32>,
    rate: Option<(f64, u32, u64)>,
    base_ms: u64,
    max_ms: u64,
    jitter: f64,
    max_percent: f64,
    panic: f64,
    strategy: u8,
}

#[derive(Debug, Default, Clone)]
struct Health {
    consecutive: u32,
    window_start: u64,
    window_ok: u32,
    window_failed: u32,
    ejected_until: u64,
    ejections: u32,
    restored_at: u64,
}

#[derive(Debug, PartialEq)]
enum Expected {
    Ejected(&'static str, u32),
    Restored(&'static str),
}

struct Model<'a> {
    s: &'a Settings,
    /// In the balancer's order: name, health, whether it fails now.
    list: Vec<(&'static str, Health, bool)>,
}

fn ms(n: u64) -> u64 {
    n * 1_000_000
}

impl Model<'_> {
    fn ejected(&self) -> usize {
        self.list.iter().filter(|e| e.1.ejected_until != 0).count()
    }

    fn restore(&mut self, now: u64, events: &mut Vec<Expected>) {
        for (name, h, _) in &mut self.list {
            if h.ejected_until != 0 && now >= h.ejected_until {
                h.ejected_until = 0;
                h.restored_at = now;
                events.push(Expected::Restored(name));
            }
        }
    }

    fn honour(&self) -> bool {
        let total = self.list.len();
        let ejected = self.ejected();
        ejected > 0 && (total - ejected) as f64 * 100.0 >= self.s.panic * total as f64
    }

    fn allowed(&self, name: &str) -> bool {
        let honour = self.honour();
        self.list
            .iter()
            .any(|e| e.0 == name && !(honour && e.1.ejected_until != 0))
    }

    /// Records a finished call; returns the envelope of an ejection it causes.
    fn record(&mut self, i: usize, failed: bool, now: u64) -> Option<(u32, u64, u64)> {
        let s = self.s;
        let over_limit = self.ejected() >= max_ejected(self.list.len(), s.max_percent);
        let h = &mut self.list[i].1;
        if let Some((_, _, interval)) = s.rate {
            if now - h.window_start >= ms(interval) {
                h.window_start = now;
                h.window_ok = 0;
                h.window_failed = 0;
            }
            if failed {
                h.window_failed += 1;
            } else {
                h.window_ok += 1;
            }
        }
        if !failed {
            h.consecutive = 0;
            return None;
        }
        h.consecutive += 1;
        let mut eject = s.consecutive.is_some_and(|n| h.consecutive >= n);
        if let Some((percent, min, _)) = s.rate {
            let total = h.window_ok + h.window_failed;
            eject |=
                total >= min && f64::from(h.window_failed) * 100.0 >= percent * f64::from(total);
        }
        if !eject || h.ejected_until != 0 || over_limit {
            return None;
        }
        let mut previous = h.ejections;
        if now - h.restored_at >= ms(s.max_ms) {
            previous = 0;
        }
        let envelope = (s.base_ms * u64::from(previous + 1)).min(s.max_ms);
        let lo = ((ms(envelope) as f64) * (1.0 - s.jitter)).round() as u64;
        let hi = (((ms(envelope) as f64) * (1.0 + s.jitter)).round() as u64).min(ms(s.max_ms));
        Some((previous + 1, lo, hi))
    }
}

fn ejection_events(hook: &RecordingHook) -> Vec<(String, Option<(u32, Duration)>)> {
    hook.events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::EndpointEjected {
                ejections,
                duration,
            } => Some((e.key.unwrap(), Some((ejections, duration)))),
            EventKind::EndpointRestored => Some((e.key.unwrap(), None)),
            _ => None,
        })
        .collect()
}

fn run(s: &Settings, ops: &[Op]) -> Result<(), TestCaseError> {
    paused_runtime().block_on(async {
        let mut builder = OutlierDetection::builder()
            .consecutive_failures(s.consecutive)
            .base_ejection_time(Duration::from_millis(s.base_ms))
            .max_ejection_time(Duration::from_millis(s.max_ms))
            .ejection_jitter(s.jitter)
            .max_ejection_percent(s.max_percent)
            .panic_threshold(s.panic);
        if let Some((percent, min, interval)) = s.rate {
            builder = builder.failure_percentage(percent, min, Duration::from_millis(interval));
        }
        let outlier = builder.build().unwrap();
        let strategy = match s.strategy {
            0 => Pick::RoundRobin,
            1 => Pick::Random,
            _ => Pick::P2cPending,
        };
        let hook = RecordingHook::new();
        let mut controls: Vec<Option<Arc<Controls>>> = vec![None; NAMES.len()];
        let endpoints: Vec<_> = (0..s.endpoints)
            .map(|i| {
                let (e, c) = ep(NAMES[i]);
                controls[i] = Some(c);
                (NAMES[i], e)
            })
            .collect();
        let mut lb = BalanceLayer::builder()
            .strategy(strategy)
            .outlier_detection(outlier)
            .hook(hook.clone())
            .seed(7)
            .build()
            .endpoints(endpoints);
        let handle = lb.handle();
        let mut model = Model {
            s,
            list: (0..s.endpoints)
                .map(|i| (NAMES[i], Health::default(), false))
                .collect(),
        };
        let mut now = 0u64;
        let mut expected: Vec<Expected> = Vec::new();
        let mut seen = 0;

        for op in ops {
            match *op {
                Op::Advance(n) => {
                    tokio::time::advance(Duration::from_millis(n)).await;
                    now += ms(n);
                }
                Op::Remove(i) => {
                    let i = i % NAMES.len();
                    let was = model.list.iter().position(|e| e.0 == NAMES[i]);
                    prop_assert_eq!(handle.remove(&NAMES[i]), was.is_some());
                    if let Some(at) = was {
                        model.list.remove(at);
                    }
                }
                Op::Insert(i) => {
                    let i = i % NAMES.len();
                    let (e, c) = ep(NAMES[i]);
                    controls[i] = Some(c);
                    handle.insert(NAMES[i], e);
                    let fresh = (NAMES[i], Health::default(), false);
                    match model.list.iter().position(|e| e.0 == NAMES[i]) {
                        Some(at) => model.list[at] = fresh,
                        None => model.list.push(fresh),
                    }
                    // A new endpoint's clock starts now: it has not been restored, and its
                    // first interval starts at the cluster's epoch like every other's.
                }
                Op::Call(mask) => {
                    for entry in model.list.iter_mut() {
                        let k = NAMES.iter().position(|n| *n == entry.0).unwrap();
                        entry.2 = mask & (1 << k) != 0;
                        controls[k]
                            .as_ref()
                            .unwrap()
                            .fail
                            .store(entry.2, Ordering::SeqCst);
                    }
                    model.restore(now, &mut expected);
                    let before: Vec<usize> = controls
                        .iter()
                        .map(|c| c.as_ref().map_or(0, |c| c.calls()))
                        .collect();
                    let result = call(&mut lb, ()).await;
                    let called: Vec<usize> = (0..NAMES.len())
                        .filter(|&k| controls[k].as_ref().map_or(0, |c| c.calls()) != before[k])
                        .collect();
                    let offered = model.list.iter().any(|e| model.allowed(e.0));
                    if !offered {
                        prop_assert!(
                            called.is_empty(),
                            "{:?} was called with none to offer",
                            called
                        );
                        prop_assert!(result.unwrap_err().is::<NoEndpoint>());
                    } else {
                        prop_assert_eq!(called.len(), 1, "one endpoint takes the call");
                        let name = NAMES[called[0]];
                        prop_assert!(model.allowed(name), "{} took a call while ejected", name);
                        let i = model.list.iter().position(|e| e.0 == name).unwrap();
                        let failed = model.list[i].2;
                        prop_assert_eq!(result.is_err(), failed);
                        if let Some((count, lo, hi)) = model.record(i, failed, now) {
                            // The actual length comes from the event; the model checks it is
                            // within the jittered envelope, then uses it.
                            let events = ejection_events(&hook);
                            let Some((key, Some((_, duration)))) =
                                events.get(seen + expected.len()).cloned()
                            else {
                                return Err(TestCaseError::fail(format!(
                                    "no ejection event for {name}: {events:?}"
                                )));
                            };
                            prop_assert_eq!(key.as_str(), name);
                            let d = duration.as_nanos() as u64;
                            prop_assert!(
                                d >= lo && d <= hi,
                                "ejection of {}ns outside [{}, {}]",
                                d,
                                lo,
                                hi
                            );
                            let h = &mut model.list[i].1;
                            h.ejected_until = (now + d).max(1);
                            h.ejections = count;
                            h.consecutive = 0;
                            h.window_ok = 0;
                            h.window_failed = 0;
                            expected.push(Expected::Ejected(name, count));
                        }
                    }
                }
            }
            // The events since the last step are exactly the model's.
            let events = ejection_events(&hook);
            let got: Vec<Expected> = events[seen..]
                .iter()
                .map(|(k, e)| {
                    let name = NAMES.iter().find(|n| **n == k.as_str()).copied().unwrap();
                    match e {
                        Some((n, _)) => Expected::Ejected(name, *n),
                        None => Expected::Restored(name),
                    }
                })
                .collect();
            prop_assert_eq!(&got, &expected, "events after {:?}", op);
            seen = events.len();
            expected.clear();
            // And so is the balancer's view of every endpoint.
            let view: Vec<_> = handle
                .endpoints()
                .into_iter()
                .map(|e| (e.key, e.ejected, e.ejections, e.pending))
                .collect();
            let want: Vec<_> = model
                .list
                .iter()
                .map(|(n, h, _)| (*n, h.ejected_until != 0, h.ejections, 0))
                .collect();
            prop_assert_eq!(view, want, "endpoints after {:?}", op);
        }
        Ok(())
    })
}

fn settings() -> impl Strategy<Value = Settings> {
    (
        1usize..=NAMES.len(),
        prop_oneof![Just(None), (1u32..5).prop_map(Some)],
        proptest::option::of((0.0f64..=100.0, 1u32..8, 1u64..3_000)),
        1u64..2_000,
        0u64..6_000,
        prop_oneof![Just(0.0), 0.0f64..=1.0],
        prop_oneof![Just(100.0), Just(0.0), 0.0f64..=100.0],
        prop_oneof![Just(0.0), Just(50.0), 0.0f64..=100.0],
        0u8..3,
    )
        .prop_filter("something must eject", |s| s.1.is_some() || s.2.is_some())
        .prop_map(
            |(
                endpoints,
                consecutive,
                rate,
                base_ms,
                extra,
                jitter,
                max_percent,
                panic,
                strategy,
            )| Settings {
                endpoints,
                consecutive,
                rate,
                base_ms,
                max_ms: base_ms + extra,
                jitter,
                max_percent,
                panic,
                strategy,
            },
        )
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(
        prop_oneof![
            10 => prop_oneof![any::<u8>(), Just(0xff), Just(0)].prop_map(Op::Call),
            4 => prop_oneof![0u64..50, 0u64..3_000, 0u64..10_000].prop_map(Op::Advance),
            1 => (0usize..NAMES.len()).prop_map(Op::Remove),
            1 => (0usize..NAMES.len()).prop_map(Op::Insert),
        ],
        1..60,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn ejection_bookkeeping_follows_its_model(s in settings(), ops in ops()) {
        run(&s, &ops)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200_000))]

    #[test]
    #[ignore = "200,000 cases; run with --ignored"]
    fn ejection_bookkeeping_follows_its_model_long(s in settings(), ops in ops()) {
        run(&s, &ops)?;
    }
}

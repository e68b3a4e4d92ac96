//! The hook plumbing: no allocation without a hook, fan-out, and the tracing adapter.

use std::time::Duration;

use bulwark_policy::{
    BreakerState, Event, EventKind, Failure, FailureKind, FanOut, Fault, FnHook, Hook, Outcome,
    SharedHook, TracingHook,
};
use bulwark_test_support::{allocations, RecordingHook};

bulwark_test_support::counting_allocator!();

#[test]
fn emitting_with_no_hook_allocates_nothing() {
    let hook = SharedHook::none();
    let key = String::from("host-1");
    let failure = Failure::new(FailureKind::Error).retryable(true);
    let n = allocations(|| {
        for attempt in 0..100 {
            hook.emit(|| {
                Event::new(
                    "retry",
                    EventKind::RetryAttempt {
                        attempt,
                        delay: Duration::ZERO,
                        reason: failure,
                    },
                )
                .with_key(&key)
            });
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn the_counting_allocator_does_count() {
    assert_eq!(
        allocations(|| drop(std::hint::black_box(Box::new(1u64)))),
        1
    );
}

#[test]
fn emitting_to_a_hook_that_keeps_nothing_allocates_nothing() {
    let hook = SharedHook::new(FnHook::new(|e: &Event<'_>| {
        std::hint::black_box(e);
    }));
    let n = allocations(|| {
        hook.emit(|| Event::new("b", EventKind::BreakerRejected { retry_after: None }));
    });
    assert_eq!(n, 0);
}

#[test]
fn fan_out_reaches_every_hook_in_order() {
    let a = RecordingHook::new();
    let b = RecordingHook::new();
    let hook = SharedHook::new(FanOut::new().with(a.clone()).with(b.clone()));
    let key = 7u16;
    hook.emit(|| Event::new("lb", EventKind::EndpointRestored).with_key(&key));
    hook.emit(|| Event::new("lb", EventKind::NoEndpoint));
    for r in [a, b] {
        let events = r.events();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].name, "lb");
        assert_eq!(events[0].key.as_deref(), Some("7"));
        assert_eq!(events[0].kind, EventKind::EndpointRestored);
        assert_eq!(events[1].kind, EventKind::NoEndpoint);
    }
}

#[test]
fn tracing_hook_reports_every_kind() {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let f = Failure::new(FailureKind::Status);
    let kinds = [
        EventKind::RetryAttempt {
            attempt: 2,
            delay: Duration::from_millis(5),
            reason: f,
        },
        EventKind::RetriesExhausted { attempts: 3 },
        EventKind::BudgetExhausted { attempts: 1 },
        EventKind::DeadlineTooNear {
            remaining: Duration::ZERO,
        },
        EventKind::NotReplayable,
        EventKind::TimeoutElapsed {
            after: Duration::from_secs(1),
        },
        EventKind::BreakerCall {
            outcome: Outcome::Success,
            duration: Duration::ZERO,
        },
        EventKind::BreakerRejected { retry_after: None },
        EventKind::BreakerTransition {
            from: BreakerState::Closed,
            to: BreakerState::Open,
        },
        EventKind::FallbackUsed { reason: f },
        EventKind::EndpointEjected {
            ejections: 1,
            duration: Duration::from_secs(30),
        },
        EventKind::EndpointRestored,
        EventKind::NoEndpoint,
        EventKind::FaultInjected {
            fault: Fault::Latency(Duration::from_millis(3)),
        },
    ];
    tracing::subscriber::with_default(subscriber, || {
        for kind in kinds {
            TracingHook::new().on_event(&Event::new("upstream", kind).with_key(&"k1"));
        }
    });
    let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(lines.len(), kinds.len(), "{out}");
    for (line, kind) in lines.iter().zip(kinds) {
        assert!(
            line.contains(&format!("event=\"{}\"", kind.as_str())),
            "{line}"
        );
        assert!(
            line.contains("name=\"upstream\"")
                && line.contains("key=k1")
                && line.contains("bulwark"),
            "{line}"
        );
    }
    assert!(
        lines[8].contains("WARN"),
        "opening a breaker is a warning: {}",
        lines[8]
    );
    assert!(lines[6].contains("TRACE"), "{}", lines[6]);
}

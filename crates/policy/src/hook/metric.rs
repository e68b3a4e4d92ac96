use metrics::{counter, gauge, histogram, Label};

use super::{BreakerState, Event, EventKind, Hook};

/// Reports events to the [`metrics`] facade, under stable names.
///
/// Every series has the label `name` (the layer instance), and `key` when the event has one.
///
/// | metric | type | labels | from |
/// | --- | --- | --- | --- |
/// | `bulwark_retry_attempts_total` | counter | | every retry sent |
/// | `bulwark_retry_exhausted_total` | counter | | attempts ran out |
/// | `bulwark_retry_budget_exhausted_total` | counter | | the budget refused a retry |
/// | `bulwark_retry_deadline_stops_total` | counter | | a retry could not beat the deadline |
/// | `bulwark_retry_not_replayable_total` | counter | | a request sent once only |
/// | `bulwark_timeout_elapsed_total` | counter | | a timeout elapsed |
/// | `bulwark_breaker_calls_total` | counter | `outcome` | a call the breaker recorded |
/// | `bulwark_call_duration_seconds` | histogram | | a call the breaker recorded |
/// | `bulwark_breaker_rejected_total` | counter | | a call the breaker rejected |
/// | `bulwark_breaker_state` | gauge | `state` | a transition: 1 for the state entered, 0 for every other |
/// | `bulwark_fallback_total` | counter | `reason` | a fallback used, by failure kind |
/// | `bulwark_balance_ejections_total` | counter | | an endpoint ejected |
/// | `bulwark_balance_restorations_total` | counter | | an endpoint restored |
/// | `bulwark_balance_removals_total` | counter | | an endpoint removed after its readiness failed |
/// | `bulwark_balance_no_endpoint_total` | counter | | no endpoint for a request |
/// | `bulwark_chaos_injected_total` | counter | `fault` | a fault a chaos layer injected |
///
/// ```
/// use bulwark_policy::{hook::MetricsHook, SharedHook};
///
/// // With a recorder installed (metrics-exporter-prometheus, say), every layer that shares
/// // this hook reports its decisions.
/// let hook = SharedHook::new(MetricsHook::new());
/// assert!(hook.is_set());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsHook(());

impl MetricsHook {
    /// The hook.
    ///
    /// ```
    /// use bulwark_policy::{hook::MetricsHook, Event, EventKind, Hook};
    /// // With no recorder installed, the metrics go nowhere; nothing fails.
    /// MetricsHook::new().on_event(&Event::new("lb", EventKind::NoEndpoint));
    /// ```
    pub const fn new() -> Self {
        Self(())
    }
}

fn labels(event: &Event<'_>) -> Vec<Label> {
    let mut labels = Vec::with_capacity(3);
    labels.push(Label::new("name", event.name().to_owned()));
    if let Some(key) = event.key() {
        labels.push(Label::new("key", key.to_string()));
    }
    labels
}

fn with(mut labels: Vec<Label>, key: &'static str, value: &'static str) -> Vec<Label> {
    labels.push(Label::new(key, value));
    labels
}

impl Hook for MetricsHook {
    fn on_event(&self, event: &Event<'_>) {
        let base = labels(event);
        match *event.kind() {
            EventKind::RetryAttempt { .. } => {
                counter!("bulwark_retry_attempts_total", base).increment(1)
            }
            EventKind::RetriesExhausted { .. } => {
                counter!("bulwark_retry_exhausted_total", base).increment(1)
            }
            EventKind::BudgetExhausted { .. } => {
                counter!("bulwark_retry_budget_exhausted_total", base).increment(1)
            }
            EventKind::DeadlineTooNear { .. } => {
                counter!("bulwark_retry_deadline_stops_total", base).increment(1)
            }
            EventKind::NotReplayable => {
                counter!("bulwark_retry_not_replayable_total", base).increment(1)
            }
            EventKind::TimeoutElapsed { .. } => {
                counter!("bulwark_timeout_elapsed_total", base).increment(1)
            }
            EventKind::BreakerCall { outcome, duration } => {
                histogram!("bulwark_call_duration_seconds", base.clone())
                    .record(duration.as_secs_f64());
                counter!(
                    "bulwark_breaker_calls_total",
                    with(base, "outcome", outcome.as_str())
                )
                .increment(1);
            }
            EventKind::BreakerRejected { .. } => {
                counter!("bulwark_breaker_rejected_total", base).increment(1)
            }
            EventKind::BreakerTransition { to, .. } => {
                for state in BreakerState::ALL {
                    let value = if state == to { 1.0 } else { 0.0 };
                    gauge!(
                        "bulwark_breaker_state",
                        with(base.clone(), "state", state.as_str())
                    )
                    .set(value);
                }
            }
            EventKind::FallbackUsed { reason } => counter!(
                "bulwark_fallback_total",
                with(base, "reason", reason.kind.as_str())
            )
            .increment(1),
            EventKind::EndpointEjected { .. } => {
                counter!("bulwark_balance_ejections_total", base).increment(1)
            }
            EventKind::EndpointRestored => {
                counter!("bulwark_balance_restorations_total", base).increment(1)
            }
            EventKind::EndpointRemoved => {
                counter!("bulwark_balance_removals_total", base).increment(1)
            }
            EventKind::NoEndpoint => {
                counter!("bulwark_balance_no_endpoint_total", base).increment(1)
            }
            EventKind::FaultInjected { fault } => counter!(
                "bulwark_chaos_injected_total",
                with(base, "fault", fault.as_str())
            )
            .increment(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use metrics_util::MetricKind;

    use super::*;
    use crate::{Failure, FailureKind, Outcome};

    type Series = HashMap<(MetricKind, String, Vec<(String, String)>), DebugValue>;

    fn record(events: &[Event<'_>]) -> Series {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            for e in events {
                MetricsHook::new().on_event(e);
            }
        });
        snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let kind = key.kind();
                let key = key.key();
                let mut labels: Vec<_> = key
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                labels.sort();
                ((kind, key.name().to_owned(), labels), value)
            })
            .collect()
    }

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<_> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v.sort();
        v
    }

    fn gauge(series: &Series, name: &str, state: &str) -> f64 {
        match series.get(&(
            MetricKind::Gauge,
            "bulwark_breaker_state".into(),
            labels(&[("name", name), ("state", state)]),
        )) {
            Some(DebugValue::Gauge(v)) => v.into_inner(),
            other => panic!("no gauge for {state}: {other:?}"),
        }
    }

    #[test]
    fn breaker_state_gauge_moves_from_old_to_new() {
        let t = |from, to| Event::new("pay", EventKind::BreakerTransition { from, to });
        let series = record(&[
            t(BreakerState::Closed, BreakerState::Open),
            t(BreakerState::Open, BreakerState::HalfOpen),
        ]);
        assert_eq!(gauge(&series, "pay", "half_open"), 1.0);
        assert_eq!(
            gauge(&series, "pay", "open"),
            0.0,
            "the old state is set back to 0"
        );
        assert_eq!(gauge(&series, "pay", "closed"), 0.0);
        for state in BreakerState::ALL {
            let expected = if state == BreakerState::HalfOpen {
                1.0
            } else {
                0.0
            };
            assert_eq!(gauge(&series, "pay", state.as_str()), expected);
        }
    }

    #[test]
    fn counters_have_stable_names_and_labels() {
        let f = Failure::new(FailureKind::Timeout).retryable(true);
        let host = "db-1";
        let series = record(&[
            Event::new(
                "r",
                EventKind::RetryAttempt {
                    attempt: 2,
                    delay: Duration::ZERO,
                    reason: f,
                },
            ),
            Event::new(
                "r",
                EventKind::RetryAttempt {
                    attempt: 3,
                    delay: Duration::ZERO,
                    reason: f,
                },
            ),
            Event::new(
                "b",
                EventKind::BreakerCall {
                    outcome: Outcome::Success,
                    duration: Duration::from_millis(250),
                },
            ),
            Event::new(
                "b",
                EventKind::BreakerCall {
                    outcome: Outcome::Failure(f),
                    duration: Duration::from_millis(5),
                },
            )
            .with_key(&host),
            Event::new("b", EventKind::BreakerRejected { retry_after: None }),
            Event::new(
                "t",
                EventKind::TimeoutElapsed {
                    after: Duration::from_secs(1),
                },
            ),
            Event::new("f", EventKind::FallbackUsed { reason: f }),
            Event::new(
                "lb",
                EventKind::EndpointEjected {
                    ejections: 1,
                    duration: Duration::from_secs(1),
                },
            ),
        ]);
        let counter = |name: &str, l: &[(&str, &str)]| match series.get(&(
            MetricKind::Counter,
            name.to_owned(),
            labels(l),
        )) {
            Some(DebugValue::Counter(n)) => *n,
            other => panic!("{name} {l:?}: {other:?}"),
        };
        assert_eq!(counter("bulwark_retry_attempts_total", &[("name", "r")]), 2);
        assert_eq!(
            counter(
                "bulwark_breaker_calls_total",
                &[("name", "b"), ("outcome", "success")]
            ),
            1
        );
        assert_eq!(
            counter(
                "bulwark_breaker_calls_total",
                &[("name", "b"), ("key", "db-1"), ("outcome", "failure")]
            ),
            1
        );
        assert_eq!(
            counter("bulwark_breaker_rejected_total", &[("name", "b")]),
            1
        );
        assert_eq!(
            counter("bulwark_timeout_elapsed_total", &[("name", "t")]),
            1
        );
        assert_eq!(
            counter(
                "bulwark_fallback_total",
                &[("name", "f"), ("reason", "timeout")]
            ),
            1
        );
        assert_eq!(
            counter("bulwark_balance_ejections_total", &[("name", "lb")]),
            1
        );
        match series.get(&(
            MetricKind::Histogram,
            "bulwark_call_duration_seconds".into(),
            labels(&[("name", "b")]),
        )) {
            Some(DebugValue::Histogram(values)) => assert_eq!(
                values.iter().map(|v| v.into_inner()).collect::<Vec<_>>(),
                [0.25]
            ),
            other => panic!("{other:?}"),
        }
    }
}

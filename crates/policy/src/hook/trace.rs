use tracing::Level;

use super::{Event, EventKind, Hook};

/// Reports events as `tracing` events, with target `bulwark` and stable fields.
///
/// Every event has the fields `event` (the kind's stable name, such as `breaker_transition`),
/// `name` (the layer instance), `key` (when there is one) and `detail` (the kind's data). The
/// level says how much attention it deserves:
///
/// | level | events |
/// | --- | --- |
/// | `WARN` | a breaker opening, retries or the budget exhausted, no endpoint |
/// | `INFO` | other breaker transitions, an endpoint ejected, restored or removed, a fallback used |
/// | `DEBUG` | a retry attempt, a timeout, a rejection, a request that cannot be replayed, a retry stopped by its deadline |
/// | `TRACE` | every recorded breaker call |
///
/// ```
/// use bulwark_policy::{Event, EventKind, Hook, TracingHook};
///
/// TracingHook::new().on_event(&Event::new("upstream", EventKind::NoEndpoint));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingHook(());

impl TracingHook {
    /// The hook.
    ///
    /// ```
    /// use bulwark_policy::{SharedHook, TracingHook};
    /// let hook = SharedHook::new(TracingHook::new());
    /// assert!(hook.is_set());
    /// ```
    pub const fn new() -> Self {
        Self(())
    }

    fn level(kind: &EventKind) -> Level {
        match kind {
            EventKind::BreakerTransition { to, .. } if to.rejects() => Level::WARN,
            EventKind::RetriesExhausted { .. }
            | EventKind::BudgetExhausted { .. }
            | EventKind::NoEndpoint => Level::WARN,
            EventKind::BreakerTransition { .. }
            | EventKind::EndpointEjected { .. }
            | EventKind::EndpointRestored
            | EventKind::EndpointRemoved
            | EventKind::FallbackUsed { .. } => Level::INFO,
            EventKind::BreakerCall { .. } => Level::TRACE,
            _ => Level::DEBUG,
        }
    }
}

macro_rules! emit {
    ($level:expr, $event:expr, $kind:expr) => {{
        let event = $event;
        let key = event.key().map(tracing::field::display);
        tracing::event!(
            target: "bulwark",
            $level,
            event = $kind.as_str(),
            name = event.name(),
            key,
            detail = ?$kind,
        )
    }};
}

impl Hook for TracingHook {
    fn on_event(&self, event: &Event<'_>) {
        let kind = event.kind();
        match Self::level(kind) {
            Level::WARN => emit!(Level::WARN, event, kind),
            Level::INFO => emit!(Level::INFO, event, kind),
            Level::DEBUG => emit!(Level::DEBUG, event, kind),
            _ => emit!(Level::TRACE, event, kind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BreakerState;

    #[test]
    fn opening_is_a_warning_and_closing_is_not() {
        let open = EventKind::BreakerTransition {
            from: BreakerState::Closed,
            to: BreakerState::Open,
        };
        let close = EventKind::BreakerTransition {
            from: BreakerState::HalfOpen,
            to: BreakerState::Closed,
        };
        assert_eq!(TracingHook::level(&open), Level::WARN);
        assert_eq!(TracingHook::level(&close), Level::INFO);
        assert_eq!(TracingHook::level(&EventKind::NotReplayable), Level::DEBUG);
    }
}

//! One observer for every layer: [`Hook`] and the [`Event`]s it sees.
//!
//! Every decision a bulwark layer makes — an attempt, a rejection, a transition, an ejection —
//! is reported as an [`Event`] to the layer's hook. An event borrows what it names and
//! allocates nothing, and a layer with no hook set builds no event at all ([`SharedHook::emit`]
//! takes a closure), so observability costs nothing until it is asked for.
//!
//! Adapters: [`TracingHook`] turns events into `tracing` events, `MetricsHook` (feature
//! `metrics`) into counters, gauges and a histogram, [`FnHook`] calls a closure and [`FanOut`]
//! sends to several hooks.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::{Failure, Outcome};

#[cfg(feature = "metrics")]
mod metric;
mod trace;

#[cfg(feature = "metrics")]
pub use metric::MetricsHook;
pub use trace::TracingHook;

/// Observes the decisions of bulwark layers.
///
/// It is called synchronously on the request's task, so it should be quick: count, log, or
/// hand the event to a channel. Closures are hooks through [`FnHook`].
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use bulwark_policy::{Event, EventKind, Hook};
///
/// #[derive(Default)]
/// struct CountRejections(AtomicUsize);
///
/// impl Hook for CountRejections {
///     fn on_event(&self, event: &Event<'_>) {
///         if let EventKind::BreakerRejected { .. } = event.kind() {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// let hook = CountRejections::default();
/// hook.on_event(&Event::new("payments", EventKind::BreakerRejected { retry_after: None }));
/// assert_eq!(hook.0.load(Ordering::Relaxed), 1);
/// ```
pub trait Hook: Send + Sync + 'static {
    /// Called for every event.
    fn on_event(&self, event: &Event<'_>);
}

impl<H: Hook + ?Sized> Hook for Arc<H> {
    fn on_event(&self, event: &Event<'_>) {
        (**self).on_event(event)
    }
}

impl<H: Hook + ?Sized> Hook for Box<H> {
    fn on_event(&self, event: &Event<'_>) {
        (**self).on_event(event)
    }
}

/// The state of a circuit breaker, as events and handles report it.
///
/// ```
/// use bulwark_policy::BreakerState;
///
/// assert_eq!(BreakerState::HalfOpen.as_str(), "half_open");
/// assert!(BreakerState::ForcedOpen.rejects());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BreakerState {
    /// Calls flow, and their outcomes are judged.
    Closed,
    /// Calls are rejected until the open period ends.
    Open,
    /// A limited number of probe calls test whether the service has recovered.
    HalfOpen,
    /// Opened by hand: every call is rejected until released.
    ForcedOpen,
    /// Closed by hand: every call flows and nothing trips it.
    ForcedClosed,
    /// Turned off: every call flows, and nothing is recorded.
    Disabled,
    /// Every call flows; outcomes are recorded and reported but never trip it.
    MetricsOnly,
}

impl BreakerState {
    /// Every state, for reporting one gauge per state.
    pub const ALL: [BreakerState; 7] = [
        BreakerState::Closed,
        BreakerState::Open,
        BreakerState::HalfOpen,
        BreakerState::ForcedOpen,
        BreakerState::ForcedClosed,
        BreakerState::Disabled,
        BreakerState::MetricsOnly,
    ];

    /// A stable lower-case name, for labels.
    ///
    /// ```
    /// assert_eq!(bulwark_policy::BreakerState::MetricsOnly.as_str(), "metrics_only");
    /// ```
    pub const fn as_str(&self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
            BreakerState::ForcedOpen => "forced_open",
            BreakerState::ForcedClosed => "forced_closed",
            BreakerState::Disabled => "disabled",
            BreakerState::MetricsOnly => "metrics_only",
        }
    }

    /// Whether a breaker in this state rejects calls (`Open` or `ForcedOpen`).
    ///
    /// ```
    /// assert!(!bulwark_policy::BreakerState::HalfOpen.rejects());
    /// ```
    pub const fn rejects(&self) -> bool {
        matches!(self, BreakerState::Open | BreakerState::ForcedOpen)
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What happened. Every variant is plain data, so a recorder can keep it.
///
/// ```
/// use std::time::Duration;
/// use bulwark_policy::EventKind;
///
/// let kind = EventKind::TimeoutElapsed { after: Duration::from_secs(1) };
/// assert_eq!(kind.as_str(), "timeout_elapsed");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// A retry is about to be sent after `delay`; `attempt` counts from 2 for the first retry.
    RetryAttempt {
        /// The number of the attempt about to be made, the first call being 1.
        attempt: u32,
        /// How long the retry waits before it is sent.
        delay: Duration,
        /// The failure that caused it.
        reason: Failure,
    },
    /// The attempts ran out; the last result is returned.
    RetriesExhausted {
        /// How many attempts were made.
        attempts: u32,
    },
    /// The retry budget had no token for a retry; the last result is returned.
    BudgetExhausted {
        /// How many attempts were made.
        attempts: u32,
    },
    /// A retry could not finish before the request's deadline; the last result is returned.
    DeadlineTooNear {
        /// The time that was left.
        remaining: Duration,
    },
    /// The request could not be copied for another attempt, so it is sent only once.
    NotReplayable,
    /// A timeout elapsed before the answer.
    TimeoutElapsed {
        /// The timeout that applied.
        after: Duration,
    },
    /// A breaker recorded the outcome of a call.
    BreakerCall {
        /// The classified outcome.
        outcome: Outcome,
        /// How long the call took.
        duration: Duration,
    },
    /// A breaker rejected a call without sending it.
    BreakerRejected {
        /// When it expects to admit calls again, if known.
        retry_after: Option<Duration>,
    },
    /// A breaker changed state.
    BreakerTransition {
        /// The state it left.
        from: BreakerState,
        /// The state it entered.
        to: BreakerState,
    },
    /// A fallback answered in place of the service.
    FallbackUsed {
        /// The failure that called for it.
        reason: Failure,
    },
    /// A balancer ejected an endpoint.
    EndpointEjected {
        /// How many times this endpoint has been ejected in a row, this time included.
        ejections: u32,
        /// For how long.
        duration: Duration,
    },
    /// A balancer let an ejected endpoint back in.
    EndpointRestored,
    /// A balancer dropped an endpoint whose readiness failed.
    EndpointRemoved,
    /// A balancer had no endpoint for a request.
    NoEndpoint,
    /// A chaos layer injected a fault.
    FaultInjected {
        /// What it injected.
        fault: Fault,
    },
}

/// A fault a chaos layer injects.
///
/// ```
/// use std::time::Duration;
/// use bulwark_policy::Fault;
///
/// assert_eq!(Fault::Latency(Duration::from_millis(30)).as_str(), "latency");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// An error in place of the call.
    Error,
    /// A delay before the call.
    Latency(Duration),
    /// A chosen response in place of the call.
    Response,
    /// The call failed because a scheduled outage was under way.
    Outage,
}

impl Fault {
    /// A stable lower-case name, for labels.
    ///
    /// ```
    /// assert_eq!(bulwark_policy::Fault::Outage.as_str(), "outage");
    /// ```
    pub const fn as_str(&self) -> &'static str {
        match self {
            Fault::Error => "error",
            Fault::Latency(_) => "latency",
            Fault::Response => "response",
            Fault::Outage => "outage",
        }
    }
}

impl EventKind {
    /// A stable snake-case name for the kind of event.
    ///
    /// ```
    /// assert_eq!(bulwark_policy::EventKind::NotReplayable.as_str(), "not_replayable");
    /// ```
    pub const fn as_str(&self) -> &'static str {
        match self {
            EventKind::RetryAttempt { .. } => "retry_attempt",
            EventKind::RetriesExhausted { .. } => "retries_exhausted",
            EventKind::BudgetExhausted { .. } => "budget_exhausted",
            EventKind::DeadlineTooNear { .. } => "deadline_too_near",
            EventKind::NotReplayable => "not_replayable",
            EventKind::TimeoutElapsed { .. } => "timeout_elapsed",
            EventKind::BreakerCall { .. } => "breaker_call",
            EventKind::BreakerRejected { .. } => "breaker_rejected",
            EventKind::BreakerTransition { .. } => "breaker_transition",
            EventKind::FallbackUsed { .. } => "fallback_used",
            EventKind::EndpointEjected { .. } => "endpoint_ejected",
            EventKind::EndpointRestored => "endpoint_restored",
            EventKind::EndpointRemoved => "endpoint_removed",
            EventKind::NoEndpoint => "no_endpoint",
            EventKind::FaultInjected { .. } => "fault_injected",
        }
    }
}

/// A borrowed key — a host, a route, an endpoint — shown through `Display`.
///
/// ```
/// use bulwark_policy::KeyRef;
///
/// let host = "db-1:5432";
/// assert_eq!(KeyRef::new(&host).to_string(), "db-1:5432");
/// ```
#[derive(Clone, Copy)]
pub struct KeyRef<'a>(&'a (dyn fmt::Display + 'a));

impl<'a> KeyRef<'a> {
    /// Borrows `key`.
    ///
    /// ```
    /// let key = "db-1";
    /// let key = bulwark_policy::KeyRef::new(&key);
    /// assert_eq!(format!("{key:?}"), "\"db-1\"");
    /// ```
    pub fn new(key: &'a (dyn fmt::Display + 'a)) -> Self {
        Self(key)
    }
}

impl fmt::Display for KeyRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for KeyRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0)
    }
}

/// One decision of one layer instance: the instance's name, the key it concerns (for keyed
/// breakers and balancer endpoints), and what happened.
///
/// ```
/// use bulwark_policy::{BreakerState, Event, EventKind};
///
/// let host = "api.example.com";
/// let event = Event::new(
///     "upstream",
///     EventKind::BreakerTransition { from: BreakerState::Closed, to: BreakerState::Open },
/// )
/// .with_key(&host);
/// assert_eq!(event.name(), "upstream");
/// assert_eq!(event.key().unwrap().to_string(), "api.example.com");
/// assert_eq!(event.kind().as_str(), "breaker_transition");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    name: &'a str,
    key: Option<KeyRef<'a>>,
    kind: EventKind,
}

impl<'a> Event<'a> {
    /// An event of the layer instance `name`.
    ///
    /// ```
    /// use bulwark_policy::{Event, EventKind};
    /// let event = Event::new("payments", EventKind::EndpointRestored);
    /// assert!(event.key().is_none());
    /// ```
    #[inline]
    pub fn new(name: &'a str, kind: EventKind) -> Self {
        Self {
            name,
            key: None,
            kind,
        }
    }

    /// Names the key (host, route, endpoint) the event concerns.
    ///
    /// ```
    /// use bulwark_policy::{Event, EventKind};
    /// let port = 8080u16;
    /// let event = Event::new("lb", EventKind::EndpointRestored).with_key(&port);
    /// assert_eq!(event.key().unwrap().to_string(), "8080");
    /// ```
    #[inline]
    pub fn with_key(mut self, key: &'a (dyn fmt::Display + 'a)) -> Self {
        self.key = Some(KeyRef(key));
        self
    }

    /// The name of the layer instance, as given to its `.name(..)`.
    ///
    /// ```
    /// use bulwark_policy::{Event, EventKind};
    /// assert_eq!(Event::new("payments", EventKind::NoEndpoint).name(), "payments");
    /// ```
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The key, for keyed breakers and balancer endpoints.
    ///
    /// ```
    /// use bulwark_policy::{Event, EventKind};
    /// assert!(Event::new("lb", EventKind::NoEndpoint).key().is_none());
    /// ```
    pub fn key(&self) -> Option<KeyRef<'a>> {
        self.key
    }

    /// What happened.
    ///
    /// ```
    /// use bulwark_policy::{Event, EventKind};
    /// assert_eq!(Event::new("lb", EventKind::NoEndpoint).kind(), &EventKind::NoEndpoint);
    /// ```
    pub fn kind(&self) -> &EventKind {
        &self.kind
    }
}

/// The hook a layer reports to, or none; cheap to clone and share between services.
///
/// [`emit`](Self::emit) takes a closure that builds the event, so with no hook set nothing is
/// built and nothing allocated.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use bulwark_policy::{Event, EventKind, FnHook, SharedHook};
///
/// let seen = Arc::new(AtomicU32::new(0));
/// let counter = seen.clone();
/// let hook = SharedHook::new(FnHook::new(move |_: &Event<'_>| {
///     counter.fetch_add(1, Ordering::Relaxed);
/// }));
/// hook.emit(|| Event::new("retry", EventKind::NotReplayable));
/// SharedHook::none().emit(|| unreachable!("no hook, no event"));
/// assert_eq!(seen.load(Ordering::Relaxed), 1);
/// ```
#[derive(Clone, Default)]
pub struct SharedHook(Option<Arc<dyn Hook>>);

impl SharedHook {
    /// Reports to `hook`.
    ///
    /// ```
    /// use bulwark_policy::{SharedHook, TracingHook};
    /// assert!(SharedHook::new(TracingHook::new()).is_set());
    /// ```
    pub fn new(hook: impl Hook) -> Self {
        Self(Some(Arc::new(hook)))
    }

    /// Reports to an already shared hook.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use bulwark_policy::{Hook, SharedHook, TracingHook};
    ///
    /// let hook: Arc<dyn Hook> = Arc::new(TracingHook::new());
    /// assert!(SharedHook::from_arc(hook).is_set());
    /// ```
    pub fn from_arc(hook: Arc<dyn Hook>) -> Self {
        Self(Some(hook))
    }

    /// Reports to nobody.
    ///
    /// ```
    /// use bulwark_policy::SharedHook;
    /// assert!(!SharedHook::none().is_set());
    /// ```
    pub const fn none() -> Self {
        Self(None)
    }

    /// Whether a hook is set.
    ///
    /// ```
    /// assert!(!bulwark_policy::SharedHook::none().is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// Builds the event and reports it, if a hook is set.
    ///
    /// ```
    /// use bulwark_policy::{Event, EventKind, SharedHook, TracingHook};
    /// let hook = SharedHook::new(TracingHook::new());
    /// hook.emit(|| Event::new("lb", EventKind::NoEndpoint));
    /// ```
    #[inline]
    pub fn emit<'a>(&self, event: impl FnOnce() -> Event<'a>) {
        if let Some(hook) = &self.0 {
            hook.on_event(&event());
        }
    }
}

impl fmt::Debug for SharedHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_set() {
            "SharedHook(set)"
        } else {
            "SharedHook(none)"
        })
    }
}

/// A hook that calls a closure.
///
/// ```
/// use bulwark_policy::{Event, EventKind, FnHook, Hook};
///
/// let hook = FnHook::new(|event: &Event<'_>| assert_eq!(event.name(), "db"));
/// hook.on_event(&Event::new("db", EventKind::NoEndpoint));
/// ```
#[derive(Clone)]
pub struct FnHook<F>(F);

impl<F> FnHook<F>
where
    F: Fn(&Event<'_>) + Send + Sync + 'static,
{
    /// Calls `f` for every event.
    ///
    /// ```
    /// use bulwark_policy::{Event, FnHook, SharedHook};
    /// let hook = SharedHook::new(FnHook::new(|e: &Event<'_>| println!("{}: {}", e.name(), e.kind().as_str())));
    /// assert!(hook.is_set());
    /// ```
    pub fn new(f: F) -> Self {
        Self(f)
    }
}

impl<F> Hook for FnHook<F>
where
    F: Fn(&Event<'_>) + Send + Sync + 'static,
{
    fn on_event(&self, event: &Event<'_>) {
        (self.0)(event)
    }
}

impl<F> fmt::Debug for FnHook<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnHook")
    }
}

/// Sends every event to several hooks, in order.
///
/// ```
/// use bulwark_policy::{Event, EventKind, FanOut, FnHook, Hook, TracingHook};
///
/// let hook = FanOut::new()
///     .with(TracingHook::new())
///     .with(FnHook::new(|e: &Event<'_>| assert_eq!(e.kind().as_str(), "no_endpoint")));
/// assert_eq!(hook.len(), 2);
/// hook.on_event(&Event::new("lb", EventKind::NoEndpoint));
/// ```
#[derive(Clone, Default)]
pub struct FanOut(Vec<Arc<dyn Hook>>);

impl FanOut {
    /// No hooks yet.
    ///
    /// ```
    /// assert_eq!(bulwark_policy::FanOut::new().len(), 0);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a hook.
    ///
    /// ```
    /// use bulwark_policy::{FanOut, TracingHook};
    /// assert_eq!(FanOut::new().with(TracingHook::new()).len(), 1);
    /// ```
    pub fn with(mut self, hook: impl Hook) -> Self {
        self.0.push(Arc::new(hook));
        self
    }

    /// How many hooks it sends to.
    ///
    /// ```
    /// use bulwark_policy::{FanOut, TracingHook};
    /// let hooks = FanOut::new().with(TracingHook::new()).with(TracingHook::new());
    /// assert_eq!(hooks.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it sends to none.
    ///
    /// ```
    /// assert!(bulwark_policy::FanOut::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Hook for FanOut {
    fn on_event(&self, event: &Event<'_>) {
        for hook in &self.0 {
            hook.on_event(event);
        }
    }
}

impl fmt::Debug for FanOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FanOut").field(&self.0.len()).finish()
    }
}

//! The peers as tower services: thin adapters for the breakers that are not tower layers
//! (failsafe, recloser), tower retry policies equivalent to ours, the peers' breakers tripped
//! open, and the peers' versions of the standard client stack.
//!
//! ```
//! use bulwark_benches::{bare, once, peers};
//!
//! let mut breaker = peers::Recloser::default_config(bare());
//! assert_eq!(once(&mut breaker, 7).unwrap(), 7);
//! ```

use std::future::{ready, Ready};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bulwark_policy::BoxError;
use tower::retry::budget::{Budget as _, TpsBudget};
use tower::{Layer, Service, ServiceBuilder};
use tower_resilience::circuitbreaker::{
    CircuitBreaker, CircuitBreakerError, CircuitBreakerLayer, DefaultClassifier,
};

use crate::once;

/// failsafe's breaker around a service, through its futures API: `call` hands the inner
/// service's future to `CircuitBreaker::call`, the thinnest way to put it in a tower stack.
pub struct Failsafe<S, P> {
    inner: S,
    breaker: failsafe::StateMachine<P, ()>,
}

impl<S: Clone, P> Clone for Failsafe<S, P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
        }
    }
}

/// failsafe's default failure policy.
pub type FailsafeDefault = failsafe::failure_policy::OrElse<
    failsafe::failure_policy::SuccessRateOverTimeWindow<failsafe::backoff::EqualJittered>,
    failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::EqualJittered>,
>;

impl<S> Failsafe<S, FailsafeDefault> {
    /// failsafe's default configuration: a success rate over a time window, or else
    /// consecutive failures.
    pub fn default_config(inner: S) -> Self {
        Self {
            inner,
            breaker: failsafe::Config::new().build(),
        }
    }
}

/// failsafe's policy that opens after consecutive failures, for a constant time.
pub type FailsafeConsecutive =
    failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>;

impl<S> Failsafe<S, FailsafeConsecutive> {
    /// Opens on the first failure, for an hour.
    pub fn open_after_one(inner: S) -> Self {
        let policy = failsafe::failure_policy::consecutive_failures(
            1,
            failsafe::backoff::constant(Duration::from_secs(3600)),
        );
        Self {
            inner,
            breaker: failsafe::Config::new().failure_policy(policy).build(),
        }
    }
}

impl<S, P, Req> Service<Req> for Failsafe<S, P>
where
    S: Service<Req>,
    P: failsafe::FailurePolicy + Send + Sync,
{
    type Response = S::Response;
    type Error = failsafe::Error<S::Error>;
    type Future = failsafe::futures::ResponseFuture<S::Future, P, (), failsafe::Any>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(failsafe::Error::Inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        failsafe::futures::CircuitBreaker::call(&self.breaker, self.inner.call(req))
    }
}

/// recloser's `AsyncRecloser` around a service: `call` hands the inner service's future to
/// `AsyncRecloser::call`.
#[derive(Clone)]
pub struct Recloser<S> {
    inner: S,
    breaker: recloser::AsyncRecloser,
}

impl<S> Recloser<S> {
    /// recloser's default configuration: a failure rate of 0.5 over a ring of 100 calls.
    pub fn default_config(inner: S) -> Self {
        Self {
            inner,
            breaker: recloser::Recloser::default().into(),
        }
    }

    /// Opens once two calls have failed, for an hour.
    pub fn open_after_two(inner: S) -> Self {
        let breaker = recloser::Recloser::custom()
            .error_rate(0.5)
            .closed_len(2)
            .open_wait(Duration::from_secs(3600))
            .build();
        Self {
            inner,
            breaker: breaker.into(),
        }
    }
}

impl<S, Req, T, E> Service<Req> for Recloser<S>
where
    S: Service<Req, Response = T, Error = E>,
{
    type Response = T;
    type Error = recloser::Error<E>;
    type Future = recloser::RecloserFuture<S::Future, recloser::AnyError>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(recloser::Error::Inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        self.breaker.call(self.inner.call(req))
    }
}

/// tower's retry policy equivalent to ours: keep a copy of the request, retry an error up to
/// `attempts` in all, and, with a budget, deposit on every success and withdraw for a retry,
/// as tower's budget docs describe.
#[derive(Clone)]
pub struct TowerAttempts {
    left: usize,
    budget: Option<Arc<TpsBudget>>,
}

impl TowerAttempts {
    /// `attempts` in all, the first included; with `budget`, retries draw on it.
    pub fn new(attempts: usize, budget: Option<Arc<TpsBudget>>) -> Self {
        Self {
            left: attempts - 1,
            budget,
        }
    }
}

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for TowerAttempts {
    type Future = Ready<()>;

    fn retry(&mut self, _: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        match result {
            Ok(_) => {
                if let Some(budget) = &self.budget {
                    budget.deposit();
                }
                None
            }
            Err(_) if self.left > 0 => {
                if let Some(budget) = &self.budget {
                    if !budget.withdraw() {
                        return None;
                    }
                }
                self.left -= 1;
                Some(ready(()))
            }
            Err(_) => None,
        }
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// tower's retry policy with tower's own backoff: retry an error up to `attempts` in all, each
/// after the next delay of `tower::retry::backoff::ExponentialBackoff` from 100 ms, doubling,
/// at most 10 s. Only those three match our default backoff: tower's jitter of 1.0 adds up to
/// the whole delay again (a delay between d and 2d), where ours draws between 0 and d. tower
/// clones the policy into each request, generator state included, so every request draws the
/// same jitter; the success path never draws. The sleep is boxed, as ours is, so the success
/// path's future does not carry tokio's `Sleep`.
#[derive(Clone)]
pub struct TowerBackoff {
    left: usize,
    backoff: tower::retry::backoff::ExponentialBackoff,
}

impl TowerBackoff {
    /// `attempts` in all, the first included.
    pub fn new(attempts: usize) -> Self {
        use tower::retry::backoff::{ExponentialBackoffMaker, MakeBackoff as _};
        use tower::util::rng::HasherRng;
        let mut maker = ExponentialBackoffMaker::new(
            Duration::from_millis(100),
            Duration::from_secs(10),
            1.0,
            HasherRng::new(),
        )
        .expect("valid backoff");
        Self {
            left: attempts - 1,
            backoff: maker.make_backoff(),
        }
    }
}

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for TowerBackoff {
    type Future = Pin<Box<tokio::time::Sleep>>;

    fn retry(&mut self, _: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        use tower::retry::backoff::Backoff as _;
        match result {
            Err(_) if self.left > 0 => {
                self.left -= 1;
                Some(Box::pin(self.backoff.next_backoff()))
            }
            _ => None,
        }
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// tower's retry policy for the retried call: up to two retries of an error (three attempts,
/// as tower-resilience's `max_attempts(3)`), each after a tokio sleep.
#[derive(Clone)]
pub struct TowerSleepRetry {
    delay: Duration,
    left: usize,
}

impl TowerSleepRetry {
    /// Retries after sleeping `delay`.
    pub fn new(delay: Duration) -> Self {
        Self { delay, left: 2 }
    }
}

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for TowerSleepRetry {
    type Future = tokio::time::Sleep;

    fn retry(&mut self, _: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        match result {
            Err(_) if self.left > 0 => {
                self.left -= 1;
                Some(tokio::time::sleep(self.delay))
            }
            _ => None,
        }
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// tower-resilience's `CircuitBreaker` around `inner`, set to open on the first failure, for
/// an hour.
pub fn resilience_open_after_one<S>(inner: S) -> CircuitBreaker<S, DefaultClassifier> {
    CircuitBreakerLayer::builder()
        .consecutive_failures(1)
        .minimum_number_of_calls(1)
        .wait_duration_in_open(Duration::from_secs(3600))
        .build()
        .expect("a valid breaker")
        .layer(inner)
}

/// The peers' breakers, each around its own clone of one service, tripped open: every call
/// is rejected for an hour.
pub struct OpenPeers<S> {
    /// tower-resilience's `CircuitBreaker`.
    pub resilience: CircuitBreaker<S, DefaultClassifier>,
    /// failsafe's breaker, through its futures API.
    pub failsafe: Failsafe<S, FailsafeConsecutive>,
    /// recloser's `AsyncRecloser`.
    pub recloser: Recloser<S>,
}

/// tower-resilience's, failsafe's and recloser's breakers around clones of `failing`, which
/// must fail every call while they trip: four calls open each one. Panics unless each then
/// rejects a call with its own rejection error.
///
/// ```
/// use std::future::ready;
/// use bulwark_policy::BoxError;
///
/// let failing = tower::service_fn(|_: u64| ready(Err::<u64, _>(BoxError::from("down"))));
/// let mut open = bulwark_benches::peers::open_peers(failing);
/// assert!(matches!(
///     bulwark_benches::once(&mut open.recloser, 1),
///     Err(recloser::Error::Rejected)
/// ));
/// ```
pub fn open_peers<S>(failing: S) -> OpenPeers<S>
where
    S: Service<u64, Response = u64, Error = BoxError, Future = Ready<Result<u64, BoxError>>>
        + Clone
        + Send
        + 'static,
{
    let mut open = OpenPeers {
        resilience: resilience_open_after_one(failing.clone()),
        failsafe: Failsafe::open_after_one(failing.clone()),
        recloser: Recloser::open_after_two(failing),
    };
    for i in 0..4 {
        let _ = once(&mut open.resilience, i);
        let _ = once(&mut open.failsafe, i);
        let _ = once(&mut open.recloser, i);
    }
    assert!(matches!(
        once(&mut open.resilience, 0),
        Err(CircuitBreakerError::OpenCircuit)
    ));
    assert!(matches!(
        once(&mut open.failsafe, 0),
        Err(failsafe::Error::Rejected)
    ));
    assert!(matches!(
        once(&mut open.recloser, 0),
        Err(recloser::Error::Rejected)
    ));
    open
}

/// tower's nearest to the standard client stack: a total timeout of 2 s, a retry with a
/// budget, and a per-attempt timeout of 500 ms. tower has no breaker and no fallback.
pub fn tower_stack<S, T>(
    inner: S,
) -> impl Service<u64, Response = T, Error = BoxError, Future = impl Send> + Clone + Send + 'static
where
    S: Service<u64, Response = T, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send,
    T: Send + 'static,
{
    let budget = Arc::new(TpsBudget::new(Duration::from_secs(10), 10, 0.2));
    ServiceBuilder::new()
        .timeout(Duration::from_secs(2))
        .layer(tower::retry::RetryLayer::new(TowerAttempts::new(
            3,
            Some(budget),
        )))
        .timeout(Duration::from_millis(500))
        .service(inner)
}

/// The per-attempt time limit's error in tower-resilience's stack.
pub type TrInner = tower_resilience::timelimiter::TimeLimiterError<BoxError>;
/// The breaker's error in tower-resilience's stack.
pub type TrBreaker = tower_resilience::circuitbreaker::CircuitBreakerError<TrInner>;
/// The total time limit's error in tower-resilience's stack.
pub type TrOuter = tower_resilience::timelimiter::TimeLimiterError<TrBreaker>;

/// tower-resilience's standard client stack, outermost first: a fallback value, a total time
/// limit of 2 s, a retry of up to 3 attempts, a breaker, and a per-attempt time limit of
/// 500 ms.
pub fn resilience_stack<S>(
    inner: S,
) -> impl Service<u64, Response = u64, Error = tower_resilience::fallback::FallbackError<TrOuter>>
       + Clone
       + Send
       + 'static
where
    S: Service<u64, Response = u64, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let attempt = tower_resilience::timelimiter::TimeLimiterLayer::builder()
        .timeout_duration(Duration::from_millis(500))
        .build()
        .layer(inner);
    let breaker = tower_resilience::circuitbreaker::CircuitBreakerLayer::builder()
        .build()
        .expect("a valid breaker")
        .layer(attempt);
    let retry = tower_resilience::retry::RetryLayer::<u64, u64, TrBreaker>::builder()
        .max_attempts(3)
        .build()
        .layer(breaker);
    let total = tower_resilience::timelimiter::TimeLimiterLayer::builder()
        .timeout_duration(Duration::from_secs(2))
        .build()
        .layer(retry);
    tower_resilience::fallback::FallbackLayer::<u64, u64, TrOuter>::value(0).layer(total)
}

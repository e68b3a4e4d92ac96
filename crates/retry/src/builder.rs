//! The builder of a [`RetryLayer`].

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bulwark_policy::{
    Backoff, BudgetConfig, CloneReplay, ConfigError, ErrorsAsFailures, ExtensionsDeadline, Hook,
    RetryBudget, SharedHook,
};

use crate::handle::Settings;
use crate::layer::Shared;
use crate::{AnyRequest, RetryConfig, RetryLayer};

pub(crate) const DEFAULT_MAX_ATTEMPTS: u32 = 3;
pub(crate) const DEFAULT_NAME: &str = "retry";

pub(crate) fn validate_max_attempts(n: u32) -> Result<(), ConfigError> {
    if n == 0 {
        return Err(ConfigError::new(
            "max_attempts",
            "must be at least 1: it counts every attempt, the first included",
        ));
    }
    Ok(())
}

/// Where the layer's budget comes from.
#[derive(Debug, Clone)]
enum BudgetSetting {
    Config(BudgetConfig),
    Shared(Arc<RetryBudget>),
    Off,
}

/// Configures a [`RetryLayer`]; made by [`RetryLayer::builder`].
///
/// The methods that take code — [`classify`](Self::classify), [`deadline`](Self::deadline),
/// [`replay`](Self::replay) and [`retry_if_request`](Self::retry_if_request) — change the
/// builder's type, so closures are used without boxing. [`build`](Self::build) validates.
///
/// ```
/// use std::time::Duration;
/// use bulwark_policy::{Backoff, Failure, FailureKind, IgnoreDeadline, Outcome};
/// use bulwark_retry::RetryLayer;
///
/// let layer = RetryLayer::builder()
///     .max_attempts(5)
///     .backoff(Backoff::constant(Duration::from_millis(10)))
///     .classify(|r: &Result<u16, std::io::Error>| match r {
///         Ok(503) => Outcome::Failure(Failure::new(FailureKind::Overloaded).retryable(true)),
///         Ok(_) => Outcome::Success,
///         Err(_) => Outcome::Failure(Failure::new(FailureKind::Error).retryable(true)),
///     })
///     .deadline(IgnoreDeadline)
///     .retry_if_request(|path: &&str| !path.starts_with("/pay"))
///     .build()
///     .unwrap();
/// assert_eq!(layer.max_attempts(), 5);
/// ```
pub struct RetryBuilder<
    C = ErrorsAsFailures,
    D = ExtensionsDeadline,
    R = CloneReplay,
    P = AnyRequest,
> {
    max_attempts: u32,
    backoff: Backoff,
    budget: BudgetSetting,
    retry_after_cap: Option<Option<Duration>>,
    classify: C,
    deadline: D,
    replay: R,
    predicate: P,
    name: Cow<'static, str>,
    hook: SharedHook,
    seed: Option<u64>,
}

impl RetryBuilder {
    pub(crate) fn new() -> Self {
        Self {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff: Backoff::default(),
            budget: BudgetSetting::Config(BudgetConfig::default()),
            retry_after_cap: None,
            classify: ErrorsAsFailures,
            deadline: ExtensionsDeadline,
            replay: CloneReplay,
            predicate: AnyRequest,
            name: Cow::Borrowed(DEFAULT_NAME),
            hook: SharedHook::none(),
            seed: None,
        }
    }
}

impl<C, D, R, P> RetryBuilder<C, D, R, P> {
    /// The number of attempts, the first included: `3` means one call and up to two retries.
    /// Must be at least 1; `1` turns retrying off. Default 3.
    ///
    /// ```
    /// use bulwark_retry::RetryLayer;
    ///
    /// let err = RetryLayer::builder().max_attempts(0).build().unwrap_err();
    /// assert_eq!(err.field(), "max_attempts");
    /// ```
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// The delay before each retry. Default [`Backoff::default`]: exponential from 100 ms,
    /// doubling, at most 10 s, with full jitter. Its `retry_after_cap` bounds server hints
    /// unless [`honor_retry_after`](Self::honor_retry_after) says otherwise.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::{Backoff, Jitter};
    /// use bulwark_retry::RetryLayer;
    ///
    /// let bad = Backoff::constant(Duration::ZERO).jitter(Jitter::Proportional(2.0));
    /// assert_eq!(RetryLayer::builder().backoff(bad).build().unwrap_err().field(), "jitter");
    /// ```
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Draws retries from `budget`; pass the same `Arc` to several layers to share it.
    /// Default: a budget of this layer's own, [`RetryBudget::default`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use bulwark_policy::RetryBudget;
    /// use bulwark_retry::RetryLayer;
    ///
    /// let budget = Arc::new(RetryBudget::default());
    /// let a = RetryLayer::builder().budget(budget.clone()).build().unwrap();
    /// let b = RetryLayer::builder().budget(budget.clone()).build().unwrap();
    /// assert!(Arc::ptr_eq(a.budget().unwrap(), b.budget().unwrap()));
    /// ```
    pub fn budget(mut self, budget: impl Into<Arc<RetryBudget>>) -> Self {
        self.budget = BudgetSetting::Shared(budget.into());
        self
    }

    /// Makes this layer's own budget from `config`, validated by [`build`](Self::build).
    ///
    /// ```
    /// use bulwark_policy::BudgetConfig;
    /// use bulwark_retry::RetryLayer;
    ///
    /// let config = BudgetConfig { retry_percent: 0.1, ..BudgetConfig::default() };
    /// let layer = RetryLayer::builder().budget_config(config).build().unwrap();
    /// assert_eq!(layer.budget().unwrap().retry_percent(), 0.1);
    /// ```
    pub fn budget_config(mut self, config: BudgetConfig) -> Self {
        self.budget = BudgetSetting::Config(config);
        self
    }

    /// Turns the budget off: only `max_attempts` bounds retries. See the crate docs for why
    /// that is rarely wise in production.
    ///
    /// ```
    /// use bulwark_retry::RetryLayer;
    ///
    /// assert!(RetryLayer::builder().no_budget().build().unwrap().budget().is_none());
    /// ```
    pub fn no_budget(mut self) -> Self {
        self.budget = BudgetSetting::Off;
        self
    }

    /// Honours a failure's `retry_after` (Retry-After, gRPC pushback, a breaker's open time)
    /// in place of the backoff's delay, cutting it to `max`. This overrides the backoff's own
    /// `retry_after_cap`, whichever was set first. Default: the backoff's cap, 30 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_retry::RetryLayer;
    ///
    /// let layer = RetryLayer::builder().honor_retry_after(Duration::from_secs(5)).build().unwrap();
    /// assert_eq!(layer.backoff().get_retry_after_cap(), Some(Duration::from_secs(5)));
    /// ```
    pub fn honor_retry_after(mut self, max: Duration) -> Self {
        self.retry_after_cap = Some(Some(max));
        self
    }

    /// Ignores a failure's `retry_after`: the backoff alone sets the delay.
    ///
    /// ```
    /// use bulwark_retry::RetryLayer;
    ///
    /// let layer = RetryLayer::builder().ignore_retry_after().build().unwrap();
    /// assert_eq!(layer.backoff().get_retry_after_cap(), None);
    /// ```
    pub fn ignore_retry_after(mut self) -> Self {
        self.retry_after_cap = Some(None);
        self
    }

    /// The name every event of this layer carries. Default `"retry"`.
    ///
    /// ```
    /// use bulwark_retry::RetryLayer;
    ///
    /// assert_eq!(RetryLayer::builder().name("db").build().unwrap().name(), "db");
    /// ```
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Reports every decision to `hook`; use a `FanOut` for several. Default: none, and then
    /// no event is built at all.
    ///
    /// ```
    /// use bulwark_policy::TracingHook;
    /// use bulwark_retry::RetryLayer;
    ///
    /// let layer = RetryLayer::builder().hook(TracingHook::new()).build().unwrap();
    /// # let _ = layer;
    /// ```
    pub fn hook(mut self, hook: impl Hook) -> Self {
        self.hook = SharedHook::new(hook);
        self
    }

    /// Reports to an already shared hook, so that several layers report through one `Arc`
    /// instead of wrapping it again. Replaces any [`hook`](Self::hook) set before.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use bulwark_policy::{Event, EventKind, FnHook, IgnoreDeadline, SharedHook};
    /// use bulwark_retry::RetryLayer;
    /// use tower::{service_fn, ServiceBuilder, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let retries = Arc::new(AtomicU32::new(0));
    /// let counter = retries.clone();
    /// let hook = SharedHook::new(FnHook::new(move |e: &Event<'_>| {
    ///     if matches!(e.kind(), EventKind::RetryAttempt { .. }) {
    ///         counter.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// }));
    ///
    /// let calls = Arc::new(AtomicU32::new(0));
    /// let seen = calls.clone();
    /// let svc = ServiceBuilder::new()
    ///     .layer(RetryLayer::builder().deadline(IgnoreDeadline).shared_hook(hook).build()?)
    ///     .service(service_fn(move |n: u32| {
    ///         let call = seen.fetch_add(1, Ordering::Relaxed);
    ///         async move { if call == 0 { Err("unavailable") } else { Ok(n) } }
    ///     }));
    /// assert_eq!(svc.oneshot(7).await?, 7);
    /// assert_eq!(retries.load(Ordering::Relaxed), 1);
    /// # Ok(()) }
    /// ```
    pub fn shared_hook(mut self, hook: SharedHook) -> Self {
        self.hook = hook;
        self
    }

    /// Seeds the jitter, for tests that pin the delays: the first request that retries draws
    /// from `Rng::new(seed)`, the n-th (counting from 0) from `Rng::new(seed + n)`. Default:
    /// each request draws from `Rng::from_entropy()`, made only when it first retries.
    ///
    /// ```
    /// use bulwark_retry::RetryLayer;
    ///
    /// let layer = RetryLayer::builder().seed(7).build().unwrap();
    /// # let _ = layer;
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Applies plain-data settings: attempts, backoff, budget and name.
    ///
    /// ```
    /// use bulwark_retry::{RetryConfig, RetryLayer};
    ///
    /// let config = RetryConfig { budget: None, ..RetryConfig::default() };
    /// let layer = RetryLayer::builder().config(config).build().unwrap();
    /// assert!(layer.budget().is_none());
    /// ```
    pub fn config(mut self, config: RetryConfig) -> Self {
        self.max_attempts = config.max_attempts;
        self.backoff = config.backoff;
        self.budget = match config.budget {
            Some(budget) => BudgetSetting::Config(budget),
            None => BudgetSetting::Off,
        };
        self.name = config.name;
        self
    }

    /// Decides which results are retried: a failure marked retryable is, after the backoff or
    /// the failure's `retry_after`; anything else comes back as it is. Default
    /// [`ErrorsAsFailures`]: every `Err` is a retryable failure except a breaker's rejection,
    /// and every `Ok` a success.
    ///
    /// ```
    /// use bulwark_policy::{Failure, FailureKind, IgnoreDeadline, Outcome};
    /// use bulwark_retry::RetryLayer;
    ///
    /// // Retry only timeouts.
    /// let layer = RetryLayer::builder()
    ///     .deadline(IgnoreDeadline)
    ///     .classify(|r: &Result<(), bulwark_policy::BoxError>| match r {
    ///         Ok(()) => Outcome::Success,
    ///         Err(e) if e.is::<bulwark_policy::Elapsed>() => {
    ///             Outcome::Failure(Failure::new(FailureKind::Timeout).retryable(true))
    ///         }
    ///         Err(_) => Outcome::Failure(Failure::new(FailureKind::Error)),
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn classify<C2>(self, classify: C2) -> RetryBuilder<C2, D, R, P> {
        RetryBuilder {
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            budget: self.budget,
            retry_after_cap: self.retry_after_cap,
            classify,
            deadline: self.deadline,
            replay: self.replay,
            predicate: self.predicate,
            name: self.name,
            hook: self.hook,
            seed: self.seed,
        }
    }

    /// How the request's `Deadline` is read. Default `ExtensionsDeadline`, for `http::Request`.
    ///
    /// **A request type that is not an `http::Request` needs one**: `IgnoreDeadline` for types
    /// that carry no deadline, or your own `DeadlineAccess`. Without it the layer does not
    /// implement `Service` for that type.
    ///
    /// ```
    /// use bulwark_policy::IgnoreDeadline;
    /// use bulwark_retry::RetryLayer;
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let layer = RetryLayer::builder().deadline(IgnoreDeadline).build().unwrap();
    /// let svc = layer.layer(service_fn(|n: u64| async move { Ok::<_, std::io::Error>(n) }));
    /// assert_eq!(svc.oneshot(3).await.unwrap(), 3);
    /// # }
    /// ```
    pub fn deadline<D2>(self, deadline: D2) -> RetryBuilder<C, D2, R, P> {
        RetryBuilder {
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            budget: self.budget,
            retry_after_cap: self.retry_after_cap,
            classify: self.classify,
            deadline,
            replay: self.replay,
            predicate: self.predicate,
            name: self.name,
            hook: self.hook,
            seed: self.seed,
        }
    }

    /// How a copy of the request is made for each attempt. Default `CloneReplay`, for any
    /// `Req: Clone`; bulwark-http's `ReplayBody` replays streaming HTTP bodies.
    ///
    /// ```
    /// use bulwark_policy::{IgnoreDeadline, Replay};
    /// use bulwark_retry::RetryLayer;
    ///
    /// // Sends large requests only once.
    /// #[derive(Clone)]
    /// struct SmallOnly;
    /// impl Replay<Vec<u8>> for SmallOnly {
    ///     fn replay(&self, req: &Vec<u8>) -> Option<Vec<u8>> {
    ///         (req.len() <= 1024).then(|| req.clone())
    ///     }
    /// }
    /// let layer = RetryLayer::builder().deadline(IgnoreDeadline).replay(SmallOnly).build().unwrap();
    /// # let _ = layer;
    /// ```
    pub fn replay<R2>(self, replay: R2) -> RetryBuilder<C, D, R2, P> {
        RetryBuilder {
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            budget: self.budget,
            retry_after_cap: self.retry_after_cap,
            classify: self.classify,
            deadline: self.deadline,
            replay,
            predicate: self.predicate,
            name: self.name,
            hook: self.hook,
            seed: self.seed,
        }
    }

    /// Which requests may be retried at all, decided before the first attempt: a
    /// [`RetryPredicate`](crate::RetryPredicate) or a `Fn(&Req) -> bool`. Default
    /// [`AnyRequest`]; for HTTP, [`IdempotentMethods`](crate::IdempotentMethods) is the safe
    /// choice.
    ///
    /// ```
    /// use bulwark_retry::{IdempotentMethods, RetryLayer};
    ///
    /// let layer = RetryLayer::builder().retry_if_request(IdempotentMethods).build().unwrap();
    /// # let _ = layer;
    /// ```
    pub fn retry_if_request<P2>(self, predicate: P2) -> RetryBuilder<C, D, R, P2> {
        RetryBuilder {
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            budget: self.budget,
            retry_after_cap: self.retry_after_cap,
            classify: self.classify,
            deadline: self.deadline,
            replay: self.replay,
            predicate,
            name: self.name,
            hook: self.hook,
            seed: self.seed,
        }
    }

    /// Validates the settings and makes the layer, with its own budget unless one was given.
    ///
    /// ```
    /// use bulwark_policy::BudgetConfig;
    /// use bulwark_retry::RetryLayer;
    ///
    /// let bad = BudgetConfig { min_per_sec: 1, retry_percent: f64::NAN, ..BudgetConfig::default() };
    /// let err = RetryLayer::builder().budget_config(bad).build().unwrap_err();
    /// assert_eq!(err.field(), "retry_percent");
    /// ```
    pub fn build(self) -> Result<RetryLayer<C, D, R, P>, ConfigError> {
        validate_max_attempts(self.max_attempts)?;
        let mut backoff = self.backoff;
        if let Some(cap) = self.retry_after_cap {
            backoff = backoff.retry_after_cap(cap);
        }
        backoff.validate()?;
        let budget = match self.budget {
            BudgetSetting::Config(config) => Some(Arc::new(config.build()?)),
            BudgetSetting::Shared(budget) => Some(budget),
            BudgetSetting::Off => None,
        };
        Ok(RetryLayer {
            shared: Arc::new(Shared {
                settings: Arc::new(Settings::new(
                    self.max_attempts,
                    backoff,
                    budget,
                    self.name,
                    self.hook,
                    self.seed,
                )),
                classify: self.classify,
                deadline: self.deadline,
                replay: self.replay,
                predicate: self.predicate,
            }),
        })
    }
}

impl<C, D, R, P> fmt::Debug for RetryBuilder<C, D, R, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBuilder")
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .field("budget", &self.budget)
            .field("retry_after_cap", &self.retry_after_cap)
            .field("classify", &std::any::type_name::<C>())
            .field("deadline", &std::any::type_name::<D>())
            .field("replay", &std::any::type_name::<R>())
            .field("predicate", &std::any::type_name::<P>())
            .field("name", &self.name)
            .field("hook", &self.hook)
            .field("seed", &self.seed)
            .finish()
    }
}

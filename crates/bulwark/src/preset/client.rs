//! The standard client stack: total timeout → retry (with a budget) → breaker → per-attempt
//! timeout.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bulwark_breaker::{Breaker, BreakerBuilder, BreakerConfig, BreakerHandle, BreakerLayer};
use bulwark_policy::{
    Backoff, BudgetConfig, CloneReplay, ConfigError, ErrorsAsFailures, ExtensionsDeadline, Hook,
    RetryBudget, SharedHook,
};
use bulwark_retry::{AnyRequest, Retry, RetryBuilder, RetryHandle, RetryLayer};
use bulwark_timeout::{Timeout, TimeoutLayer};
use tower_layer::{Identity, Layer};

/// The total timeout of [`standard_client`] unless set: 10 s.
///
/// ```
/// use tower_bulwark::preset;
/// let layer = preset::standard_client().build().unwrap();
/// assert_eq!(layer.total_timeout(), preset::DEFAULT_TOTAL_TIMEOUT);
/// ```
pub const DEFAULT_TOTAL_TIMEOUT: Duration = Duration::from_secs(10);
/// The per-attempt timeout of [`standard_client`] unless set: 3 s.
///
/// ```
/// use tower_bulwark::preset;
/// let layer = preset::standard_client().build().unwrap();
/// assert_eq!(layer.attempt_timeout(), preset::DEFAULT_ATTEMPT_TIMEOUT);
/// ```
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// The failure rate over the last [`DEFAULT_FAILURE_WINDOW`] attempts that trips a
/// [`standard_client`]'s breaker, once it has seen [`DEFAULT_FAILURE_MIN_CALLS`] attempts.
///
/// ```
/// use tower_bulwark::preset;
/// let config = preset::standard_client().build().unwrap().breaker_handle().config();
/// assert_eq!(config.failure_rate, Some(preset::DEFAULT_FAILURE_RATE));
/// assert_eq!(config.count_window, Some(preset::DEFAULT_FAILURE_WINDOW));
/// assert_eq!(config.min_calls, preset::DEFAULT_FAILURE_MIN_CALLS);
/// assert_eq!(config.consecutive_failures, None);
/// ```
pub const DEFAULT_FAILURE_RATE: f64 = 0.5;
/// The number of recent attempts a [`standard_client`]'s breaker judges its rate over.
///
/// ```
/// assert_eq!(tower_bulwark::preset::DEFAULT_FAILURE_WINDOW, 50);
/// ```
pub const DEFAULT_FAILURE_WINDOW: u32 = 50;
/// The number of attempts a [`standard_client`]'s breaker sees before it judges the rate.
///
/// ```
/// assert_eq!(tower_bulwark::preset::DEFAULT_FAILURE_MIN_CALLS, 20);
/// ```
pub const DEFAULT_FAILURE_MIN_CALLS: u32 = 20;
/// The name of a [`standard_client`]'s layers unless set.
///
/// ```
/// use tower_bulwark::preset;
/// let layer = preset::standard_client().build().unwrap();
/// assert_eq!(layer.breaker_handle().name(), preset::DEFAULT_CLIENT_NAME);
/// ```
pub const DEFAULT_CLIENT_NAME: &str = "client";

/// The standard client stack, to configure and then [`build`](StandardClient::build).
///
/// The layers, outermost first, and what each does:
///
/// 1. a **total timeout** ([`total_timeout`](StandardClient::total_timeout), default 10 s)
///    bounds the whole call, every attempt and every backoff sleep included, and puts its
///    deadline on the request, so the retry layer starts no attempt that cannot finish;
/// 2. **retry** ([`max_attempts`](StandardClient::max_attempts) 3, the first included;
///    exponential backoff from 100 ms with full jitter; a retry budget of 20% extra load plus
///    10 retries a second), which honours `Retry-After` up to 30 s;
/// 3. a **breaker** (it trips when half of the last 50 attempts failed, judged from 20
///    attempts on; it stays open 5 s, then longer on each trip in a row, up to 60 s; one
///    half-open probe), which sees every *attempt*, so an upstream that fails three attempts
///    of one call has failed three times. A rate rather than a run of failures is the
///    default because the retries make runs: against an upstream that drops 30% of calls at
///    random, five failures in a row come within a few hundred attempts, and a breaker that
///    opened on them would refuse the calls the retries would have saved;
/// 4. a **per-attempt timeout** ([`attempt_timeout`](StandardClient::attempt_timeout),
///    default 3 s), whose [`Elapsed`](bulwark_policy::Elapsed) the retry layer retries and
///    the breaker counts.
///
/// One classifier ([`classify`](StandardClient::classify)) decides for both the retry and
/// the breaker, and one hook ([`hook`](StandardClient::hook)) hears all four layers. A
/// breaker's rejection is not retried at once: it is a failure whose `retry_after` is the
/// time the breaker stays open, so the retry waits for it or, if that is longer than the
/// deadline allows, gives the rejection back.
///
/// Defaults are the layers' own, except the two timeouts, which the layers do not have, and
/// the breaker's trip rule (see 3.). Each setting is validated by
/// [`build`](StandardClient::build).
///
/// ```
/// use std::time::Duration;
/// use tower::{service_fn, Layer, ServiceExt};
/// use tower_bulwark::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let layer = preset::standard_client()
///     .total_timeout(Duration::from_secs(5))
///     .attempt_timeout(Duration::from_secs(1))
///     .max_attempts(4)
///     .backoff(Backoff::exponential(Duration::from_millis(50)))
///     .consecutive_failures(10)
///     .hook(TracingHook::new())
///     .name("inventory")
///     .build()?;
///
/// // An `http::Request` carries its deadline, so the default deadline access fits it.
/// let svc = layer.layer(service_fn(|req: http::Request<()>| async move {
///     Ok::<_, BoxError>(req.uri().path().len())
/// }));
/// assert_eq!(svc.oneshot(http::Request::get("/items").body(()).unwrap()).await?, 6);
/// # Ok(())
/// # }
/// ```
pub struct StandardClient<
    C = ErrorsAsFailures,
    D = ExtensionsDeadline,
    R = CloneReplay,
    P = AnyRequest,
    O = Identity,
    I = Identity,
> {
    /// The retry's own settings; the classifier and the deadline access are given to it, and
    /// to the other layers, by [`build`](Self::build).
    retry: RetryBuilder<ErrorsAsFailures, ExtensionsDeadline, R, P>,
    classify: C,
    deadline: D,
    settings: Settings,
    outer: O,
    inner: I,
}

/// The settings of a [`StandardClient`] whose types do not change with its type parameters.
struct Settings {
    breaker: BreakerBuilder,
    total_timeout: Duration,
    attempt_timeout: Duration,
    name: Cow<'static, str>,
    hook: SharedHook,
    seed: Option<u64>,
}

/// The standard client stack for any request type: total timeout → retry with a budget →
/// breaker → per-attempt timeout, with the defaults [`StandardClient`] lists.
///
/// Its deadline access is [`ExtensionsDeadline`], for `http::Request`s; a request of another
/// type needs [`.deadline(IgnoreDeadline)`](StandardClient::deadline) (or its own
/// `DeadlineAccess`). Its classifier is [`ErrorsAsFailures`]: every `Err` is a failure, every
/// `Ok` a success.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tower::{service_fn, Layer, ServiceExt};
/// use tower_bulwark::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// // The first attempt hangs; the per-attempt timeout cuts it off and the retry tries again.
/// let calls = Arc::new(AtomicU32::new(0));
/// let seen = calls.clone();
/// let upstream = service_fn(move |n: u32| {
///     let first = seen.fetch_add(1, Ordering::Relaxed) == 0;
///     async move {
///         if first {
///             std::future::pending::<()>().await;
///         }
///         Ok::<_, BoxError>(n * 2)
///     }
/// });
/// let layer = preset::standard_client()
///     .attempt_timeout(Duration::from_millis(200))
///     .deadline(IgnoreDeadline)
///     .build()?;
/// assert_eq!(layer.layer(upstream).oneshot(21).await?, 42);
/// assert_eq!(calls.load(Ordering::Relaxed), 2);
/// # Ok(())
/// # }
/// ```
pub fn standard_client() -> StandardClient {
    StandardClient {
        retry: RetryLayer::builder(),
        classify: ErrorsAsFailures,
        deadline: ExtensionsDeadline,
        settings: Settings {
            breaker: BreakerLayer::builder()
                .no_consecutive_failures()
                .failure_rate(DEFAULT_FAILURE_RATE)
                .count_window(DEFAULT_FAILURE_WINDOW)
                .min_calls(DEFAULT_FAILURE_MIN_CALLS),
            total_timeout: DEFAULT_TOTAL_TIMEOUT,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            name: Cow::Borrowed(DEFAULT_CLIENT_NAME),
            hook: SharedHook::none(),
            seed: None,
        },
        outer: Identity::new(),
        inner: Identity::new(),
    }
}

impl<C, D, R, P, O, I> StandardClient<C, D, R, P, O, I> {
    /// Bounds the whole call, every attempt and backoff sleep included. Default 10 s; must
    /// be more than zero and at least the [`attempt_timeout`](Self::attempt_timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_bulwark::preset;
    ///
    /// let layer = preset::standard_client().total_timeout(Duration::from_secs(30)).build().unwrap();
    /// assert_eq!(layer.total_timeout(), Duration::from_secs(30));
    /// let err = preset::standard_client().total_timeout(Duration::from_secs(1)).build().unwrap_err();
    /// assert_eq!(err.field(), "attempt_timeout");
    /// ```
    pub fn total_timeout(mut self, timeout: Duration) -> Self {
        self.settings.total_timeout = timeout;
        self
    }

    /// Bounds each attempt. Default 3 s; must be more than zero and at most the
    /// [`total_timeout`](Self::total_timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_bulwark::preset;
    ///
    /// let layer = preset::standard_client().attempt_timeout(Duration::from_millis(500)).build().unwrap();
    /// assert_eq!(layer.attempt_timeout(), Duration::from_millis(500));
    /// let err = preset::standard_client().attempt_timeout(Duration::ZERO).build().unwrap_err();
    /// assert_eq!(err.field(), "attempt_timeout");
    /// ```
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.settings.attempt_timeout = timeout;
        self
    }

    /// The number of attempts, the first included. Default 3; must be at least 1, and 1
    /// turns retrying off.
    ///
    /// ```
    /// use tower_bulwark::preset;
    ///
    /// let layer = preset::standard_client().max_attempts(5).build().unwrap();
    /// assert_eq!(layer.retry_handle().max_attempts(), 5);
    /// assert!(preset::standard_client().max_attempts(0).build().is_err());
    /// ```
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.retry = self.retry.max_attempts(n);
        self
    }

    /// The delay before each retry. Default: exponential from 100 ms, doubling, at most 10 s,
    /// with full jitter.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_bulwark::{policy::Backoff, preset};
    ///
    /// let backoff = Backoff::constant(Duration::from_millis(20));
    /// let layer = preset::standard_client().backoff(backoff.clone()).build().unwrap();
    /// assert_eq!(layer.retry_handle().backoff().base(), backoff.base());
    /// ```
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.retry = self.retry.backoff(backoff);
        self
    }

    /// Draws retries from `budget`, which several stacks may share. Default: a budget of the
    /// stack's own, 20% extra load plus 10 retries a second over 10 s.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tower_bulwark::{policy::RetryBudget, preset};
    ///
    /// let budget = Arc::new(RetryBudget::default());
    /// let layer = preset::standard_client().budget(budget.clone()).build().unwrap();
    /// assert!(Arc::ptr_eq(layer.retry_handle().budget().unwrap(), &budget));
    /// ```
    pub fn budget(mut self, budget: impl Into<Arc<RetryBudget>>) -> Self {
        self.retry = self.retry.budget(budget);
        self
    }

    /// Makes the stack's own budget from `config`.
    ///
    /// ```
    /// use tower_bulwark::{policy::BudgetConfig, preset};
    ///
    /// let config = BudgetConfig { retry_percent: 0.1, ..BudgetConfig::default() };
    /// let layer = preset::standard_client().budget_config(config).build().unwrap();
    /// assert_eq!(layer.retry_handle().budget().unwrap().retry_percent(), 0.1);
    /// ```
    pub fn budget_config(mut self, config: BudgetConfig) -> Self {
        self.retry = self.retry.budget_config(config);
        self
    }

    /// Turns the retry budget off: only [`max_attempts`](Self::max_attempts) bounds retries.
    ///
    /// ```
    /// let layer = tower_bulwark::preset::standard_client().no_budget().build().unwrap();
    /// assert!(layer.retry_handle().budget().is_none());
    /// ```
    pub fn no_budget(mut self) -> Self {
        self.retry = self.retry.no_budget();
        self
    }

    /// Honours a failure's `retry_after` (Retry-After, gRPC pushback, a breaker's open time)
    /// up to `max`. Default 30 s.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let layer = tower_bulwark::preset::standard_client()
    ///     .honor_retry_after(Duration::from_secs(2))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(layer.retry_handle().backoff().get_retry_after_cap(), Some(Duration::from_secs(2)));
    /// ```
    pub fn honor_retry_after(mut self, max: Duration) -> Self {
        self.retry = self.retry.honor_retry_after(max);
        self
    }

    /// Uses a configured breaker builder for everything but its classifier and name, which
    /// the stack's [`classify`](Self::classify) and [`name`](Self::name) replace, and its
    /// hook, which the stack's [`hook`](Self::hook) replaces if one is set. Settings given
    /// before this call (`consecutive_failures`, ...) are replaced by the builder's; those
    /// given after it change it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_bulwark::{breaker::BreakerLayer, preset};
    ///
    /// let breaker = BreakerLayer::builder()
    ///     .failure_rate(0.5)
    ///     .count_window(20)
    ///     .half_open_probes(2);
    /// let layer = preset::standard_client().breaker(breaker).build().unwrap();
    /// assert_eq!(layer.breaker_handle().config().count_window, Some(20));
    /// ```
    pub fn breaker(mut self, breaker: BreakerBuilder) -> Self {
        self.settings.breaker = breaker;
        self
    }

    /// Sets every breaker setting from plain data.
    ///
    /// ```
    /// use tower_bulwark::{breaker::BreakerConfig, preset};
    ///
    /// let config = BreakerConfig { consecutive_failures: Some(2), ..BreakerConfig::default() };
    /// let layer = preset::standard_client().breaker_config(config).build().unwrap();
    /// assert_eq!(layer.breaker_handle().config().consecutive_failures, Some(2));
    /// ```
    pub fn breaker_config(mut self, config: BreakerConfig) -> Self {
        self.settings.breaker = self.settings.breaker.config(config);
        self
    }

    /// Also trips the breaker after `n` failed attempts in a row. Default: off.
    ///
    /// ```
    /// let layer = tower_bulwark::preset::standard_client().consecutive_failures(3).build().unwrap();
    /// assert_eq!(layer.breaker_handle().config().consecutive_failures, Some(3));
    /// ```
    pub fn consecutive_failures(mut self, n: u32) -> Self {
        self.settings.breaker = self.settings.breaker.consecutive_failures(n);
        self
    }

    /// Trips the breaker when at least `rate` (`0..=1`) of the last `window` attempts failed,
    /// judged once the window holds 20 attempts, or `window` if that is fewer. Default: 0.5
    /// over 50 attempts.
    ///
    /// ```
    /// let layer = tower_bulwark::preset::standard_client().failure_rate(0.5, 50).build().unwrap();
    /// assert_eq!(layer.breaker_handle().config().failure_rate, Some(0.5));
    /// assert!(tower_bulwark::preset::standard_client().failure_rate(2.0, 50).build().is_err());
    /// ```
    pub fn failure_rate(mut self, rate: f64, window: u32) -> Self {
        self.settings.breaker = self
            .settings
            .breaker
            .failure_rate(rate)
            .count_window(window)
            .min_calls(DEFAULT_FAILURE_MIN_CALLS.min(window));
        self
    }

    /// How long the breaker stays open after each trip in a row. Default: exponential from
    /// 5 s, doubling, at most 60 s, ±10%.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_bulwark::{policy::Backoff, preset};
    ///
    /// let open = Backoff::constant(Duration::from_secs(1));
    /// let layer = preset::standard_client().open_for(open.clone()).build().unwrap();
    /// assert_eq!(layer.breaker_handle().config().open_for, open);
    /// ```
    pub fn open_for(mut self, backoff: Backoff) -> Self {
        self.settings.breaker = self.settings.breaker.open_for(backoff);
        self
    }

    /// Names the stack in its events: the retry and breaker carry `name`, the timeouts
    /// `"{name}.total"` and `"{name}.attempt"`. Default `"client"`.
    ///
    /// ```
    /// let layer = tower_bulwark::preset::standard_client().name("users").build().unwrap();
    /// assert_eq!(layer.breaker_handle().name(), "users");
    /// assert_eq!(layer.retry_handle().name(), "users");
    /// ```
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.settings.name = name.into();
        self
    }

    /// Reports every decision of all four layers to `hook`; use a `FanOut` for several.
    /// Default: none, and then no event is built at all.
    ///
    /// ```
    /// use tower_bulwark::{policy::TracingHook, preset};
    ///
    /// let layer = preset::standard_client().hook(TracingHook::new()).build().unwrap();
    /// # let _ = layer;
    /// ```
    pub fn hook(mut self, hook: impl Hook) -> Self {
        self.settings.hook = SharedHook::new(hook);
        self
    }

    /// Seeds the retry's and the breaker's jitter, so tests see the same delays every run.
    ///
    /// ```
    /// let layer = tower_bulwark::preset::standard_client().seed(7).build().unwrap();
    /// # let _ = layer;
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.settings.seed = Some(seed);
        self
    }

    /// Decides, for the retry and the breaker alike, what a finished attempt means. It sees
    /// each attempt's result with the per-attempt timeout's error type, `BoxError`. Default
    /// [`ErrorsAsFailures`]; `bulwark_http`'s `HttpClassifier` and `GrpcClassifier` suit HTTP
    /// and gRPC.
    ///
    /// ```
    /// use tower_bulwark::prelude::*;
    ///
    /// // A 503 is a retryable failure, a 404 says nothing about the upstream's health.
    /// let by_status = |r: &Result<u16, BoxError>| match r {
    ///     Ok(503) => Outcome::Failure(Failure::new(FailureKind::Overloaded).retryable(true)),
    ///     Ok(s) if *s >= 400 && *s < 500 => Outcome::Ignore,
    ///     Ok(_) => Outcome::Success,
    ///     Err(e) => Outcome::Failure(classify_error(e)),
    /// };
    /// let layer = preset::standard_client().classify(by_status).deadline(IgnoreDeadline).build();
    /// assert!(layer.is_ok());
    /// ```
    pub fn classify<C2>(self, classify: C2) -> StandardClient<C2, D, R, P, O, I> {
        StandardClient {
            retry: self.retry,
            classify,
            deadline: self.deadline,
            settings: self.settings,
            outer: self.outer,
            inner: self.inner,
        }
    }

    /// Where requests carry their deadline, for the retry and both timeouts. Default
    /// [`ExtensionsDeadline`], for `http::Request`s; `IgnoreDeadline` for request types that
    /// carry none.
    ///
    /// ```
    /// use tower::{service_fn, Layer, ServiceExt};
    /// use tower_bulwark::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let layer = preset::standard_client().deadline(IgnoreDeadline).build().unwrap();
    /// let svc = layer.layer(service_fn(|s: &'static str| async move { Ok::<_, BoxError>(s.len()) }));
    /// assert_eq!(svc.oneshot("four").await.unwrap(), 4);
    /// # }
    /// ```
    pub fn deadline<D2>(self, deadline: D2) -> StandardClient<C, D2, R, P, O, I> {
        StandardClient {
            retry: self.retry,
            classify: self.classify,
            deadline,
            settings: self.settings,
            outer: self.outer,
            inner: self.inner,
        }
    }

    /// How the retry makes a copy of the request for each attempt. Default `CloneReplay`,
    /// for any `Req: Clone`; the HTTP presets use `bulwark_http::HttpReplay`.
    ///
    /// ```
    /// use tower_bulwark::prelude::*;
    ///
    /// // Requests of more than 1 KiB are sent once.
    /// #[derive(Clone)]
    /// struct SmallOnly;
    /// impl Replay<Vec<u8>> for SmallOnly {
    ///     fn replay(&self, req: &Vec<u8>) -> Option<Vec<u8>> {
    ///         (req.len() <= 1024).then(|| req.clone())
    ///     }
    /// }
    /// let layer = preset::standard_client().deadline(IgnoreDeadline).replay(SmallOnly).build();
    /// assert!(layer.is_ok());
    /// ```
    pub fn replay<R2>(self, replay: R2) -> StandardClient<C, D, R2, P, O, I> {
        StandardClient {
            retry: self.retry.replay(replay),
            classify: self.classify,
            deadline: self.deadline,
            settings: self.settings,
            outer: self.outer,
            inner: self.inner,
        }
    }

    /// Which requests may be retried at all: a `RetryPredicate` or a `Fn(&Req) -> bool`.
    /// Default: every request (the HTTP preset: idempotent methods only).
    ///
    /// ```
    /// use tower_bulwark::{preset, retry::IdempotentMethods};
    ///
    /// let layer = preset::standard_client().retry_if_request(IdempotentMethods).build();
    /// assert!(layer.is_ok());
    /// ```
    pub fn retry_if_request<P2>(self, predicate: P2) -> StandardClient<C, D, R, P2, O, I> {
        StandardClient {
            retry: self.retry.retry_if_request(predicate),
            classify: self.classify,
            deadline: self.deadline,
            settings: self.settings,
            outer: self.outer,
            inner: self.inner,
        }
    }

    /// Adds a layer outside the whole stack, such as `bulwark_http::ReplayBodyLayer`, which
    /// must wrap every layer that replays requests. [`standard_http_client`] sets it.
    ///
    /// ```
    /// use tower::{service_fn, Layer, ServiceExt};
    /// use tower::layer::layer_fn;
    /// use tower_bulwark::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // Any layer will do; this one is tower's `MapRequest`, by hand.
    /// let layer = preset::standard_client()
    ///     .deadline(IgnoreDeadline)
    ///     .outer(layer_fn(|svc| tower::util::MapRequest::new(svc, |n: u32| n + 1)))
    ///     .build()
    ///     .unwrap();
    /// let svc = layer.layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
    /// assert_eq!(svc.oneshot(1).await.unwrap(), 2);
    /// # }
    /// ```
    ///
    /// [`standard_http_client`]: crate::preset::standard_http_client
    pub fn outer<O2>(self, outer: O2) -> StandardClient<C, D, R, P, O2, I> {
        StandardClient {
            retry: self.retry,
            classify: self.classify,
            deadline: self.deadline,
            settings: self.settings,
            outer,
            inner: self.inner,
        }
    }

    /// Adds a layer inside the per-attempt timeout, around the service itself, such as
    /// `bulwark_http::WriteGrpcTimeoutLayer`, which sends each attempt's remaining time as
    /// `grpc-timeout`. [`standard_grpc_client`] sets it.
    ///
    /// ```
    /// use tower::{service_fn, Layer, ServiceExt};
    /// use tower::layer::layer_fn;
    /// use tower_bulwark::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let layer = preset::standard_client()
    ///     .deadline(IgnoreDeadline)
    ///     .inner(layer_fn(|svc| tower::util::MapResponse::new(svc, |n: u32| n * 10)))
    ///     .build()
    ///     .unwrap();
    /// let svc = layer.layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
    /// assert_eq!(svc.oneshot(4).await.unwrap(), 40);
    /// # }
    /// ```
    ///
    /// [`standard_grpc_client`]: crate::preset::standard_grpc_client
    pub fn inner<I2>(self, inner: I2) -> StandardClient<C, D, R, P, O, I2> {
        StandardClient {
            retry: self.retry,
            classify: self.classify,
            deadline: self.deadline,
            settings: self.settings,
            outer: self.outer,
            inner,
        }
    }

    /// Changes the outer layer, keeping its type.
    #[cfg(feature = "http")]
    pub(super) fn map_outer(mut self, f: impl FnOnce(O) -> O) -> Self {
        self.outer = f(self.outer);
        self
    }

    /// Validates every setting and makes the layer.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_bulwark::preset;
    ///
    /// assert!(preset::standard_client().build().is_ok());
    /// let err = preset::standard_client().failure_rate(0.5, 0).build().unwrap_err();
    /// assert_eq!(err.field(), "count_window");
    /// ```
    pub fn build(self) -> Result<StandardClientLayer<C, D, R, P, O, I>, ConfigError>
    where
        C: Clone,
        D: Clone,
    {
        let Settings {
            breaker,
            total_timeout,
            attempt_timeout,
            name,
            hook,
            seed,
        } = self.settings;
        if total_timeout.is_zero() {
            return Err(ConfigError::new(
                "total_timeout",
                "must be more than zero: a zero timeout fails every call",
            ));
        }
        if attempt_timeout.is_zero() {
            return Err(ConfigError::new(
                "attempt_timeout",
                "must be more than zero: a zero timeout fails every attempt",
            ));
        }
        if attempt_timeout > total_timeout {
            return Err(ConfigError::new(
                "attempt_timeout",
                format!(
                    "{:?} is longer than the total timeout, {:?}, so it would never fire",
                    attempt_timeout, total_timeout
                ),
            ));
        }

        let mut retry = self.retry.name(name.clone()).shared_hook(hook.clone());
        let mut breaker = breaker.name(name.clone());
        if hook.is_set() {
            // A hook given to `breaker(..)` stays unless the stack has its own.
            breaker = breaker.shared_hook(hook.clone());
        }
        let total = TimeoutLayer::new(total_timeout)
            .name(format!("{name}.total"))
            .shared_hook(hook.clone());
        let attempt = TimeoutLayer::new(attempt_timeout)
            .name(format!("{name}.attempt"))
            .shared_hook(hook);
        if let Some(seed) = seed {
            retry = retry.seed(seed);
            breaker = breaker.seed(seed);
        }
        Ok(StandardClientLayer {
            outer: self.outer,
            total: total.deadline(self.deadline.clone()),
            retry: retry
                .classify(self.classify.clone())
                .deadline(self.deadline.clone())
                .build()?,
            breaker: breaker.classify(self.classify).build()?,
            attempt: attempt.deadline(self.deadline),
            inner: self.inner,
        })
    }
}

impl<C, D, R, P, O: fmt::Debug, I: fmt::Debug> fmt::Debug for StandardClient<C, D, R, P, O, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StandardClient")
            .field("total_timeout", &self.settings.total_timeout)
            .field("attempt_timeout", &self.settings.attempt_timeout)
            .field("retry", &self.retry)
            .field("classify", &std::any::type_name::<C>())
            .field("deadline", &std::any::type_name::<D>())
            .field("name", &self.settings.name)
            .field("hook", &self.settings.hook.is_set())
            .field("seed", &self.settings.seed)
            .field("outer", &self.outer)
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// The service a [`StandardClientLayer`] makes around `S`, when no outer or inner layer was
/// added: the layers' own services, nested, with nothing boxed.
///
/// A struct that holds the stack can name its type with it:
///
/// ```
/// use tower::{service_fn, util::ServiceFn, Layer};
/// use tower_bulwark::prelude::*;
/// use tower_bulwark::preset::StandardClientService;
///
/// type Upstream = ServiceFn<fn(u32) -> std::future::Ready<Result<u32, std::io::Error>>>;
///
/// struct Handler {
///     upstream: StandardClientService<Upstream, ErrorsAsFailures, IgnoreDeadline>,
/// }
///
/// let layer = preset::standard_client().deadline(IgnoreDeadline).build().unwrap();
/// let upstream: Upstream = service_fn(|n| std::future::ready(Ok(n)));
/// let handler = Handler { upstream: layer.layer(upstream) };
/// # let _ = handler.upstream;
/// ```
pub type StandardClientService<
    S,
    C = ErrorsAsFailures,
    D = ExtensionsDeadline,
    R = CloneReplay,
    P = AnyRequest,
> = Timeout<Retry<Breaker<Timeout<S, D>, C>, C, D, R, P>, D>;

/// The standard client stack as one `tower::Layer`; made by [`StandardClient::build`].
///
/// It wraps a service in, outermost first: the outer layer (if any), the total timeout,
/// retry, the breaker, the per-attempt timeout, and the inner layer (if any). Like every
/// bulwark layer it is one resilience instance: every service it wraps, and every clone of
/// them, shares one breaker and one retry budget.
///
/// ```
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
/// use tower_bulwark::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let layer = preset::standard_client().deadline(IgnoreDeadline).build()?;
/// let a = ServiceBuilder::new().layer(layer.clone()).service(service_fn(|n: u8| async move { Ok::<_, BoxError>(n) }));
/// let b = ServiceBuilder::new().layer(layer.clone()).service(service_fn(|n: u8| async move { Ok::<_, BoxError>(n) }));
/// layer.breaker_handle().force_open();
/// // One breaker for both services.
/// assert!(a.oneshot(1).await.unwrap_err().is::<Rejected>());
/// assert!(b.oneshot(1).await.unwrap_err().is::<Rejected>());
/// # Ok(())
/// # }
/// ```
pub struct StandardClientLayer<
    C = ErrorsAsFailures,
    D = ExtensionsDeadline,
    R = CloneReplay,
    P = AnyRequest,
    O = Identity,
    I = Identity,
> {
    outer: O,
    total: TimeoutLayer<D>,
    retry: RetryLayer<C, D, R, P>,
    breaker: BreakerLayer<C>,
    attempt: TimeoutLayer<D>,
    inner: I,
}

impl<C, D, R, P, O, I> StandardClientLayer<C, D, R, P, O, I> {
    /// A handle on the breaker: its state, transitions, counts; force, reset, reconfigure.
    ///
    /// ```
    /// let layer = tower_bulwark::preset::standard_client().build().unwrap();
    /// let breaker = layer.breaker_handle();
    /// breaker.force_open();
    /// assert!(breaker.state().rejects());
    /// ```
    pub fn breaker_handle(&self) -> BreakerHandle {
        self.breaker.handle()
    }

    /// A handle on the retry: its attempts, backoff and budget, to read and to replace.
    ///
    /// ```
    /// let layer = tower_bulwark::preset::standard_client().build().unwrap();
    /// layer.retry_handle().set_max_attempts(2).unwrap();
    /// assert_eq!(layer.retry_handle().max_attempts(), 2);
    /// ```
    pub fn retry_handle(&self) -> RetryHandle {
        self.retry.handle()
    }

    /// The retry budget, if the stack has one.
    ///
    /// ```
    /// let layer = tower_bulwark::preset::standard_client().build().unwrap();
    /// assert_eq!(layer.budget().unwrap().retry_percent(), 0.2);
    /// ```
    pub fn budget(&self) -> Option<&Arc<RetryBudget>> {
        self.retry.budget()
    }

    /// The total timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let layer = tower_bulwark::preset::standard_client().build().unwrap();
    /// assert_eq!(layer.total_timeout(), Duration::from_secs(10));
    /// ```
    pub fn total_timeout(&self) -> Duration {
        self.total.timeout()
    }

    /// The per-attempt timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let layer = tower_bulwark::preset::standard_client().build().unwrap();
    /// assert_eq!(layer.attempt_timeout(), Duration::from_secs(3));
    /// ```
    pub fn attempt_timeout(&self) -> Duration {
        self.attempt.timeout()
    }
}

impl<C: Clone, D: Clone, R, P, O: Clone, I: Clone> Clone for StandardClientLayer<C, D, R, P, O, I> {
    fn clone(&self) -> Self {
        Self {
            outer: self.outer.clone(),
            total: self.total.clone(),
            retry: self.retry.clone(),
            breaker: self.breaker.clone(),
            attempt: self.attempt.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<S, C, D, R, P, O, I> Layer<S> for StandardClientLayer<C, D, R, P, O, I>
where
    C: Clone,
    D: Clone,
    I: Layer<S>,
    O: Layer<StandardClientService<I::Service, C, D, R, P>>,
{
    type Service = O::Service;

    fn layer(&self, service: S) -> Self::Service {
        let attempt = self.attempt.layer(self.inner.layer(service));
        let retried = self.retry.layer(self.breaker.layer(attempt));
        self.outer.layer(self.total.layer(retried))
    }
}

impl<C, D: fmt::Debug, R, P, O: fmt::Debug, I: fmt::Debug> fmt::Debug
    for StandardClientLayer<C, D, R, P, O, I>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StandardClientLayer")
            .field("outer", &self.outer)
            .field("total", &self.total)
            .field("retry", &self.retry)
            .field("breaker", &self.breaker)
            .field("attempt", &self.attempt)
            .field("inner", &self.inner)
            .finish()
    }
}

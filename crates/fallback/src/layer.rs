//! The fallback layer: what answers, when, and who hears about it.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use bulwark_policy::{ErrorsAsFailures, Hook, SharedHook};
use tower_layer::Layer;

use crate::service::{Fallback, Shared};
use crate::{AnyFailure, Backup, FromError, FromFn, Value};

/// Wraps a service so that its failures are answered by a fallback.
///
/// Pick what answers with a constructor, then narrow when it answers:
///
/// | constructor | answers with | needs a copy of the request | service error type |
/// |---|---|---|---|
/// | [`value`](Self::value) | a clone of a response | no | the inner service's |
/// | [`from_error`](Self::from_error) | `f(err)`, for `Err` results only | no | the inner service's |
/// | [`from_fn`](Self::from_fn) | `f(result).await`, which may fail | no | [`BoxError`](bulwark_policy::BoxError) |
/// | [`service`](Self::service) | a backup service's answer to the same request | yes, through [`Replay`](bulwark_policy::Replay) | [`BoxError`](bulwark_policy::BoxError) |
///
/// - [`classify`](Self::classify) decides what a failure is (default
///   [`ErrorsAsFailures`]: every `Err`, breaker rejections and timeouts included);
/// - [`when`](Self::when) narrows which failures the fallback answers (default
///   [`AnyFailure`]);
/// - [`name`](Self::name) and [`hook`](Self::hook) name the instance and observe it.
///
/// ```
/// use bulwark_fallback::FallbackLayer;
/// use bulwark_policy::{BoxError, FailureKind};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let svc = ServiceBuilder::new()
///     .layer(FallbackLayer::value(Vec::<u8>::new()).when(FailureKind::Timeout).name("recommendations"))
///     .service(service_fn(|_: ()| async { Err::<Vec<u8>, BoxError>(bulwark_policy::Elapsed::new().into()) }));
/// assert!(svc.oneshot(()).await.unwrap().is_empty());
/// # }
/// ```
pub struct FallbackLayer<F, C = ErrorsAsFailures, W = AnyFailure> {
    strategy: F,
    classify: C,
    when: W,
    name: Cow<'static, str>,
    hook: SharedHook,
}

impl<F> FallbackLayer<F> {
    fn with_strategy(strategy: F) -> Self {
        Self {
            strategy,
            classify: ErrorsAsFailures,
            when: AnyFailure,
            name: Cow::Borrowed("fallback"),
            hook: SharedHook::none(),
        }
    }
}

impl<T> FallbackLayer<Value<T>> {
    /// Answers a failure with a clone of `response`.
    ///
    /// It cannot fail, so the service keeps the inner service's error type, and errors the
    /// fallback does not answer pass through unchanged.
    ///
    /// ```
    /// use bulwark_fallback::FallbackLayer;
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let svc = FallbackLayer::value(0u64)
    ///     .layer(service_fn(|_: ()| async { Err::<u64, std::io::Error>(std::io::ErrorKind::TimedOut.into()) }));
    /// assert_eq!(svc.oneshot(()).await.unwrap(), 0);
    /// # }
    /// ```
    pub fn value(response: T) -> Self {
        Self::with_strategy(Value::new(response))
    }
}

impl<F> FallbackLayer<FromError<F>> {
    /// Answers an error `e` with `f(e)`.
    ///
    /// An `Ok` answer that the classifier calls a failure has no error to give `f`, so it
    /// passes through untouched; use [`value`](Self::value) or [`from_fn`](Self::from_fn) for
    /// those. Annotate the closure's argument: the layer learns the error type only when it
    /// wraps a service.
    ///
    /// ```
    /// use bulwark_fallback::FallbackLayer;
    /// use bulwark_policy::BoxError;
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let svc = FallbackLayer::from_error(|err: BoxError| format!("degraded: {err}"))
    ///     .layer(service_fn(|_: ()| async { Err::<String, BoxError>("db down".into()) }));
    /// assert_eq!(svc.oneshot(()).await.unwrap(), "degraded: db down");
    /// # }
    /// ```
    pub fn from_error(f: F) -> Self {
        Self::with_strategy(FromError::new(f))
    }
}

impl<F> FallbackLayer<FromFn<F>> {
    /// Answers a failed result with `f(result).await`, which may itself fail.
    ///
    /// `f` is given the whole failed result — the error, or the `Ok` answer the classifier
    /// called a failure — never the request: to answer from the request, pass a
    /// `tower::service_fn` to [`service`](Self::service). The service's error is a
    /// [`BoxError`](bulwark_policy::BoxError): a primary error passes through boxed as it was,
    /// and an error of `f` comes back as a [`FallbackFailed`](crate::FallbackFailed).
    ///
    /// ```
    /// use bulwark_fallback::FallbackLayer;
    /// use bulwark_policy::BoxError;
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let svc = FallbackLayer::from_fn(|_: Result<&str, BoxError>| async { Ok::<_, BoxError>("from cache") })
    ///     .layer(service_fn(|_: ()| async { Err::<&str, BoxError>("down".into()) }));
    /// assert_eq!(svc.oneshot(()).await.unwrap(), "from cache");
    /// # }
    /// ```
    pub fn from_fn(f: F) -> Self {
        Self::with_strategy(FromFn::new(f))
    }
}

impl<B> FallbackLayer<Backup<B>> {
    /// Forwards the request to the standby service `backup` when the primary fails.
    ///
    /// A copy of every request goes to the primary, through [`CloneReplay`] unless
    /// [`replay`](Self::replay) says otherwise, and the original is kept until the result is
    /// known; the backup's copy is made from it only when the fallback fires. A request that
    /// cannot be copied, then or before it is sent, goes to the primary only and an
    /// [`EventKind::NotReplayable`](bulwark_policy::EventKind::NotReplayable) is reported; with
    /// no copy to forward, the primary's result comes back whatever it is.
    ///
    /// The backup is polled for readiness only when the fallback fires, on a fresh clone. The
    /// service's error is a [`BoxError`](bulwark_policy::BoxError): a primary error passes
    /// through boxed, and a backup error (its readiness error included) comes back as a
    /// [`FallbackFailed`](crate::FallbackFailed).
    ///
    /// [`CloneReplay`]: bulwark_policy::CloneReplay
    ///
    /// ```
    /// use bulwark_fallback::FallbackLayer;
    /// use bulwark_policy::BoxError;
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let standby = service_fn(|name: String| async move { Ok::<_, BoxError>(format!("standby: {name}")) });
    /// let svc = FallbackLayer::service(standby)
    ///     .layer(service_fn(|_: String| async { Err::<String, BoxError>("primary down".into()) }));
    /// assert_eq!(svc.oneshot("users/7".into()).await.unwrap(), "standby: users/7");
    /// # }
    /// ```
    pub fn service(backup: B) -> Self {
        Self::with_strategy(Backup::new(backup))
    }
}

impl<B, R, C, W> FallbackLayer<Backup<B, R>, C, W> {
    /// Copies requests for the backup through `replay` instead of cloning them.
    ///
    /// ```
    /// use bulwark_fallback::FallbackLayer;
    /// use bulwark_policy::{BoxError, Replay};
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// // Only short requests are worth keeping a copy of.
    /// #[derive(Clone)]
    /// struct Short;
    /// impl Replay<Vec<u8>> for Short {
    ///     fn replay(&self, req: &Vec<u8>) -> Option<Vec<u8>> {
    ///         (req.len() <= 4).then(|| req.clone())
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let standby = service_fn(|req: Vec<u8>| async move { Ok::<_, BoxError>(req.len()) });
    /// let layer = FallbackLayer::service(standby).replay(Short);
    /// let primary = service_fn(|_: Vec<u8>| async { Err::<usize, BoxError>("down".into()) });
    /// assert_eq!(layer.layer(primary).oneshot(vec![1, 2]).await.unwrap(), 2);
    /// let err = layer.layer(primary).oneshot(vec![0; 64]).await.unwrap_err();
    /// assert_eq!(err.to_string(), "down");
    /// # }
    /// ```
    pub fn replay<R2>(self, replay: R2) -> FallbackLayer<Backup<B, R2>, C, W> {
        FallbackLayer {
            strategy: self.strategy.with_replay(replay),
            classify: self.classify,
            when: self.when,
            name: self.name,
            hook: self.hook,
        }
    }
}

impl<F, C, W> FallbackLayer<F, C, W> {
    /// Decides what a failure is with `classify` instead of [`ErrorsAsFailures`].
    ///
    /// The same classifiers drive retry and the breaker, so a stack can share one.
    ///
    /// ```
    /// use bulwark_fallback::FallbackLayer;
    /// use bulwark_policy::{Failure, FailureKind, Outcome};
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // A 503 answer is a failure too.
    /// let classify = |r: &Result<u16, std::io::Error>| match r {
    ///     Ok(503) => Outcome::Failure(Failure::new(FailureKind::Overloaded)),
    ///     Ok(_) => Outcome::Success,
    ///     Err(_) => Outcome::Failure(Failure::new(FailureKind::Error)),
    /// };
    /// let svc = FallbackLayer::value(200u16)
    ///     .classify(classify)
    ///     .layer(service_fn(|_: ()| async { Ok::<u16, std::io::Error>(503) }));
    /// assert_eq!(svc.oneshot(()).await.unwrap(), 200);
    /// # }
    /// ```
    pub fn classify<C2>(self, classify: C2) -> FallbackLayer<F, C2, W> {
        FallbackLayer {
            strategy: self.strategy,
            classify,
            when: self.when,
            name: self.name,
            hook: self.hook,
        }
    }

    /// Answers only the failures `when` accepts: a [`FailureKind`], an array of kinds, or a
    /// predicate over the result; see [`When`](crate::When).
    ///
    /// [`FailureKind`]: bulwark_policy::FailureKind
    ///
    /// ```
    /// use bulwark_fallback::FallbackLayer;
    /// use bulwark_policy::{BoxError, Elapsed, FailureKind, Rejected};
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let layer = FallbackLayer::value("cached").when([FailureKind::Rejected, FailureKind::Timeout]);
    /// let rejected = service_fn(|_: ()| async { Err::<&str, BoxError>(Rejected::new(None).into()) });
    /// assert_eq!(layer.layer(rejected).oneshot(()).await.unwrap(), "cached");
    /// let refused = service_fn(|_: ()| async { Err::<&str, BoxError>("refused".into()) });
    /// assert_eq!(layer.layer(refused).oneshot(()).await.unwrap_err().to_string(), "refused");
    /// # }
    /// ```
    pub fn when<W2>(self, when: W2) -> FallbackLayer<F, C, W2> {
        FallbackLayer {
            strategy: self.strategy,
            classify: self.classify,
            when,
            name: self.name,
            hook: self.hook,
        }
    }

    /// Names this fallback instance in its events; `"fallback"` by default.
    ///
    /// ```
    /// let layer = bulwark_fallback::FallbackLayer::value(0u8).name("search-standby");
    /// assert_eq!(layer.get_name(), "search-standby");
    /// ```
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// The name this instance reports its events under.
    ///
    /// ```
    /// assert_eq!(bulwark_fallback::FallbackLayer::value(0u8).get_name(), "fallback");
    /// ```
    pub fn get_name(&self) -> &str {
        &self.name
    }

    /// Reports [`FallbackUsed`](bulwark_policy::EventKind::FallbackUsed) and
    /// [`NotReplayable`](bulwark_policy::EventKind::NotReplayable) events to `hook`.
    ///
    /// `FallbackUsed { reason }` is reported when the fallback starts, before its answer is
    /// known, with the failure that called for it.
    ///
    /// ```
    /// use bulwark_fallback::FallbackLayer;
    /// use bulwark_policy::{BoxError, Event, EventKind, FnHook};
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let hook = FnHook::new(|e: &Event<'_>| {
    ///     assert!(matches!(e.kind(), EventKind::FallbackUsed { .. }));
    ///     assert_eq!(e.name(), "fallback");
    /// });
    /// let svc = FallbackLayer::value(1u8)
    ///     .hook(hook)
    ///     .layer(service_fn(|_: ()| async { Err::<u8, BoxError>("down".into()) }));
    /// assert_eq!(svc.oneshot(()).await.unwrap(), 1);
    /// # }
    /// ```
    pub fn hook(mut self, hook: impl Hook) -> Self {
        self.hook = SharedHook::new(hook);
        self
    }
}

impl<S, F: Clone, C: Clone, W: Clone> Layer<S> for FallbackLayer<F, C, W> {
    type Service = Fallback<S, F, C, W>;

    fn layer(&self, inner: S) -> Self::Service {
        let shared = Shared {
            strategy: self.strategy.clone(),
            classify: self.classify.clone(),
            when: self.when.clone(),
            name: self.name.clone(),
            hook: self.hook.clone(),
        };
        Fallback::new(inner, Arc::new(shared))
    }
}

impl<F: Clone, C: Clone, W: Clone> Clone for FallbackLayer<F, C, W> {
    fn clone(&self) -> Self {
        Self {
            strategy: self.strategy.clone(),
            classify: self.classify.clone(),
            when: self.when.clone(),
            name: self.name.clone(),
            hook: self.hook.clone(),
        }
    }
}

impl<F: fmt::Debug, C, W> fmt::Debug for FallbackLayer<F, C, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackLayer")
            .field("strategy", &self.strategy)
            .field("name", &self.name)
            .field("hook", &self.hook)
            .finish_non_exhaustive()
    }
}

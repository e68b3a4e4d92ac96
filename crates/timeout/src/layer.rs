//! [`TimeoutLayer`], its configuration, and what it reports to.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bulwark_policy::{ExtensionsDeadline, Hook, SharedHook};
use tower_layer::Layer;

use crate::Timeout;

/// Applies a timeout, and the request's [`Deadline`](bulwark_policy::Deadline), to every call of
/// the services it wraps.
///
/// `A`, a [`DeadlineAccess`](bulwark_policy::DeadlineAccess), says where requests carry their
/// deadline:
/// - [`ExtensionsDeadline`], the default, for `http::Request`s (hyper, axum, tonic): the deadline
///   and a per-request [`TimeoutOverride`](bulwark_policy::TimeoutOverride) live in the
///   request's extensions;
/// - [`IgnoreDeadline`](bulwark_policy::IgnoreDeadline), chosen with
///   [`.deadline(IgnoreDeadline)`](Self::deadline), for request types that carry none: only the
///   layer's own timeout applies;
/// - your own `DeadlineAccess` for a protocol with its own request type.
///
/// With the default, the wrapped service is a `Service<http::Request<B>>` only; wrapping a
/// service of any other request type needs `.deadline(..)`.
///
/// ```
/// use std::time::Duration;
/// use bulwark_timeout::TimeoutLayer;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let svc = ServiceBuilder::new()
///     .layer(TimeoutLayer::new(Duration::from_secs(2)).name("upstream"))
///     .service(service_fn(|req: http::Request<()>| async move {
///         Ok::<_, std::io::Error>(http::Response::new(()))
///     }));
/// let res = svc.oneshot(http::Request::new(())).await;
/// assert!(res.is_ok());
/// # }
/// ```
#[derive(Clone)]
pub struct TimeoutLayer<A = ExtensionsDeadline> {
    timeout: Duration,
    access: A,
    report: Arc<Report>,
}

/// The name and hook of one layer instance, shared by every service it wraps.
#[derive(Clone)]
pub(crate) struct Report {
    pub(crate) name: Cow<'static, str>,
    pub(crate) hook: SharedHook,
}

impl TimeoutLayer {
    /// A layer that fails a call with [`Elapsed`](crate::Elapsed) if it has not answered within
    /// `timeout`, or by the request's deadline if that is earlier.
    ///
    /// A zero timeout fails every call at once, without calling the inner service.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_timeout::TimeoutLayer;
    ///
    /// let layer = TimeoutLayer::new(Duration::from_millis(250));
    /// assert_eq!(layer.timeout(), Duration::from_millis(250));
    /// ```
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            access: ExtensionsDeadline,
            report: Arc::new(Report {
                name: Cow::Borrowed("timeout"),
                hook: SharedHook::none(),
            }),
        }
    }

    /// A layer set up from `config`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_timeout::{TimeoutConfig, TimeoutLayer};
    ///
    /// let mut config = TimeoutConfig::new(Duration::from_secs(1));
    /// config.name = Some("db".into());
    /// let layer = TimeoutLayer::from_config(config);
    /// assert_eq!(layer.timeout(), Duration::from_secs(1));
    /// assert_eq!(layer.get_name(), "db");
    /// ```
    pub fn from_config(config: TimeoutConfig) -> Self {
        let layer = Self::new(config.timeout);
        match config.name {
            Some(name) => layer.name(name),
            None => layer,
        }
    }
}

impl<A> TimeoutLayer<A> {
    /// Names this instance in the [`Event`](bulwark_policy::Event)s it reports; `"timeout"`
    /// unless set.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_timeout::TimeoutLayer;
    ///
    /// let layer = TimeoutLayer::new(Duration::from_secs(1)).name("per-attempt");
    /// assert_eq!(layer.get_name(), "per-attempt");
    /// ```
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        Arc::make_mut(&mut self.report).name = name.into();
        self
    }

    /// Reports an [`EventKind::TimeoutElapsed`](bulwark_policy::EventKind::TimeoutElapsed) to
    /// `hook` whenever a call times out. With no hook, no event is built.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::TracingHook;
    /// use bulwark_timeout::TimeoutLayer;
    ///
    /// let layer = TimeoutLayer::new(Duration::from_secs(1)).hook(TracingHook::new());
    /// ```
    pub fn hook(mut self, hook: impl Hook) -> Self {
        Arc::make_mut(&mut self.report).hook = SharedHook::new(hook);
        self
    }

    /// Reports to an already shared hook, so that several layers report through one `Arc`
    /// instead of wrapping it again. Replaces any [`hook`](Self::hook) set before.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use bulwark_policy::{Event, EventKind, FnHook, SharedHook};
    /// use bulwark_timeout::TimeoutLayer;
    /// use tower::{service_fn, ServiceBuilder, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let elapsed = Arc::new(AtomicU32::new(0));
    /// let counter = elapsed.clone();
    /// let hook = SharedHook::new(FnHook::new(move |e: &Event<'_>| {
    ///     if matches!(e.kind(), EventKind::TimeoutElapsed { .. }) {
    ///         counter.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// }));
    /// let svc = ServiceBuilder::new()
    ///     .layer(TimeoutLayer::new(Duration::from_secs(1)).shared_hook(hook))
    ///     .service(service_fn(|_: http::Request<()>| {
    ///         std::future::pending::<Result<http::Response<()>, std::io::Error>>()
    ///     }));
    /// assert!(svc.oneshot(http::Request::new(())).await.is_err());
    /// assert_eq!(elapsed.load(Ordering::Relaxed), 1);
    /// # }
    /// ```
    pub fn shared_hook(mut self, hook: SharedHook) -> Self {
        Arc::make_mut(&mut self.report).hook = hook;
        self
    }

    /// Chooses where requests carry their [`Deadline`](bulwark_policy::Deadline) and
    /// [`TimeoutOverride`](bulwark_policy::TimeoutOverride).
    ///
    /// [`IgnoreDeadline`](bulwark_policy::IgnoreDeadline) suits any request type that carries
    /// neither; it also spares a call whose answer is ready at once from reading the clock.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::IgnoreDeadline;
    /// use bulwark_timeout::TimeoutLayer;
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let layer = TimeoutLayer::new(Duration::from_secs(1)).deadline(IgnoreDeadline);
    /// let svc = layer.layer(service_fn(|n: u64| async move { Ok::<_, std::io::Error>(n * 2) }));
    /// assert_eq!(svc.oneshot(21).await.unwrap(), 42);
    /// # }
    /// ```
    pub fn deadline<B>(self, access: B) -> TimeoutLayer<B> {
        TimeoutLayer {
            timeout: self.timeout,
            access,
            report: self.report,
        }
    }

    /// The layer's own timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let layer = bulwark_timeout::TimeoutLayer::new(Duration::from_secs(3));
    /// assert_eq!(layer.timeout(), Duration::from_secs(3));
    /// ```
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The name its events carry.
    ///
    /// ```
    /// use std::time::Duration;
    /// let layer = bulwark_timeout::TimeoutLayer::new(Duration::from_secs(3));
    /// assert_eq!(layer.get_name(), "timeout");
    /// ```
    pub fn get_name(&self) -> &str {
        &self.report.name
    }
}

impl<S, A: Clone> Layer<S> for TimeoutLayer<A> {
    type Service = Timeout<S, A>;

    fn layer(&self, inner: S) -> Self::Service {
        Timeout::from_parts(
            inner,
            self.timeout,
            self.access.clone(),
            self.report.clone(),
        )
    }
}

impl<A: fmt::Debug> fmt::Debug for TimeoutLayer<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutLayer")
            .field("timeout", &self.timeout)
            .field("access", &self.access)
            .field("name", &self.report.name)
            .field("hook", &self.report.hook)
            .finish()
    }
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Report")
            .field("name", &self.name)
            .field("hook", &self.hook)
            .finish()
    }
}

/// A [`TimeoutLayer`]'s settings as plain data; with the feature `serde` it deserialises, with
/// the duration written like `"250ms"`.
///
/// ```
/// use std::time::Duration;
/// use bulwark_timeout::TimeoutConfig;
///
/// let config = TimeoutConfig::new(Duration::from_millis(250));
/// assert_eq!(config.name, None);
/// # #[cfg(feature = "serde")] {
/// let config: TimeoutConfig = serde_json::from_str(r#"{"timeout":"250ms","name":"db"}"#).unwrap();
/// assert_eq!(config.timeout, Duration::from_millis(250));
/// assert_eq!(config.name.as_deref(), Some("db"));
/// assert!(serde_json::from_str::<TimeoutConfig>(r#"{"timeout":"soon"}"#).is_err());
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[non_exhaustive]
pub struct TimeoutConfig {
    /// The layer's own timeout.
    #[cfg_attr(feature = "serde", serde(with = "bulwark_policy::serde_duration"))]
    pub timeout: Duration,
    /// The name its events carry; `"timeout"` if none.
    #[cfg_attr(feature = "serde", serde(default))]
    pub name: Option<String>,
}

impl TimeoutConfig {
    /// A config with `timeout` and no name.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = bulwark_timeout::TimeoutConfig::new(Duration::from_secs(1));
    /// assert_eq!(config.timeout, Duration::from_secs(1));
    /// ```
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            name: None,
        }
    }
}

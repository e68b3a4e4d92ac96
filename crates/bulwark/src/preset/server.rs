//! The standard server stack: load shedding, a concurrency limit and a timeout.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use bulwark_policy::{ConfigError, ExtensionsDeadline, Hook, SharedHook};
use bulwark_timeout::{Timeout, TimeoutLayer};
use tower::limit::{ConcurrencyLimit, GlobalConcurrencyLimitLayer};
use tower::load_shed::LoadShed;
use tower_layer::Layer;

/// The timeout of [`standard_server`] unless set: 10 s.
///
/// ```
/// use tower_bulwark::preset;
/// assert_eq!(preset::standard_server().build().unwrap().timeout(), preset::DEFAULT_SERVER_TIMEOUT);
/// ```
pub const DEFAULT_SERVER_TIMEOUT: Duration = Duration::from_secs(10);
/// The most requests a [`standard_server`] handles at once unless set: 1024.
///
/// ```
/// use tower_bulwark::preset;
/// assert_eq!(preset::standard_server().build().unwrap().max_in_flight(), preset::DEFAULT_MAX_IN_FLIGHT);
/// ```
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;
/// The name of a [`standard_server`]'s timeout unless set.
///
/// ```
/// assert_eq!(tower_bulwark::preset::DEFAULT_SERVER_NAME, "server");
/// ```
pub const DEFAULT_SERVER_NAME: &str = "server";

/// The standard server stack, to configure and then [`build`](StandardServer::build).
///
/// The layers, outermost first:
///
/// 1. with [`standard_http_server`](crate::preset::standard_http_server) or
///    [`standard_grpc_server`](crate::preset::standard_grpc_server), **errors as responses**:
///    a timeout answers 504 (gRPC: DEADLINE_EXCEEDED), a shed request 503 (gRPC:
///    UNAVAILABLE), any other error 500 (gRPC: UNKNOWN), so the stack never fails and axum
///    needs no `HandleErrorLayer`;
/// 2. **load shedding** (tower's `LoadShed`): when the concurrency limit is reached, a new
///    request is refused at once with tower's `Overloaded` rather than queued, so a server
///    under too much load answers quickly instead of slowly for everyone;
/// 3. a **concurrency limit** ([`max_in_flight`](StandardServer::max_in_flight), default
///    1024), shared by every service the layer wraps, axum's per-route clones included;
/// 4. a **timeout** ([`timeout`](StandardServer::timeout), default 10 s), or the request's
///    `Deadline` if that is earlier (a gRPC server gets one from `grpc-timeout` through
///    `bulwark_http::ReadGrpcTimeoutLayer`).
///
/// Without a response mode ([`standard_server`]) the stack's error is `BoxError`, holding
/// `Elapsed` or tower's `Overloaded` or the service's own error.
///
/// ```
/// use std::time::Duration;
/// use tower::{service_fn, Layer, ServiceExt};
/// use tower_bulwark::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let layer = preset::standard_server()
///     .timeout(Duration::from_millis(100))
///     .max_in_flight(64)
///     .deadline(IgnoreDeadline)
///     .build()
///     .unwrap();
/// let slow = layer.layer(service_fn(|_: ()| async {
///     tokio::time::sleep(Duration::from_secs(1)).await;
///     Ok::<_, BoxError>("done")
/// }));
/// assert!(slow.oneshot(()).await.unwrap_err().is::<Elapsed>());
/// # }
/// ```
pub struct StandardServer<D = ExtensionsDeadline, M = PassErrors> {
    timeout: Duration,
    max_in_flight: usize,
    deadline: D,
    name: Cow<'static, str>,
    hook: SharedHook,
    mode: M,
}

/// The response mode of a server stack whose errors stay errors; see [`standard_server`].
///
/// ```
/// let mode = tower_bulwark::preset::PassErrors;
/// # let _ = mode;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct PassErrors;

/// The standard server stack for any request type: load shedding, a concurrency limit and a
/// timeout, with errors left as errors (`BoxError`) and the defaults [`StandardServer`]
/// lists. For axum and tonic, [`standard_http_server`](crate::preset::standard_http_server)
/// and [`standard_grpc_server`](crate::preset::standard_grpc_server) answer errors with
/// responses instead.
///
/// ```
/// use std::time::Duration;
/// use tower::{service_fn, Layer, ServiceExt};
/// use tower_bulwark::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let layer = preset::standard_server().deadline(IgnoreDeadline).build().unwrap();
/// let svc = layer.layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n + 1) }));
/// assert_eq!(svc.oneshot(1).await.unwrap(), 2);
/// # }
/// ```
pub fn standard_server() -> StandardServer {
    StandardServer {
        timeout: DEFAULT_SERVER_TIMEOUT,
        max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        deadline: ExtensionsDeadline,
        name: Cow::Borrowed(DEFAULT_SERVER_NAME),
        hook: SharedHook::none(),
        mode: PassErrors,
    }
}

impl<D, M> StandardServer<D, M> {
    /// How long a request may take. Default 10 s; must be more than zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_bulwark::preset;
    ///
    /// let layer = preset::standard_server().timeout(Duration::from_secs(2)).build().unwrap();
    /// assert_eq!(layer.timeout(), Duration::from_secs(2));
    /// assert!(preset::standard_server().timeout(Duration::ZERO).build().is_err());
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The most requests handled at once; one more is shed. Default 1024; must be at least 1.
    ///
    /// ```
    /// use tower_bulwark::preset;
    ///
    /// let layer = preset::standard_server().max_in_flight(10).build().unwrap();
    /// assert_eq!(layer.max_in_flight(), 10);
    /// assert_eq!(preset::standard_server().max_in_flight(0).build().unwrap_err().field(), "max_in_flight");
    /// ```
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    /// Names the timeout in its events. Default `"server"`.
    ///
    /// ```
    /// let layer = tower_bulwark::preset::standard_server().name("api").build().unwrap();
    /// # let _ = layer;
    /// ```
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Reports every elapsed timeout to `hook`. Default: none.
    ///
    /// ```
    /// use tower_bulwark::{policy::TracingHook, preset};
    /// let layer = preset::standard_server().hook(TracingHook::new()).build().unwrap();
    /// # let _ = layer;
    /// ```
    pub fn hook(mut self, hook: impl Hook) -> Self {
        self.hook = SharedHook::new(hook);
        self
    }

    /// Where requests carry their deadline. Default `ExtensionsDeadline`, for
    /// `http::Request`s; `IgnoreDeadline` for request types that carry none.
    ///
    /// ```
    /// use tower_bulwark::{policy::IgnoreDeadline, preset};
    /// let layer = preset::standard_server().deadline(IgnoreDeadline).build().unwrap();
    /// # let _ = layer;
    /// ```
    pub fn deadline<D2>(self, deadline: D2) -> StandardServer<D2, M> {
        StandardServer {
            timeout: self.timeout,
            max_in_flight: self.max_in_flight,
            deadline,
            name: self.name,
            hook: self.hook,
            mode: self.mode,
        }
    }

    #[cfg(feature = "http")]
    pub(super) fn mode<M2>(self, mode: M2) -> StandardServer<D, M2> {
        StandardServer {
            timeout: self.timeout,
            max_in_flight: self.max_in_flight,
            deadline: self.deadline,
            name: self.name,
            hook: self.hook,
            mode,
        }
    }

    /// Validates the settings and makes the layer.
    ///
    /// ```
    /// assert!(tower_bulwark::preset::standard_server().build().is_ok());
    /// ```
    pub fn build(self) -> Result<StandardServerLayer<D, M>, ConfigError> {
        if self.timeout.is_zero() {
            return Err(ConfigError::new(
                "timeout",
                "must be more than zero: a zero timeout fails every request",
            ));
        }
        if self.max_in_flight == 0 {
            return Err(ConfigError::new(
                "max_in_flight",
                "must be at least 1: zero would shed every request",
            ));
        }
        let timeout = TimeoutLayer::new(self.timeout)
            .name(self.name)
            .shared_hook(self.hook)
            .deadline(self.deadline);
        Ok(StandardServerLayer {
            timeout,
            limit: GlobalConcurrencyLimitLayer::new(self.max_in_flight),
            max_in_flight: self.max_in_flight,
            mode: self.mode,
        })
    }
}

impl<D, M: fmt::Debug> fmt::Debug for StandardServer<D, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StandardServer")
            .field("timeout", &self.timeout)
            .field("max_in_flight", &self.max_in_flight)
            .field("deadline", &std::any::type_name::<D>())
            .field("name", &self.name)
            .field("hook", &self.hook.is_set())
            .field("mode", &self.mode)
            .finish()
    }
}

/// The service a [`StandardServerLayer`] in [`PassErrors`] mode makes around `S`.
///
/// ```
/// use tower::{service_fn, util::ServiceFn, Layer};
/// use tower_bulwark::policy::IgnoreDeadline;
/// use tower_bulwark::preset::{standard_server, StandardServerService};
///
/// type Handler = ServiceFn<fn(u32) -> std::future::Ready<Result<u32, std::io::Error>>>;
/// let layer = standard_server().deadline(IgnoreDeadline).build().unwrap();
/// let handler: Handler = service_fn(|n| std::future::ready(Ok(n)));
/// let svc: StandardServerService<Handler, IgnoreDeadline> = layer.layer(handler);
/// # let _ = svc;
/// ```
pub type StandardServerService<S, D = ExtensionsDeadline> =
    LoadShed<ConcurrencyLimit<Timeout<S, D>>>;

/// The standard server stack as one `tower::Layer`; made by [`StandardServer::build`].
///
/// Every service it wraps, and every clone of them, shares one concurrency limit: an axum
/// `Router::layer` that wraps each route still has one limit for the whole server.
///
/// ```
/// use tower::{service_fn, Layer, ServiceExt};
/// use tower_bulwark::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let layer = preset::standard_server().max_in_flight(1).deadline(IgnoreDeadline).build().unwrap();
/// let (tx, rx) = tokio::sync::oneshot::channel::<()>();
/// let rx = std::sync::Arc::new(tokio::sync::Mutex::new(Some(rx)));
/// let svc = layer.layer(service_fn(move |wait: bool| {
///     let rx = rx.clone();
///     async move {
///         if wait {
///             let rx = rx.lock().await.take().unwrap();
///             let _ = rx.await;
///         }
///         Ok::<_, BoxError>("answered")
///     }
/// }));
/// // One request in flight holds the only slot...
/// let first = tokio::spawn(svc.clone().oneshot(true));
/// tokio::task::yield_now().await;
/// // ...so the next is shed at once, by any clone.
/// let err = svc.clone().oneshot(false).await.unwrap_err();
/// assert!(err.is::<tower::load_shed::error::Overloaded>());
/// tx.send(()).unwrap();
/// assert_eq!(first.await.unwrap().unwrap(), "answered");
/// assert_eq!(svc.oneshot(false).await.unwrap(), "answered");
/// # }
/// ```
pub struct StandardServerLayer<D = ExtensionsDeadline, M = PassErrors> {
    timeout: TimeoutLayer<D>,
    limit: GlobalConcurrencyLimitLayer,
    max_in_flight: usize,
    mode: M,
}

impl<D, M> StandardServerLayer<D, M> {
    /// The timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let layer = tower_bulwark::preset::standard_server().build().unwrap();
    /// assert_eq!(layer.timeout(), Duration::from_secs(10));
    /// ```
    pub fn timeout(&self) -> Duration {
        self.timeout.timeout()
    }

    /// The most requests handled at once.
    ///
    /// ```
    /// let layer = tower_bulwark::preset::standard_server().build().unwrap();
    /// assert_eq!(layer.max_in_flight(), 1024);
    /// ```
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    #[cfg(feature = "http")]
    pub(super) fn mode_ref(&self) -> &M {
        &self.mode
    }

    pub(super) fn errors_layer<S>(&self, service: S) -> StandardServerService<S, D>
    where
        D: Clone,
    {
        LoadShed::new(self.limit.layer(self.timeout.layer(service)))
    }
}

impl<D: Clone, M: Clone> Clone for StandardServerLayer<D, M> {
    fn clone(&self) -> Self {
        Self {
            timeout: self.timeout.clone(),
            limit: self.limit.clone(),
            max_in_flight: self.max_in_flight,
            mode: self.mode.clone(),
        }
    }
}

impl<S, D: Clone> Layer<S> for StandardServerLayer<D, PassErrors> {
    type Service = StandardServerService<S, D>;

    fn layer(&self, service: S) -> Self::Service {
        self.errors_layer(service)
    }
}

impl<D: fmt::Debug, M: fmt::Debug> fmt::Debug for StandardServerLayer<D, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StandardServerLayer")
            .field("timeout", &self.timeout)
            .field("max_in_flight", &self.max_in_flight)
            .field("mode", &self.mode)
            .finish()
    }
}

//! [`ChaosBuilder`]: sets up a [`ChaosLayer`] and checks that its settings make sense.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bulwark_policy::{BoxError, ConfigError, Hook, Rng, SharedHook};
use tokio::time::Instant;

use crate::config::{ChaosConfig, Latency, OutageAnswer, OutageWindow};
use crate::handle::{no_error, no_response, Controls, Settings};
use crate::layer::Shared;
use crate::{ChaosLayer, Injected};

/// Sets up a [`ChaosLayer`]; from [`ChaosLayer::builder`].
///
/// Nothing is injected until a rate or an outage is set. [`build`](Self::build) checks the
/// settings and returns a [`ConfigError`] for nonsense.
///
/// ```
/// use std::time::Duration;
/// use bulwark_chaos::{ChaosLayer, OutageAnswer};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = ChaosLayer::builder()
///     .seed(42)
///     .name("replica-a")
///     .response_rate(0.1)
///     .response_with(|| {
///         http::Response::builder()
///             .status(503)
///             .header("retry-after", "1")
///             .body(String::new())
///             .unwrap()
///     })
///     .outage(Duration::from_secs(10), Duration::from_secs(20))
///     .outage_answer(OutageAnswer::Response)
///     .build()
///     .unwrap();
/// assert_eq!(layer.handle().response_rate(), 0.1);
///
/// let nonsense = ChaosLayer::<()>::builder().error_rate(-1.0).build();
/// assert_eq!(nonsense.unwrap_err().field(), "error_rate");
/// # }
/// ```
pub struct ChaosBuilder<Res, E = BoxError> {
    config: ChaosConfig,
    name: Option<Cow<'static, str>>,
    start: Option<Instant>,
    hook: SharedHook,
    error: Option<Box<dyn Fn() -> E + Send + Sync>>,
    response: Option<Box<dyn Fn() -> Res + Send + Sync>>,
}

impl<Res> ChaosBuilder<Res> {
    pub(crate) fn new() -> Self {
        Self {
            config: ChaosConfig::default(),
            name: None,
            start: None,
            hook: SharedHook::none(),
            // `Injected` has no size, so boxing it does not allocate.
            error: Some(Box::new(|| Injected::new().into())),
            response: None,
        }
    }
}

impl<Res, E> ChaosBuilder<Res, E> {
    /// Replaces every plain-data setting — rates, latency, outages, seed, `enabled`, and the
    /// name unless [`name`](Self::name) set one — with `config`'s.
    ///
    /// ```
    /// use bulwark_chaos::{ChaosConfig, ChaosLayer};
    ///
    /// let config = ChaosConfig { error_rate: 0.3, name: Some("db".into()), ..Default::default() };
    /// let layer = ChaosLayer::<()>::builder().config(config).build().unwrap();
    /// assert_eq!(layer.handle().error_rate(), 0.3);
    /// assert_eq!(layer.get_name(), "db");
    /// ```
    pub fn config(mut self, config: ChaosConfig) -> Self {
        self.config = config;
        self
    }

    /// Fixes the seed, so the same calls get the same faults on every run. Without one, the
    /// seed comes from entropy; [`ChaosHandle::seed`](crate::ChaosHandle::seed) tells it.
    ///
    /// ```
    /// let layer = bulwark_chaos::ChaosLayer::<()>::builder().seed(9).build().unwrap();
    /// assert_eq!(layer.handle().seed(), 9);
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = Some(seed);
        self
    }

    /// Whether it starts enabled; `true` unless set.
    ///
    /// ```
    /// let layer = bulwark_chaos::ChaosLayer::<()>::builder().enabled(false).build().unwrap();
    /// assert!(!layer.handle().is_enabled());
    /// ```
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.config.enabled = enabled;
        self
    }

    /// The probability, from 0 to 1, that a call fails with the injected error.
    ///
    /// ```
    /// let layer = bulwark_chaos::ChaosLayer::<()>::builder().error_rate(0.05).build().unwrap();
    /// assert_eq!(layer.handle().error_rate(), 0.05);
    /// ```
    pub fn error_rate(mut self, rate: f64) -> Self {
        self.config.error_rate = rate;
        self
    }

    /// The probability, from 0 to 1, that a call gets the chosen response instead of calling
    /// the inner service; it needs [`response_with`](Self::response_with).
    ///
    /// ```
    /// use bulwark_chaos::ChaosLayer;
    ///
    /// let layer = ChaosLayer::builder().response_rate(0.2).response_with(|| 503u16).build().unwrap();
    /// assert_eq!(layer.handle().response_rate(), 0.2);
    /// assert!(ChaosLayer::<u16>::builder().response_rate(0.2).build().is_err());
    /// ```
    pub fn response_rate(mut self, rate: f64) -> Self {
        self.config.response_rate = rate;
        self
    }

    /// The probability, from 0 to 1, that a call is delayed by [`latency`](Self::latency).
    ///
    /// ```
    /// let layer = bulwark_chaos::ChaosLayer::<()>::builder().latency_rate(0.5).build().unwrap();
    /// assert_eq!(layer.handle().latency_rate(), 0.5);
    /// ```
    pub fn latency_rate(mut self, rate: f64) -> Self {
        self.config.latency_rate = rate;
        self
    }

    /// How long a delayed call waits before the inner service is called (or the injected
    /// answer given).
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_chaos::{ChaosLayer, Latency};
    ///
    /// let spike = Latency::fixed(Duration::from_millis(300));
    /// let layer = ChaosLayer::<()>::builder().latency(spike).latency_rate(0.1).build().unwrap();
    /// assert_eq!(layer.handle().latency(), spike);
    /// ```
    pub fn latency(mut self, latency: Latency) -> Self {
        self.config.latency = latency;
        self
    }

    /// Adds an outage: dark from `start` until `end` after the layer's start. Windows may
    /// overlap; [`build`](Self::build) refuses one with `end <= start`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_chaos::ChaosLayer;
    ///
    /// let layer = ChaosLayer::<()>::builder()
    ///     .outage(Duration::from_secs(5), Duration::from_secs(10))
    ///     .outage(Duration::from_secs(30), Duration::from_secs(31))
    ///     .build();
    /// assert!(layer.is_ok());
    /// ```
    pub fn outage(mut self, start: Duration, end: Duration) -> Self {
        self.config.outages.push(OutageWindow::new(start, end));
        self
    }

    /// What calls get during an outage: the injected error (the default) or the chosen
    /// response.
    ///
    /// ```
    /// use bulwark_chaos::{ChaosLayer, OutageAnswer};
    ///
    /// let layer = ChaosLayer::builder()
    ///     .response_with(|| "down for maintenance")
    ///     .outage_answer(OutageAnswer::Response)
    ///     .build();
    /// assert!(layer.is_ok());
    /// ```
    pub fn outage_answer(mut self, answer: OutageAnswer) -> Self {
        self.config.outage_answer = answer;
        self
    }

    /// Measures outage windows from `start` instead of from when [`build`](Self::build) is
    /// called. Before `start`, no window has begun.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_chaos::ChaosLayer;
    /// use tokio::time::Instant;
    ///
    /// let start = Instant::now() + Duration::from_secs(60);
    /// let layer = ChaosLayer::<()>::builder()
    ///     .start_at(start)
    ///     .outage(Duration::ZERO, Duration::from_secs(1))
    ///     .build()
    ///     .unwrap();
    /// assert!(!layer.handle().in_outage());
    /// ```
    pub fn start_at(mut self, start: Instant) -> Self {
        self.start = Some(start);
        self
    }

    /// Names this instance in the events it reports; `"chaos"` unless set here or in the
    /// config.
    ///
    /// ```
    /// let layer = bulwark_chaos::ChaosLayer::<()>::builder().name("replica-c").build().unwrap();
    /// assert_eq!(layer.get_name(), "replica-c");
    /// ```
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Reports an [`EventKind::FaultInjected`](bulwark_policy::EventKind::FaultInjected) to
    /// `hook` for every fault: one for a delay, one for an injected error or response, one for
    /// a call in an outage. With no hook, no event is built.
    ///
    /// ```
    /// use bulwark_chaos::ChaosLayer;
    /// use bulwark_policy::TracingHook;
    ///
    /// let layer = ChaosLayer::<()>::builder().hook(TracingHook::new()).build();
    /// assert!(layer.is_ok());
    /// ```
    pub fn hook(mut self, hook: impl Hook) -> Self {
        self.hook = SharedHook::new(hook);
        self
    }

    /// The error to inject, made afresh for each injected failure; it sets the error type the
    /// wrapped services return.
    ///
    /// Make it the inner service's own error type to pass that through unboxed, or any type
    /// the inner error converts `Into`. Without it the layer injects [`Injected`] as a
    /// [`BoxError`].
    ///
    /// ```
    /// use std::io;
    /// use bulwark_chaos::ChaosLayer;
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let layer = ChaosLayer::builder()
    ///     .error_rate(1.0)
    ///     .error_with(|| io::Error::new(io::ErrorKind::ConnectionReset, "chaos"))
    ///     .build()
    ///     .unwrap();
    /// let svc = layer.layer(service_fn(|n: u8| async move { Ok::<_, io::Error>(n) }));
    /// let err: io::Error = svc.oneshot(1).await.unwrap_err();
    /// assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    /// # }
    /// ```
    pub fn error_with<E2>(
        self,
        error: impl Fn() -> E2 + Send + Sync + 'static,
    ) -> ChaosBuilder<Res, E2> {
        ChaosBuilder {
            config: self.config,
            name: self.name,
            start: self.start,
            hook: self.hook,
            error: Some(Box::new(error)),
            response: self.response,
        }
    }

    /// Injects no errors — only delays, chosen responses, and outages answered with
    /// [`OutageAnswer::Response`] — so the error type can be any type the inner error converts
    /// into, such as `Infallible` for an axum `Router::layer`.
    ///
    /// [`build`](Self::build) then refuses an error rate above 0, and outage windows answered
    /// with an error; the handle refuses to set an error rate.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use bulwark_chaos::ChaosLayer;
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let layer = ChaosLayer::builder()
    ///     .response_rate(1.0)
    ///     .response_with(|| 503u16)
    ///     .without_errors::<Infallible>()
    ///     .build()
    ///     .unwrap();
    /// let svc = layer.layer(service_fn(|_: ()| async { Ok::<u16, Infallible>(200) }));
    /// let answer: Result<u16, Infallible> = svc.oneshot(()).await;
    /// assert_eq!(answer, Ok(503));
    /// assert!(layer.handle().set_error_rate(0.1).is_err());
    /// # }
    /// ```
    pub fn without_errors<E2>(self) -> ChaosBuilder<Res, E2> {
        ChaosBuilder {
            config: self.config,
            name: self.name,
            start: self.start,
            hook: self.hook,
            error: None,
            response: self.response,
        }
    }

    /// The response to inject, made afresh for each injected response, in place of calling
    /// the inner service.
    ///
    /// ```
    /// use bulwark_chaos::ChaosLayer;
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let layer = ChaosLayer::builder().response_rate(1.0).response_with(|| 503u16).build().unwrap();
    /// let svc = layer.layer(service_fn(|_: ()| async { Ok::<u16, std::io::Error>(200) }));
    /// assert_eq!(svc.oneshot(()).await.unwrap(), 503);
    /// # }
    /// ```
    pub fn response_with(mut self, response: impl Fn() -> Res + Send + Sync + 'static) -> Self {
        self.response = Some(Box::new(response));
        self
    }

    /// Checks the settings and makes the layer.
    ///
    /// It refuses rates outside 0..=1, latency with `min > max`, outage windows with
    /// `end <= start`, a response rate or [`OutageAnswer::Response`] without
    /// [`response_with`](Self::response_with), and errors asked for after
    /// [`without_errors`](Self::without_errors). Unless [`start_at`](Self::start_at) was given,
    /// outage windows are measured from now, on tokio's clock.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_chaos::{ChaosLayer, Latency};
    ///
    /// let err = ChaosLayer::<()>::builder()
    ///     .latency(Latency::uniform(Duration::from_secs(2), Duration::from_secs(1)))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.field(), "latency");
    /// ```
    pub fn build(self) -> Result<ChaosLayer<Res, E>, ConfigError> {
        let config = self.config;
        config.validate()?;
        let has_error = self.error.is_some();
        if !has_error {
            if config.error_rate > 0.0 {
                return Err(no_error("error_rate"));
            }
            if config.outage_answer == OutageAnswer::Error && !config.outages.is_empty() {
                return Err(no_error("outage_answer"));
            }
        }
        let has_response = self.response.is_some();
        if !has_response {
            if config.response_rate > 0.0 {
                return Err(no_response("response_rate"));
            }
            if config.outage_answer == OutageAnswer::Response {
                return Err(no_response("outage_answer"));
            }
        }
        let name = self
            .name
            .or(config.name.map(Cow::Owned))
            .unwrap_or(Cow::Borrowed("chaos"));
        let controls = Controls::new(Settings {
            enabled: config.enabled,
            seed: config
                .seed
                .unwrap_or_else(|| Rng::from_entropy().next_u64()),
            error_rate: config.error_rate,
            response_rate: config.response_rate,
            latency_rate: config.latency_rate,
            latency: config.latency,
            outages: config.outages,
            outage_answer: config.outage_answer,
            has_error,
            has_response,
            start: self.start.unwrap_or_else(Instant::now),
            name,
            hook: self.hook,
        });
        Ok(ChaosLayer {
            shared: Arc::new(Shared {
                controls: Arc::new(controls),
                error: self.error,
                response: self.response,
            }),
        })
    }
}

impl<Res, E> fmt::Debug for ChaosBuilder<Res, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaosBuilder")
            .field("config", &self.config)
            .field("name", &self.name)
            .field("start", &self.start)
            .field("hook", &self.hook)
            .field("response", &self.response.is_some())
            .finish_non_exhaustive()
    }
}

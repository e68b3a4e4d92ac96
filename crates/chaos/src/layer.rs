//! [`ChaosLayer`] and the state its services share.

use std::fmt;
use std::sync::Arc;

use bulwark_policy::{BoxError, ConfigError};
use tower_layer::Layer;

use crate::handle::{Action, Controls};
use crate::{Chaos, ChaosBuilder, ChaosConfig, ChaosHandle};

/// Injects errors, latency, chosen responses and outages into the services it wraps.
///
/// `Res` is the response type of the wrapped services, `E` the error type of the wrapped
/// services as seen from outside: [`BoxError`] unless
/// [`ChaosBuilder::error_with`] chose another (see the [crate docs](crate#errors)).
///
/// A layer value is one chaos instance: its clones, the services it wraps and their clones
/// share the rates, the counter that seeds each call and the statistics, and one
/// [`ChaosHandle`] controls them all.
///
/// ```
/// use std::time::Duration;
/// use bulwark_chaos::{ChaosLayer, Latency};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let chaos = ChaosLayer::builder()
///     .seed(7)
///     .latency_rate(0.5)
///     .latency(Latency::uniform(Duration::from_millis(10), Duration::from_millis(50)))
///     .build()
///     .unwrap();
/// let svc = ServiceBuilder::new()
///     .layer(chaos.clone())
///     .service(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n * 2) }));
/// for n in 0..10 {
///     assert_eq!(svc.clone().oneshot(n).await.unwrap(), n * 2);
/// }
/// assert_eq!(chaos.handle().stats().calls, 10);
/// # }
/// ```
pub struct ChaosLayer<Res, E = BoxError> {
    pub(crate) shared: Arc<Shared<Res, E>>,
}

/// The controls, and the closures that make injected answers.
pub(crate) struct Shared<Res, E> {
    pub(crate) controls: Arc<Controls>,
    pub(crate) error: Option<Box<dyn Fn() -> E + Send + Sync>>,
    pub(crate) response: Option<Box<dyn Fn() -> Res + Send + Sync>>,
}

impl<Res, E> Shared<Res, E> {
    /// The injected answer the action calls for, or `None` to call the inner service.
    ///
    /// `build` and the handle never let a rate or an outage ask for an answer there is no
    /// closure for; were one missing, the call would go through rather than panic.
    pub(crate) fn answer(&self, action: Action) -> Option<Result<Res, E>> {
        match action {
            Action::Call => None,
            Action::Error => self.error.as_ref().map(|error| Err(error())),
            Action::Response => self.response.as_ref().map(|response| Ok(response())),
        }
    }
}

impl<Res> ChaosLayer<Res> {
    /// Starts a layer that injects nothing until told to; see [`ChaosBuilder`].
    ///
    /// ```
    /// use bulwark_chaos::ChaosLayer;
    ///
    /// let layer = ChaosLayer::<String>::builder().error_rate(0.01).build().unwrap();
    /// assert_eq!(layer.handle().error_rate(), 0.01);
    /// ```
    pub fn builder() -> ChaosBuilder<Res> {
        ChaosBuilder::new()
    }

    /// A layer set up from `config`, injecting [`Injected`](crate::Injected) errors; use
    /// [`ChaosBuilder::config`] to add a response or an error of your own.
    ///
    /// ```
    /// use bulwark_chaos::{ChaosConfig, ChaosLayer};
    ///
    /// let config = ChaosConfig { seed: Some(1), error_rate: 0.2, ..Default::default() };
    /// let layer = ChaosLayer::<()>::from_config(config).unwrap();
    /// assert_eq!(layer.handle().seed(), 1);
    /// assert!(ChaosLayer::<()>::from_config(ChaosConfig { error_rate: 2.0, ..Default::default() }).is_err());
    /// ```
    pub fn from_config(config: ChaosConfig) -> Result<Self, ConfigError> {
        Self::builder().config(config).build()
    }
}

impl<Res, E> ChaosLayer<Res, E> {
    /// The handle that switches this instance on and off and changes its rates.
    ///
    /// ```
    /// use bulwark_chaos::ChaosLayer;
    ///
    /// let layer = ChaosLayer::<()>::builder().build().unwrap();
    /// let handle = layer.clone().handle();
    /// handle.disable();
    /// assert!(!layer.handle().is_enabled());
    /// ```
    pub fn handle(&self) -> ChaosHandle {
        ChaosHandle::new(self.shared.controls.clone())
    }

    /// The name its events carry.
    ///
    /// ```
    /// use bulwark_chaos::ChaosLayer;
    ///
    /// assert_eq!(ChaosLayer::<()>::builder().build().unwrap().get_name(), "chaos");
    /// assert_eq!(ChaosLayer::<()>::builder().name("replica-b").build().unwrap().get_name(), "replica-b");
    /// ```
    pub fn get_name(&self) -> &str {
        &self.shared.controls.name
    }
}

impl<Res, E> Clone for ChaosLayer<Res, E> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<S, Res, E> Layer<S> for ChaosLayer<Res, E> {
    type Service = Chaos<S, Res, E>;

    fn layer(&self, inner: S) -> Self::Service {
        Chaos::from_parts(inner, self.shared.clone())
    }
}

impl<Res, E> fmt::Debug for ChaosLayer<Res, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaosLayer")
            .field("controls", &self.shared.controls)
            .field("response", &self.shared.response.is_some())
            .finish_non_exhaustive()
    }
}

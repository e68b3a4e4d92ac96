//! The layer: one retry instance, shared by every service it wraps.

use std::fmt;
use std::sync::Arc;

use bulwark_policy::{Backoff, CloneReplay, ErrorsAsFailures, ExtensionsDeadline, RetryBudget};
use tower_layer::Layer;

use crate::handle::Settings;
use crate::{AnyRequest, Retry, RetryBuilder, RetryHandle};

/// Retries failed calls of the services it wraps, within a budget, honouring the server's
/// `retry_after` and the request's deadline.
///
/// Build it with [`RetryLayer::builder`]; the [crate docs](crate) explain the behaviour and
/// the defaults. The type parameters are the classifier `C`, how the deadline is read `D`, how
/// the request is replayed `R` and which requests may be retried `P`.
///
/// A layer value is one retry instance: every service it wraps, and every clone of those,
/// shares its budget. Two independent budgets need two layers.
///
/// ```
/// use bulwark_policy::IgnoreDeadline;
/// use bulwark_retry::RetryLayer;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = RetryLayer::builder().deadline(IgnoreDeadline).build().unwrap();
/// let svc = ServiceBuilder::new()
///     .layer(layer.clone())
///     .service(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n + 1) }));
/// assert_eq!(svc.oneshot(1).await.unwrap(), 2);
/// assert!(layer.budget().is_some(), "the budget is on by default");
/// # }
/// ```
pub struct RetryLayer<C = ErrorsAsFailures, D = ExtensionsDeadline, R = CloneReplay, P = AnyRequest>
{
    pub(crate) shared: Arc<Shared<C, D, R, P>>,
}

/// What every service and future of one layer shares.
pub(crate) struct Shared<C, D, R, P> {
    pub(crate) settings: Arc<Settings>,
    pub(crate) classify: C,
    pub(crate) deadline: D,
    pub(crate) replay: R,
    pub(crate) predicate: P,
}

impl RetryLayer {
    /// A builder with the defaults: 3 attempts, [`Backoff::default`], the default
    /// [`RetryBudget`], [`ErrorsAsFailures`], the deadline read from `http::Request`
    /// extensions, requests replayed by cloning, and every request retryable.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::Backoff;
    /// use bulwark_retry::RetryLayer;
    ///
    /// let layer = RetryLayer::builder()
    ///     .max_attempts(4)
    ///     .backoff(Backoff::exponential(Duration::from_millis(50)))
    ///     .name("payments")
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(layer.name(), "payments");
    /// assert!(RetryLayer::builder().max_attempts(0).build().is_err());
    /// ```
    pub fn builder() -> RetryBuilder {
        RetryBuilder::new()
    }
}

impl Default for RetryLayer {
    /// [`RetryLayer::builder`]`().build()`, whose defaults are valid.
    ///
    /// ```
    /// assert_eq!(bulwark_retry::RetryLayer::default().max_attempts(), 3);
    /// ```
    fn default() -> Self {
        RetryBuilder::new()
            .build()
            .expect("the default settings are valid")
    }
}

impl<C, D, R, P> RetryLayer<C, D, R, P> {
    /// A handle that reads and changes the attempts and the backoff while the layer runs.
    ///
    /// ```
    /// let layer = bulwark_retry::RetryLayer::default();
    /// layer.handle().set_max_attempts(2).unwrap();
    /// assert_eq!(layer.max_attempts(), 2);
    /// ```
    pub fn handle(&self) -> RetryHandle {
        RetryHandle::new(self.shared.settings.clone())
    }

    /// The budget every wrapped service draws on, if there is one.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use bulwark_retry::RetryLayer;
    ///
    /// let layer = RetryLayer::default();
    /// assert_eq!(layer.budget().unwrap().available(), 100, "the floor: 10/s over 10 s");
    /// assert!(RetryLayer::builder().no_budget().build().unwrap().budget().is_none());
    /// # }
    /// ```
    pub fn budget(&self) -> Option<&Arc<RetryBudget>> {
        self.shared.settings.budget.as_ref()
    }

    /// The number of attempts, the first included.
    ///
    /// ```
    /// assert_eq!(bulwark_retry::RetryLayer::default().max_attempts(), 3);
    /// ```
    pub fn max_attempts(&self) -> u32 {
        self.shared.settings.max_attempts()
    }

    /// The backoff, with the cap on server hints that applies.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_retry::RetryLayer;
    ///
    /// let layer = RetryLayer::builder().honor_retry_after(Duration::from_secs(2)).build().unwrap();
    /// assert_eq!(layer.backoff().get_retry_after_cap(), Some(Duration::from_secs(2)));
    /// ```
    pub fn backoff(&self) -> Backoff {
        self.shared.settings.with_backoff(Backoff::clone)
    }

    /// The name its events carry.
    ///
    /// ```
    /// assert_eq!(bulwark_retry::RetryLayer::default().name(), "retry");
    /// ```
    pub fn name(&self) -> &str {
        &self.shared.settings.name
    }
}

impl<C, D, R, P> Clone for RetryLayer<C, D, R, P> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<S, C, D, R, P> Layer<S> for RetryLayer<C, D, R, P> {
    type Service = Retry<S, C, D, R, P>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry::from_shared(inner, self.shared.clone())
    }
}

impl<C, D, R, P> fmt::Debug for RetryLayer<C, D, R, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayer")
            .field("shared", &self.shared)
            .finish()
    }
}

impl<C, D, R, P> fmt::Debug for Shared<C, D, R, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("settings", &self.settings)
            .field("classify", &std::any::type_name::<C>())
            .field("deadline", &std::any::type_name::<D>())
            .field("replay", &std::any::type_name::<R>())
            .field("predicate", &std::any::type_name::<P>())
            .finish()
    }
}

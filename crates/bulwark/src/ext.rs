//! [`ServiceBuilderExt`]: bulwark's layers as `ServiceBuilder` methods.

#[cfg(any(
    feature = "retry",
    feature = "timeout",
    feature = "breaker",
    feature = "fallback"
))]
use tower::{layer::util::Stack, ServiceBuilder};

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

/// bulwark's layers as methods of [`tower::ServiceBuilder`], so a stack reads the same way as
/// one made of tower's own layers.
///
/// Each method is `self.layer(layer)`, nothing more: the layer keeps its place in the order
/// the methods are called, outermost first. The trait is sealed; only `ServiceBuilder`
/// implements it.
///
/// ```
/// use std::time::Duration;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
/// use tower_bulwark::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let svc = ServiceBuilder::new()
///     .fallback(FallbackLayer::value(0u32))
///     .timeout_with(TimeoutLayer::new(Duration::from_secs(2)).deadline(IgnoreDeadline))
///     .retry_with(RetryLayer::builder().deadline(IgnoreDeadline).build()?)
///     .breaker(BreakerLayer::builder().build()?)
///     .service(service_fn(|n: u32| async move { Ok::<_, BoxError>(n + 1) }));
/// assert_eq!(svc.oneshot(41).await?, 42);
/// # Ok(())
/// # }
/// ```
pub trait ServiceBuilderExt<L>: sealed::Sealed + Sized {
    /// Adds a [`RetryLayer`](crate::retry::RetryLayer).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use tower::{service_fn, ServiceBuilder, ServiceExt};
    /// use tower_bulwark::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), BoxError> {
    /// let calls = Arc::new(AtomicU32::new(0));
    /// let seen = calls.clone();
    /// let svc = ServiceBuilder::new()
    ///     .retry_with(
    ///         RetryLayer::builder()
    ///             .backoff(Backoff::constant(Duration::from_millis(10)))
    ///             .deadline(IgnoreDeadline)
    ///             .build()?,
    ///     )
    ///     .service(service_fn(move |n: u32| {
    ///         let first = seen.fetch_add(1, Ordering::Relaxed) == 0;
    ///         async move { if first { Err::<u32, BoxError>("flaky".into()) } else { Ok(n) } }
    ///     }));
    /// assert_eq!(svc.oneshot(7).await?, 7);
    /// assert_eq!(calls.load(Ordering::Relaxed), 2);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "retry")]
    #[cfg_attr(docsrs, doc(cfg(feature = "retry")))]
    fn retry_with<C, D, R, P>(
        self,
        layer: crate::retry::RetryLayer<C, D, R, P>,
    ) -> ServiceBuilder<Stack<crate::retry::RetryLayer<C, D, R, P>, L>>;

    /// Adds a [`BreakerLayer`](crate::breaker::BreakerLayer).
    ///
    /// ```
    /// use tower::{service_fn, ServiceBuilder, ServiceExt};
    /// use tower_bulwark::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let layer = BreakerLayer::builder().consecutive_failures(1).build()?;
    /// let svc = ServiceBuilder::new()
    ///     .breaker(layer.clone())
    ///     .service(service_fn(|_: ()| async { Err::<(), BoxError>("down".into()) }));
    /// assert!(svc.clone().oneshot(()).await.is_err());
    /// // One failure tripped it: the next call is rejected without reaching the service.
    /// let err = svc.oneshot(()).await.unwrap_err();
    /// assert!(err.is::<Rejected>());
    /// assert!(layer.handle().state().rejects());
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "breaker")]
    #[cfg_attr(docsrs, doc(cfg(feature = "breaker")))]
    fn breaker<C>(
        self,
        layer: crate::breaker::BreakerLayer<C>,
    ) -> ServiceBuilder<Stack<crate::breaker::BreakerLayer<C>, L>>;

    /// Adds a [`TimeoutLayer`](crate::timeout::TimeoutLayer).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower::{service_fn, ServiceBuilder, ServiceExt};
    /// use tower_bulwark::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let svc = ServiceBuilder::new()
    ///     .timeout_with(TimeoutLayer::new(Duration::from_millis(100)).deadline(IgnoreDeadline))
    ///     .service(service_fn(|_: ()| async {
    ///         tokio::time::sleep(Duration::from_secs(1)).await;
    ///         Ok::<_, BoxError>(())
    ///     }));
    /// assert!(svc.oneshot(()).await.unwrap_err().is::<Elapsed>());
    /// # }
    /// ```
    #[cfg(feature = "timeout")]
    #[cfg_attr(docsrs, doc(cfg(feature = "timeout")))]
    fn timeout_with<A>(
        self,
        layer: crate::timeout::TimeoutLayer<A>,
    ) -> ServiceBuilder<Stack<crate::timeout::TimeoutLayer<A>, L>>;

    /// Adds a [`FallbackLayer`](crate::fallback::FallbackLayer).
    ///
    /// ```
    /// use tower::{service_fn, ServiceBuilder, ServiceExt};
    /// use tower_bulwark::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let svc = ServiceBuilder::new()
    ///     .fallback(FallbackLayer::value("cached"))
    ///     .service(service_fn(|_: ()| async { Err::<&str, BoxError>("down".into()) }));
    /// assert_eq!(svc.oneshot(()).await.unwrap(), "cached");
    /// # }
    /// ```
    #[cfg(feature = "fallback")]
    #[cfg_attr(docsrs, doc(cfg(feature = "fallback")))]
    fn fallback<F, C, W>(
        self,
        layer: crate::fallback::FallbackLayer<F, C, W>,
    ) -> ServiceBuilder<Stack<crate::fallback::FallbackLayer<F, C, W>, L>>;
}

impl<L> ServiceBuilderExt<L> for tower::ServiceBuilder<L> {
    #[cfg(feature = "retry")]
    fn retry_with<C, D, R, P>(
        self,
        layer: crate::retry::RetryLayer<C, D, R, P>,
    ) -> ServiceBuilder<Stack<crate::retry::RetryLayer<C, D, R, P>, L>> {
        self.layer(layer)
    }

    #[cfg(feature = "breaker")]
    fn breaker<C>(
        self,
        layer: crate::breaker::BreakerLayer<C>,
    ) -> ServiceBuilder<Stack<crate::breaker::BreakerLayer<C>, L>> {
        self.layer(layer)
    }

    #[cfg(feature = "timeout")]
    fn timeout_with<A>(
        self,
        layer: crate::timeout::TimeoutLayer<A>,
    ) -> ServiceBuilder<Stack<crate::timeout::TimeoutLayer<A>, L>> {
        self.layer(layer)
    }

    #[cfg(feature = "fallback")]
    fn fallback<F, C, W>(
        self,
        layer: crate::fallback::FallbackLayer<F, C, W>,
    ) -> ServiceBuilder<Stack<crate::fallback::FallbackLayer<F, C, W>, L>> {
        self.layer(layer)
    }
}

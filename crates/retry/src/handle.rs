//! The settings a layer's services share, and the handle that changes them at run time.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use bulwark_policy::{Backoff, ConfigError, Event, EventKind, RetryBudget, Rng, SharedHook};

use crate::builder::validate_max_attempts;

/// The plain settings of one layer instance, apart from the code it was given.
pub(crate) struct Settings {
    max_attempts: AtomicU32,
    /// Read only when a retry is being planned, so the lock stays off the success path.
    backoff: RwLock<Backoff>,
    pub(crate) budget: Option<Arc<RetryBudget>>,
    pub(crate) name: Cow<'static, str>,
    hook: SharedHook,
    seed: Option<u64>,
    /// Counts the requests that needed a generator, so seeded ones still differ.
    seeded: AtomicU64,
}

impl Settings {
    pub(crate) fn new(
        max_attempts: u32,
        backoff: Backoff,
        budget: Option<Arc<RetryBudget>>,
        name: Cow<'static, str>,
        hook: SharedHook,
        seed: Option<u64>,
    ) -> Self {
        Self {
            max_attempts: AtomicU32::new(max_attempts),
            backoff: RwLock::new(backoff),
            budget,
            name,
            hook,
            seed,
            seeded: AtomicU64::new(0),
        }
    }

    #[inline]
    pub(crate) fn max_attempts(&self) -> u32 {
        self.max_attempts.load(Ordering::Relaxed)
    }

    pub(crate) fn with_backoff<T>(&self, f: impl FnOnce(&Backoff) -> T) -> T {
        f(&self.backoff.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn emit(&self, kind: EventKind) {
        self.hook.emit(|| Event::new(&self.name, kind));
    }

    /// The jitter source of one request, made only when it first needs a delay.
    pub(crate) fn rng(&self) -> Rng {
        match self.seed {
            Some(seed) => Rng::new(seed.wrapping_add(self.seeded.fetch_add(1, Ordering::Relaxed))),
            None => Rng::from_entropy(),
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("name", &self.name)
            .field("max_attempts", &self.max_attempts())
            .field(
                "backoff",
                &*self.backoff.read().unwrap_or_else(PoisonError::into_inner),
            )
            .field("budget", &self.budget)
            .field("hook", &self.hook)
            .field("seed", &self.seed)
            .finish()
    }
}

/// Reads and changes a [`RetryLayer`](crate::RetryLayer)'s settings while it runs; made by
/// [`RetryLayer::handle`](crate::RetryLayer::handle).
///
/// A change reaches every service and clone of the layer at its next decision: a request
/// already in flight uses the new attempts and backoff for its remaining retries. Turning
/// retries off during an incident is `set_max_attempts(1)`. The budget is fixed when the
/// layer is built; share an `Arc<RetryBudget>` to inspect it from elsewhere.
///
/// ```
/// use std::time::Duration;
/// use bulwark_policy::Backoff;
/// use bulwark_retry::RetryLayer;
///
/// let layer = RetryLayer::default();
/// let handle = layer.handle();
/// handle.set_max_attempts(1).unwrap();
/// handle.set_backoff(Backoff::constant(Duration::from_millis(5))).unwrap();
/// assert_eq!(layer.max_attempts(), 1);
/// assert_eq!(layer.backoff().base(), Duration::from_millis(5));
/// assert!(handle.set_max_attempts(0).is_err());
/// ```
#[derive(Clone)]
pub struct RetryHandle {
    settings: Arc<Settings>,
}

impl RetryHandle {
    pub(crate) fn new(settings: Arc<Settings>) -> Self {
        Self { settings }
    }

    /// The number of attempts, the first included.
    ///
    /// ```
    /// assert_eq!(bulwark_retry::RetryLayer::default().handle().max_attempts(), 3);
    /// ```
    pub fn max_attempts(&self) -> u32 {
        self.settings.max_attempts()
    }

    /// Sets the number of attempts, validated as the builder validates it.
    ///
    /// ```
    /// let handle = bulwark_retry::RetryLayer::default().handle();
    /// handle.set_max_attempts(5).unwrap();
    /// assert_eq!(handle.max_attempts(), 5);
    /// assert_eq!(handle.set_max_attempts(0).unwrap_err().field(), "max_attempts");
    /// ```
    pub fn set_max_attempts(&self, n: u32) -> Result<(), ConfigError> {
        validate_max_attempts(n)?;
        self.settings.max_attempts.store(n, Ordering::Relaxed);
        Ok(())
    }

    /// The backoff, with the cap on server hints that applies.
    ///
    /// ```
    /// use std::time::Duration;
    /// let handle = bulwark_retry::RetryLayer::default().handle();
    /// assert_eq!(handle.backoff().get_retry_after_cap(), Some(Duration::from_secs(30)));
    /// ```
    pub fn backoff(&self) -> Backoff {
        self.settings.with_backoff(Backoff::clone)
    }

    /// Replaces the backoff, validated; its `retry_after_cap` becomes the cap on server hints.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::Backoff;
    ///
    /// let handle = bulwark_retry::RetryLayer::default().handle();
    /// let bad = Backoff::constant(Duration::from_secs(2)).max_delay(Duration::from_secs(1));
    /// assert_eq!(handle.set_backoff(bad).unwrap_err().field(), "max_delay");
    /// ```
    pub fn set_backoff(&self, backoff: Backoff) -> Result<(), ConfigError> {
        backoff.validate()?;
        *self
            .settings
            .backoff
            .write()
            .unwrap_or_else(PoisonError::into_inner) = backoff;
        Ok(())
    }

    /// The budget the layer draws on, if any.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let handle = bulwark_retry::RetryLayer::default().handle();
    /// assert_eq!(handle.budget().unwrap().retry_percent(), 0.2);
    /// # }
    /// ```
    pub fn budget(&self) -> Option<&Arc<RetryBudget>> {
        self.settings.budget.as_ref()
    }

    /// The name the layer's events carry.
    ///
    /// ```
    /// let layer = bulwark_retry::RetryLayer::builder().name("db").build().unwrap();
    /// assert_eq!(layer.handle().name(), "db");
    /// ```
    pub fn name(&self) -> &str {
        &self.settings.name
    }
}

impl fmt::Debug for RetryHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RetryHandle").field(&self.settings).finish()
    }
}

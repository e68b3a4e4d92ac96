//! [`Injected`], the error a chaos layer injects when it was given no error of its own.

use std::fmt;

/// The error a [`ChaosLayer`](crate::ChaosLayer) injects, boxed into a
/// [`BoxError`](bulwark_policy::BoxError), when no
/// [`error_with`](crate::ChaosBuilder::error_with) was given.
///
/// It has no size, so boxing it does not allocate. The default classifier treats it as any
/// other error: a retryable failure.
///
/// ```
/// use bulwark_chaos::Injected;
/// use bulwark_policy::BoxError;
///
/// let err: BoxError = Injected::new().into();
/// assert!(err.is::<Injected>());
/// assert_eq!(err.to_string(), "fault injected by chaos layer");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Injected(());

impl Injected {
    /// The error.
    ///
    /// ```
    /// assert_eq!(bulwark_chaos::Injected::new(), bulwark_chaos::Injected::default());
    /// ```
    pub const fn new() -> Self {
        Self(())
    }
}

impl fmt::Display for Injected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("fault injected by chaos layer")
    }
}

impl std::error::Error for Injected {}

//! Which classified failures the fallback answers.

use bulwark_policy::{Failure, FailureKind};

/// Narrows the failures a fallback answers.
///
/// It is asked only about results the classifier called a [`Failure`]; answering `false` lets
/// the result through untouched. To make the fallback answer results the classifier calls a
/// success (an HTTP 503 answer, say), change the classifier with
/// [`FallbackLayer::classify`](crate::FallbackLayer::classify).
///
/// It is implemented by:
///
/// - [`AnyFailure`], the default: every failure;
/// - a [`FailureKind`]: failures of that kind;
/// - an array of kinds, `[FailureKind; N]`: failures of any of them;
/// - a closure `Fn(&Result<Res, E>) -> bool`: a predicate over the result (annotate its
///   argument's type).
///
/// ```
/// use bulwark_fallback::When;
/// use bulwark_policy::{Failure, FailureKind};
///
/// let timeout = Failure::new(FailureKind::Timeout);
/// let err: Result<u8, &str> = Err("slow");
/// assert!(FailureKind::Timeout.applies(&err, &timeout));
/// assert!(![FailureKind::Rejected, FailureKind::Error].applies(&err, &timeout));
/// let slow_only = |r: &Result<u8, &str>| matches!(r, Err(e) if e.contains("slow"));
/// assert!(slow_only.applies(&err, &timeout));
/// ```
pub trait When<Res, E>: Clone + Send + Sync + 'static {
    /// Whether the fallback answers `result`, which failed as `failure`.
    fn applies(&self, result: &Result<Res, E>, failure: &Failure) -> bool;
}

/// The default [`When`]: the fallback answers every classified failure, breaker rejections
/// and timeouts included.
///
/// ```
/// use bulwark_fallback::{AnyFailure, When};
/// use bulwark_policy::{Failure, FailureKind};
///
/// let r: Result<(), ()> = Err(());
/// assert!(AnyFailure.applies(&r, &Failure::new(FailureKind::NoEndpoint)));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyFailure;

impl<Res, E> When<Res, E> for AnyFailure {
    #[inline]
    fn applies(&self, _: &Result<Res, E>, _: &Failure) -> bool {
        true
    }
}

impl<Res, E> When<Res, E> for FailureKind {
    #[inline]
    fn applies(&self, _: &Result<Res, E>, failure: &Failure) -> bool {
        failure.kind == *self
    }
}

impl<Res, E, const N: usize> When<Res, E> for [FailureKind; N] {
    #[inline]
    fn applies(&self, _: &Result<Res, E>, failure: &Failure) -> bool {
        self.contains(&failure.kind)
    }
}

impl<Res, E, F> When<Res, E> for F
where
    F: Fn(&Result<Res, E>) -> bool + Clone + Send + Sync + 'static,
{
    #[inline]
    fn applies(&self, result: &Result<Res, E>, _: &Failure) -> bool {
        self(result)
    }
}

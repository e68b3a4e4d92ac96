//! The four ways a fallback produces its answer, one type each.
//!
//! Only [`Backup`] needs a copy of the request, so only it asks [`Replay`] for one; the others
//! keep nothing of the request and cost a success nothing.

use std::fmt;
use std::future::{ready, Future, Ready};
use std::sync::{Mutex, PoisonError};

use bulwark_policy::{BoxError, CloneReplay, EventKind, Failure, Replay};
use tower_service::Service;

use crate::future::{BackupFuture, FnFuture};

mod sealed {
    #[allow(unreachable_pub)]
    pub trait Sealed {}
}

/// How a [`Fallback`](crate::Fallback) answers in place of its service; implemented by
/// [`Value`], [`FromError`], [`FromFn`] and [`Backup`], and sealed.
///
/// Its associated types show in the service's signature: [`Error`](Self::Error) is the
/// service's error type, and [`Kept`](Self::Kept) what each response future holds of its
/// request until the result is known.
///
/// ```
/// use bulwark_fallback::{Strategy, Value};
///
/// // A value cannot fail, so the service keeps its own error type.
/// fn keeps_its_error<S: Strategy<String, u16, std::io::Error, Error = std::io::Error>>(_: &S) {}
/// keeps_its_error(&Value::new(0u16));
/// ```
pub trait Strategy<Req, Res, E>: sealed::Sealed {
    /// What a response future keeps of its request: `()`, or a copy for a backup service.
    type Kept;
    /// The error of the service: `E` when the fallback cannot fail, else [`BoxError`].
    type Error;
    /// The future of the fallback's answer.
    type Future: Future<Output = Result<Res, Self::Error>>;

    /// Splits `req` into what is sent to the service and what is kept for the fallback;
    /// nothing is kept if the request cannot be replayed.
    #[doc(hidden)]
    fn keep(&self, req: Req) -> (Req, Option<Self::Kept>);

    /// Reported when [`start`](Self::start) declines because the kept request cannot be
    /// replayed after all.
    #[doc(hidden)]
    const DECLINED: Option<EventKind> = None;

    /// The service's error for a primary error that passes through.
    #[doc(hidden)]
    fn pass(err: E) -> Self::Error;

    /// Starts the fallback for `result`, which failed as `reason`; `Err` hands `result` back
    /// when this fallback cannot answer it.
    #[doc(hidden)]
    #[allow(clippy::type_complexity)]
    fn start(
        &self,
        result: Result<Res, E>,
        kept: Self::Kept,
        reason: Failure,
    ) -> Result<Self::Future, Result<Res, E>>;
}

/// Answers with a clone of a fixed response: [`FallbackLayer::value`](crate::FallbackLayer::value).
///
/// ```
/// use bulwark_fallback::Value;
///
/// let value = Value::new("maintenance page");
/// assert_eq!(value.get_ref(), &"maintenance page");
/// ```
#[derive(Debug, Clone)]
pub struct Value<T>(T);

impl<T> Value<T> {
    /// Answers with clones of `value`.
    ///
    /// ```
    /// let v = bulwark_fallback::Value::new(0u8);
    /// assert_eq!(*v.get_ref(), 0);
    /// ```
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The response it answers with.
    ///
    /// ```
    /// assert_eq!(bulwark_fallback::Value::new(7).get_ref(), &7);
    /// ```
    pub fn get_ref(&self) -> &T {
        &self.0
    }
}

impl<T> sealed::Sealed for Value<T> {}

impl<Req, Res: Clone, E> Strategy<Req, Res, E> for Value<Res> {
    type Kept = ();
    type Error = E;
    type Future = Ready<Result<Res, E>>;

    #[inline]
    fn keep(&self, req: Req) -> (Req, Option<()>) {
        (req, Some(()))
    }

    #[inline]
    fn pass(err: E) -> E {
        err
    }

    fn start(&self, _: Result<Res, E>, _: (), _: Failure) -> Result<Self::Future, Result<Res, E>> {
        Ok(ready(Ok(self.0.clone())))
    }
}

/// Answers an error with a response made from it:
/// [`FallbackLayer::from_error`](crate::FallbackLayer::from_error).
///
/// A failure that is not an error (an `Ok` answer the classifier called a failure) has no error
/// to give, so it passes through untouched.
///
/// ```
/// use bulwark_fallback::FromError;
///
/// let from_error = FromError::new(|err: std::io::Error| err.to_string());
/// # let _ = from_error;
/// ```
#[derive(Clone)]
pub struct FromError<F>(F);

impl<F> FromError<F> {
    /// Answers an error `e` with `f(e)`.
    ///
    /// ```
    /// let f = bulwark_fallback::FromError::new(|_: std::fmt::Error| 0u8);
    /// # let _ = f;
    /// ```
    pub fn new(f: F) -> Self {
        Self(f)
    }
}

impl<F> fmt::Debug for FromError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FromError")
    }
}

impl<F> sealed::Sealed for FromError<F> {}

impl<Req, Res, E, F> Strategy<Req, Res, E> for FromError<F>
where
    F: Fn(E) -> Res,
{
    type Kept = ();
    type Error = E;
    type Future = Ready<Result<Res, E>>;

    #[inline]
    fn keep(&self, req: Req) -> (Req, Option<()>) {
        (req, Some(()))
    }

    #[inline]
    fn pass(err: E) -> E {
        err
    }

    fn start(
        &self,
        result: Result<Res, E>,
        _: (),
        _: Failure,
    ) -> Result<Self::Future, Result<Res, E>> {
        match result {
            Err(e) => Ok(ready(Ok((self.0)(e)))),
            ok => Err(ok),
        }
    }
}

/// Answers with the output of an async function of the failed result, which may fail:
/// [`FallbackLayer::from_fn`](crate::FallbackLayer::from_fn).
///
/// ```
/// use bulwark_fallback::FromFn;
/// use bulwark_policy::BoxError;
///
/// let from_fn = FromFn::new(|_: Result<u16, BoxError>| async { Ok::<_, BoxError>(200u16) });
/// # let _ = from_fn;
/// ```
#[derive(Clone)]
pub struct FromFn<F>(F);

impl<F> FromFn<F> {
    /// Answers a failed `result` with `f(result).await`.
    ///
    /// ```
    /// let f = bulwark_fallback::FromFn::new(|_: Result<u8, ()>| std::future::ready(Ok::<u8, ()>(0)));
    /// # let _ = f;
    /// ```
    pub fn new(f: F) -> Self {
        Self(f)
    }
}

impl<F> fmt::Debug for FromFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FromFn")
    }
}

impl<F> sealed::Sealed for FromFn<F> {}

impl<Req, Res, E, F, Fut, FE> Strategy<Req, Res, E> for FromFn<F>
where
    F: Fn(Result<Res, E>) -> Fut,
    Fut: Future<Output = Result<Res, FE>>,
    FE: Into<BoxError>,
    E: Into<BoxError>,
{
    type Kept = ();
    type Error = BoxError;
    type Future = FnFuture<Fut>;

    #[inline]
    fn keep(&self, req: Req) -> (Req, Option<()>) {
        (req, Some(()))
    }

    #[inline]
    fn pass(err: E) -> BoxError {
        err.into()
    }

    fn start(
        &self,
        result: Result<Res, E>,
        _: (),
        reason: Failure,
    ) -> Result<Self::Future, Result<Res, E>> {
        Ok(FnFuture::new((self.0)(result), reason))
    }
}

/// Forwards the same request to a standby service:
/// [`FallbackLayer::service`](crate::FallbackLayer::service).
///
/// Each request is copied through `R` (by default [`CloneReplay`]) before it is sent. The
/// backup itself is touched only when the fallback fires: a fresh clone is taken (under a lock
/// held just for the clone, so a backup need not be `Sync`), polled for readiness, and called.
///
/// ```
/// use bulwark_fallback::Backup;
///
/// let backup = Backup::new(tower::service_fn(|req: u32| async move { Ok::<_, std::io::Error>(req) }));
/// # let _ = backup;
/// ```
pub struct Backup<B, R = CloneReplay> {
    service: Mutex<B>,
    replay: R,
}

impl<B> Backup<B> {
    /// Forwards to clones of `service`, replaying requests by cloning them.
    ///
    /// ```
    /// let b = bulwark_fallback::Backup::new(tower::service_fn(|r: u8| async move { Ok::<u8, ()>(r) }));
    /// # let _ = b;
    /// ```
    pub fn new(service: B) -> Self {
        Self {
            service: Mutex::new(service),
            replay: CloneReplay,
        }
    }
}

impl<B, R> Backup<B, R> {
    /// The same backup, replaying requests through `replay`.
    ///
    /// ```
    /// use bulwark_fallback::Backup;
    /// use bulwark_policy::CloneReplay;
    ///
    /// let b = Backup::new(tower::service_fn(|r: u8| async move { Ok::<u8, ()>(r) })).with_replay(CloneReplay);
    /// # let _ = b;
    /// ```
    pub fn with_replay<R2>(self, replay: R2) -> Backup<B, R2> {
        Backup {
            service: self.service,
            replay,
        }
    }
}

impl<B: Clone, R: Clone> Clone for Backup<B, R> {
    fn clone(&self) -> Self {
        Self {
            service: Mutex::new(
                self.service
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone(),
            ),
            replay: self.replay.clone(),
        }
    }
}

impl<B, R: fmt::Debug> fmt::Debug for Backup<B, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backup")
            .field("replay", &self.replay)
            .finish_non_exhaustive()
    }
}

impl<B, R> sealed::Sealed for Backup<B, R> {}

impl<Req, Res, E, B, R> Strategy<Req, Res, E> for Backup<B, R>
where
    B: Service<Req, Response = Res> + Clone,
    B::Error: Into<BoxError>,
    R: Replay<Req>,
    E: Into<BoxError>,
{
    type Kept = Req;
    type Error = BoxError;
    type Future = BackupFuture<B, Req>;

    const DECLINED: Option<EventKind> = Some(EventKind::NotReplayable);

    /// A copy goes to the primary and the original is kept, so the backup's copy is made only
    /// when it is needed, from a request no attempt has consumed: a body that outgrew its
    /// replay buffer while the primary streamed it is then found unreplayable, not sent broken.
    #[inline]
    fn keep(&self, req: Req) -> (Req, Option<Req>) {
        match self.replay.replay(&req) {
            Some(copy) => (copy, Some(req)),
            None => (req, None),
        }
    }

    #[inline]
    fn pass(err: E) -> BoxError {
        err.into()
    }

    fn start(
        &self,
        result: Result<Res, E>,
        kept: Req,
        reason: Failure,
    ) -> Result<Self::Future, Result<Res, E>> {
        let Some(req) = self.replay.replay(&kept) else {
            return Err(result);
        };
        // A fresh clone starts unready; the future polls it for readiness before the call.
        let service = self
            .service
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Ok(BackupFuture::new(service, req, reason))
    }
}

//! The named futures of the fallback service.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bulwark_policy::{BoxError, Classify, Event, EventKind, Failure, Outcome};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::error::failed;
use crate::service::Shared;
use crate::{Strategy, When};

pin_project! {
    /// The future of a [`Fallback`](crate::Fallback) service: the primary's answer, or the
    /// fallback's when the primary failed.
    ///
    /// Dropping it drops whatever it holds at that point: the primary's call, the kept copy of
    /// the request, or the fallback's call and its clone of the backup.
    ///
    /// ```
    /// use bulwark_fallback::{FallbackLayer, ResponseFuture};
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut svc = FallbackLayer::value(0u8)
    ///     .layer(service_fn(|n: u8| async move { Ok::<u8, std::io::Error>(n) }));
    /// let fut = svc.ready().await.unwrap().call(5);
    /// assert_eq!(fut.await.unwrap(), 5);
    /// # }
    /// ```
    pub struct ResponseFuture<Req, S, F, C, W>
    where
        S: Service<Req>,
        F: Strategy<Req, S::Response, S::Error>,
    {
        #[pin]
        state: State<S::Future, F::Future, F::Kept>,
        shared: Arc<Shared<F, C, W>>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<P, B, K> {
        Primary {
            #[pin]
            fut: P,
            kept: Option<K>,
        },
        Fallback {
            #[pin]
            fut: B,
        },
    }
}

impl<Req, S, F, C, W> ResponseFuture<Req, S, F, C, W>
where
    S: Service<Req>,
    F: Strategy<Req, S::Response, S::Error>,
{
    pub(crate) fn new(fut: S::Future, kept: Option<F::Kept>, shared: Arc<Shared<F, C, W>>) -> Self {
        Self {
            state: State::Primary { fut, kept },
            shared,
        }
    }
}

impl<Req, S, F, C, W> Future for ResponseFuture<Req, S, F, C, W>
where
    S: Service<Req>,
    F: Strategy<Req, S::Response, S::Error>,
    C: Classify<S::Response, S::Error>,
    W: When<S::Response, S::Error>,
{
    type Output = Result<S::Response, F::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let fut = match this.state.as_mut().project() {
                StateProj::Primary { fut, kept } => {
                    let result = ready!(fut.poll(cx));
                    // Not replayable: the primary's answer is all there is.
                    let Some(kept) = kept.take() else {
                        return Poll::Ready(result.map_err(F::pass));
                    };
                    let shared = &**this.shared;
                    let reason = match shared.classify.classify(&result) {
                        Outcome::Failure(reason) if shared.when.applies(&result, &reason) => reason,
                        _ => return Poll::Ready(result.map_err(F::pass)),
                    };
                    match shared.strategy.start(result, kept, reason) {
                        Ok(fut) => {
                            shared.hook.emit(|| {
                                Event::new(&shared.name, EventKind::FallbackUsed { reason })
                            });
                            fut
                        }
                        Err(result) => {
                            if let Some(kind) = F::DECLINED {
                                shared.hook.emit(|| Event::new(&shared.name, kind));
                            }
                            return Poll::Ready(result.map_err(F::pass));
                        }
                    }
                }
                StateProj::Fallback { fut } => return fut.poll(cx),
            };
            this.state.set(State::Fallback { fut });
        }
    }
}

impl<Req, S, F, C, W> fmt::Debug for ResponseFuture<Req, S, F, C, W>
where
    S: Service<Req>,
    F: Strategy<Req, S::Response, S::Error>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Primary { .. } => "primary",
            State::Fallback { .. } => "fallback",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// The future of a [`FromFn`](crate::FromFn) fallback: the function's future, its error
    /// wrapped in [`FallbackFailed`](crate::FallbackFailed).
    ///
    /// ```
    /// use bulwark_fallback::{FallbackFailed, FallbackLayer};
    /// use bulwark_policy::BoxError;
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let svc = FallbackLayer::from_fn(|_: Result<u8, BoxError>| async { Err::<u8, _>("no cache") })
    ///     .layer(service_fn(|_: u8| async { Err::<u8, BoxError>("down".into()) }));
    /// let err = svc.oneshot(1).await.unwrap_err();
    /// assert!(err.is::<FallbackFailed>());
    /// # }
    /// ```
    pub struct FnFuture<Fut> {
        #[pin]
        fut: Fut,
        reason: Failure,
    }
}

impl<Fut> FnFuture<Fut> {
    pub(crate) fn new(fut: Fut, reason: Failure) -> Self {
        Self { fut, reason }
    }
}

impl<Fut, Res, FE> Future for FnFuture<Fut>
where
    Fut: Future<Output = Result<Res, FE>>,
    FE: Into<BoxError>,
{
    type Output = Result<Res, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let reason = *this.reason;
        this.fut.poll(cx).map_err(|e| failed(reason, e))
    }
}

impl<Fut> fmt::Debug for FnFuture<Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnFuture")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// The future of a [`Backup`](crate::Backup) fallback: waits for its clone of the backup
    /// to be ready, then for the backup's answer; the backup's errors, readiness errors
    /// included, are wrapped in [`FallbackFailed`](crate::FallbackFailed).
    ///
    /// ```
    /// use bulwark_fallback::FallbackLayer;
    /// use bulwark_policy::BoxError;
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let standby = service_fn(|n: u8| async move { Ok::<u8, BoxError>(n + 100) });
    /// let svc = FallbackLayer::service(standby)
    ///     .layer(service_fn(|_: u8| async { Err::<u8, BoxError>("down".into()) }));
    /// assert_eq!(svc.oneshot(1).await.unwrap(), 101);
    /// # }
    /// ```
    pub struct BackupFuture<B, Req>
    where
        B: Service<Req>,
    {
        #[pin]
        state: BackupState<B, Req, B::Future>,
        reason: Failure,
    }
}

pin_project! {
    #[project = BackupStateProj]
    enum BackupState<B, Req, F> {
        Readying {
            service: B,
            req: Option<Req>,
        },
        Calling {
            #[pin]
            fut: F,
        },
    }
}

impl<B, Req> BackupFuture<B, Req>
where
    B: Service<Req>,
{
    pub(crate) fn new(service: B, req: Req, reason: Failure) -> Self {
        Self {
            state: BackupState::Readying {
                service,
                req: Some(req),
            },
            reason,
        }
    }
}

impl<B, Req> Future for BackupFuture<B, Req>
where
    B: Service<Req>,
    B::Error: Into<BoxError>,
{
    type Output = Result<B::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let reason = *this.reason;
        loop {
            let fut = match this.state.as_mut().project() {
                BackupStateProj::Readying { service, req } => {
                    if let Err(e) = ready!(service.poll_ready(cx)) {
                        return Poll::Ready(Err(failed(reason, e)));
                    }
                    let req = req.take().expect("BackupFuture polled after completion");
                    service.call(req)
                }
                BackupStateProj::Calling { fut } => {
                    return fut.poll(cx).map_err(|e| failed(reason, e))
                }
            };
            this.state.set(BackupState::Calling { fut });
        }
    }
}

impl<B, Req> fmt::Debug for BackupFuture<B, Req>
where
    B: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            BackupState::Readying { .. } => "readying",
            BackupState::Calling { .. } => "calling",
        };
        f.debug_struct("BackupFuture")
            .field("state", &state)
            .field("reason", &self.reason)
            .finish()
    }
}

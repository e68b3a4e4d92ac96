//! [`Breaker`], the service a [`BreakerLayer`](crate::BreakerLayer) wraps around another.

pub(crate) mod keyed;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bulwark_policy::{BoxError, Classify};
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::handle::BreakerHandle;
use crate::state::{Admit, Engine, Refusal, Shared};

/// What `poll_ready` saw, for the next `call` to act on.
enum Admitted {
    /// The breaker let calls through in this state word (closed, or half-open with a probe
    /// permit free, or disabled), and the inner service was asked for readiness. Nothing is
    /// reserved: `call` sends the call at once only if the word is unchanged and closed, and
    /// otherwise asks the breaker again, taking a probe permit in half-open.
    Ready(u64),
    /// Fail-fast refusal. The inner service was not polled; `call` asks the breaker again, so
    /// the refusal it answers with is up to date.
    Reject,
}

/// A service guarded by a circuit breaker; made by [`BreakerLayer`](crate::BreakerLayer).
///
/// Its `poll_ready` asks the breaker first: while the breaker admits calls it is the inner
/// service's `poll_ready`; while it rejects, it is `Ready` without touching the inner service
/// (fail-fast, and `call` answers [`Rejected`](crate::Rejected)) or `Pending` until the breaker
/// half-opens (backpressure). It never fails for a policy reason. A clone starts unready and
/// shares the breaker.
///
/// `poll_ready` reserves nothing, not even a half-open probe permit: `call` makes the decision
/// that counts. It keeps the admission `poll_ready` saw if the breaker made no transition since
/// and is closed; otherwise it asks the breaker again, taking a probe permit in half-open, and
/// refuses the call with [`Rejected`](crate::Rejected) if the breaker now refuses — a breaker
/// that opened after `poll_ready`, or a permit another call took first. A refusal from
/// `poll_ready` is asked again too, as the crate docs describe.
///
/// # Panics
///
/// `call` panics unless `poll_ready` returned `Ready(Ok(()))` since the last `call`, as the
/// `Service` contract allows: the admission it decided is what `call` acts on.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use bulwark_breaker::{BreakerLayer, Rejected};
/// use tower::{service_fn, BoxError, Layer, ServiceExt};
///
/// let layer = BreakerLayer::builder().build().unwrap();
/// let svc = layer.layer(service_fn(|()| async { Ok::<_, BoxError>("hi") }));
/// layer.handle().force_open();
/// let err = svc.oneshot(()).await.unwrap_err();
/// assert!(err.is::<Rejected>());
/// # }
/// ```
pub struct Breaker<S, C> {
    inner: S,
    shared: Arc<Shared>,
    engine: Arc<Engine>,
    classify: C,
    admitted: Option<Admitted>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<S, C> Breaker<S, C> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>, classify: C) -> Self {
        let engine = shared.engine();
        Self {
            inner,
            shared,
            engine,
            classify,
            admitted: None,
            sleep: None,
        }
    }

    /// The handle of the breaker this service shares.
    ///
    /// ```
    /// # use tower::Layer;
    /// let layer = bulwark_breaker::BreakerLayer::builder().build().unwrap();
    /// let svc = layer.layer(tower::service_fn(|()| async { Ok::<_, tower::BoxError>(()) }));
    /// svc.handle().force_open();
    /// assert!(layer.handle().state().rejects());
    /// ```
    pub fn handle(&self) -> BreakerHandle {
        BreakerHandle::new(self.shared.clone())
    }

    /// The inner service.
    ///
    /// ```
    /// # use tower::Layer;
    /// let svc = bulwark_breaker::BreakerLayer::builder().build().unwrap().layer(7u8);
    /// assert_eq!(*svc.get_ref(), 7);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// # use tower::Layer;
    /// let mut svc = bulwark_breaker::BreakerLayer::builder().build().unwrap().layer(7u8);
    /// *svc.get_mut() += 1;
    /// assert_eq!(svc.into_inner(), 8);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    ///
    /// ```
    /// # use tower::Layer;
    /// let svc = bulwark_breaker::BreakerLayer::builder().build().unwrap().layer("inner");
    /// assert_eq!(svc.into_inner(), "inner");
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Waits in backpressure mode: returns `Ready` when the sleep to `until` has already
    /// elapsed and admission should be asked again.
    fn wait(&mut self, until: Option<Instant>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(until) = until else {
            return Poll::Pending;
        };
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
        if sleep.deadline() != until {
            sleep.as_mut().reset(until);
        }
        sleep.as_mut().poll(cx)
    }
}

impl<S: Clone, C: Clone> Clone for Breaker<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            engine: self.engine.clone(),
            classify: self.classify.clone(),
            admitted: None,
            sleep: None,
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for Breaker<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("inner", &self.inner)
            .field("breaker", &self.shared)
            .finish()
    }
}

impl<S, C, Req> Service<Req> for Breaker<S, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The hot path, closed: one read of the state word, here or in `call`.
        let admitted = match self.admitted {
            Some(Admitted::Ready(word)) => self.engine.is_current(word),
            Some(Admitted::Reject) => false,
            None => match self.engine.closed() {
                Some(word) if !self.engine.is_stale() => {
                    self.admitted = Some(Admitted::Ready(word));
                    true
                }
                _ => false,
            },
        };
        if admitted {
            return self.inner.poll_ready(cx).map_err(Into::into);
        }
        self.poll_ready_slow(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        if let Some(Admitted::Ready(word)) = self.admitted {
            if self.engine.still_closed(word) {
                self.admitted = None;
                let start = self.engine.started();
                let future = self.inner.call(req);
                // Made once the call is sent, so that the ticket goes straight into the future.
                let ticket = self.engine.ticket(word, start);
                return ResponseFuture::called(future, Some(ticket), self.classify.clone());
            }
        }
        self.call_slow(req)
    }
}

impl<S, C> Breaker<S, C> {
    /// `poll_ready` off the hot path: after a transition, and in every state but closed.
    #[inline(never)]
    fn poll_ready_slow<Req>(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>>
    where
        S: Service<Req>,
        S::Error: Into<BoxError>,
    {
        loop {
            match self.admitted {
                // A transition since the admission (the breaker opened while the inner service
                // was not ready) sends the caller back to the breaker, which may make it wait.
                Some(Admitted::Ready(word)) if self.engine.is_current(word) => {
                    return self.inner.poll_ready(cx).map_err(Into::into)
                }
                Some(Admitted::Reject) => return Poll::Ready(Ok(())),
                _ => self.admitted = None,
            }
            if self.engine.is_stale() {
                self.engine = self.shared.engine();
            }
            match self.engine.check(cx.waker()) {
                Ok(word) => self.admitted = Some(Admitted::Ready(word)),
                Err(Refusal { wait: None, .. }) => self.admitted = Some(Admitted::Reject),
                Err(Refusal {
                    wait: Some(until), ..
                }) => {
                    if self.wait(until, cx).is_pending() {
                        return Poll::Pending;
                    }
                }
            }
        }
    }

    /// `call` off the hot path: a call admitted in any state but closed, or after a
    /// transition, or refused by `poll_ready`.
    #[inline(never)]
    fn call_slow<Req>(&mut self, req: Req) -> ResponseFuture<S::Future, C>
    where
        S: Service<Req>,
        S::Error: Into<BoxError>,
        C: Clone,
    {
        let classify = self.classify.clone();
        let refused = match self.admitted.take() {
            Some(Admitted::Ready(_)) => false,
            Some(Admitted::Reject) => true,
            None => panic!("Breaker::call before poll_ready returned Ready"),
        };
        // Decided afresh: the word `poll_ready` saw may be out of date, and a probe permit is
        // taken only now.
        let mut admit = self.engine.admit(None);
        if refused && !matches!(admit, Admit::Reject(_)) {
            // The breaker let calls through again since `poll_ready` refused. The inner service
            // was not polled while the breaker refused, so it is asked once now, without
            // waiting; if it is not ready, the call is refused after all.
            let mut cx = Context::from_waker(Waker::noop());
            match self.inner.poll_ready(&mut cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return ResponseFuture::failed(e.into(), classify),
                // Dropping the admission gives a probe's permit back. The open period seen in
                // `poll_ready` is over, so the refusal names no wait.
                Poll::Pending => {
                    admit = Admit::Reject(Refusal {
                        retry_after: None,
                        wait: None,
                    })
                }
            }
        }
        respond(&self.engine, admit, || self.inner.call(req), classify)
    }
}

/// The response future of a call `engine` decided on: the call sent by `call`, with a ticket
/// where the breaker records its outcome, or refused with [`Rejected`](crate::Rejected).
#[inline]
fn respond<F, C>(
    engine: &Engine,
    admit: Admit,
    call: impl FnOnce() -> F,
    classify: C,
) -> ResponseFuture<F, C> {
    match admit {
        Admit::Closed(word) => {
            let start = engine.started();
            let future = call();
            ResponseFuture::called(future, Some(engine.ticket(word, start)), classify)
        }
        Admit::Probe(mut ticket) => {
            ticket.start();
            ResponseFuture::called(call(), Some(ticket), classify)
        }
        Admit::Untracked => ResponseFuture::called(call(), None, classify),
        // Refused, in every mode, as `call` cannot wait: this includes a half-open breaker whose
        // permits were all taken since `poll_ready`, refused with no wait to name.
        Admit::Reject(refusal) => reject(engine, refusal.retry_after, classify),
    }
}

fn reject<F, C>(
    engine: &Engine,
    retry_after: Option<Duration>,
    classify: C,
) -> ResponseFuture<F, C> {
    engine.state.emit_rejected(retry_after);
    ResponseFuture::rejected(retry_after, classify)
}

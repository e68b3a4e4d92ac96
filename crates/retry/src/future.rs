//! The response future: a state machine over attempts, backoff sleeps and readiness.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bulwark_policy::{
    Classify, CloneReplay, Deadline, DeadlineAccess, ErrorsAsFailures, EventKind,
    ExtensionsDeadline, Failure, Outcome, Replay, Rng,
};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use crate::layer::Shared;
use crate::{AnyRequest, RetryPredicate};

pin_project! {
    /// The future of a [`Retry`](crate::Retry) service's response.
    ///
    /// It owns a ready clone of the inner service, the original request (while it may still
    /// be replayed) and the copy for the next attempt. Dropping it at any point drops all of
    /// them and any pending sleep; the budget is drawn on only when a retry is decided, once
    /// per retry, so a dropped future never charges it twice.
    ///
    /// ```
    /// use bulwark_policy::IgnoreDeadline;
    /// use bulwark_retry::{ResponseFuture, RetryLayer};
    /// use tower::{service_fn, Layer, Service};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut svc = RetryLayer::builder()
    ///     .deadline(IgnoreDeadline)
    ///     .build()
    ///     .unwrap()
    ///     .layer(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n) }));
    /// std::future::poll_fn(|cx| svc.poll_ready(cx)).await.unwrap();
    /// let future: ResponseFuture<_, u32, _, _, _, _> = svc.call(5);
    /// assert_eq!(future.await.unwrap(), 5);
    /// # }
    /// ```
    pub struct ResponseFuture<
        S,
        Req,
        C = ErrorsAsFailures,
        D = ExtensionsDeadline,
        R = CloneReplay,
        P = AnyRequest,
    >
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S::Future, Req>,
        attempts: Attempts<S, Req, C, D, R, P>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, Req> {
        // An attempt is in flight.
        Calling {
            #[pin]
            future: F,
        },
        // A retry is planned: its delay is running out, or the service is not ready yet.
        Waiting {
            next: Option<Req>,
        },
    }
}

/// The bookkeeping that lives across attempts. What only a retried request needs is in
/// [`Progress`], boxed on the first retry, so that the success path moves as little as it can.
struct Attempts<S, Req, C, D, R, P> {
    service: S,
    shared: Arc<Shared<C, D, R, P>>,
    /// The request as the caller gave it, kept to replay; `None` once it cannot be retried.
    original: Option<Req>,
    /// The request's deadline, read once, when it was first sent.
    deadline: Option<Instant>,
    /// When the attempt in flight was sent; read only when there is a deadline.
    sent_at: Option<Instant>,
    progress: Option<Pin<Box<Progress>>>,
}

pin_project! {
    /// The state of a request's retries, made when its first retry is decided: one allocation
    /// however many retries follow.
    struct Progress {
        // Attempts sent so far.
        sent: u32,
        // The backoff's previous delay, which decorrelated jitter grows from.
        prev_delay: Duration,
        rng: Rng,
        // The delay before the next attempt, while it runs.
        #[pin]
        sleep: Option<Sleep>,
    }
}

impl<S, Req, C, D, R, P> ResponseFuture<S, Req, C, D, R, P>
where
    S: Service<Req>,
    D: DeadlineAccess<Req>,
    R: Replay<Req>,
    P: RetryPredicate<Req>,
{
    #[inline]
    pub(crate) fn new(mut service: S, shared: Arc<Shared<C, D, R, P>>, req: Req) -> Self {
        if let Some(budget) = &shared.settings.budget {
            budget.deposit();
        }
        let (send, original) =
            if shared.settings.max_attempts() > 1 && shared.predicate.may_retry(&req) {
                match shared.replay.replay(&req) {
                    Some(copy) => (copy, Some(req)),
                    None => {
                        shared.settings.emit(EventKind::NotReplayable);
                        (req, None)
                    }
                }
            } else {
                (req, None)
            };
        // Only a request that may be retried needs its deadline, or the clock.
        let deadline = original
            .as_ref()
            .and_then(|req| shared.deadline.get(req))
            .map(|d: Deadline| d.instant());
        let sent_at = deadline.map(|_| Instant::now());
        let future = service.call(send);
        Self {
            state: State::Calling { future },
            attempts: Attempts {
                service,
                shared,
                original,
                deadline,
                sent_at,
                progress: None,
            },
        }
    }
}

impl<S, Req, C, D, R, P> Attempts<S, Req, C, D, R, P> {
    /// Attempts sent so far.
    fn sent(&self) -> u32 {
        self.progress.as_ref().map_or(1, |p| p.sent)
    }

    fn sleeping(&self) -> bool {
        self.progress.as_ref().is_some_and(|p| p.sleep.is_some())
    }
}

impl<S, Req, C, D, R, P> Attempts<S, Req, C, D, R, P>
where
    R: Replay<Req>,
{
    /// Decides whether `result` is retried. If it is, the budget has paid for the retry, the
    /// delay has started, and the copy to send comes back.
    #[inline]
    fn plan_retry<Res, E>(&mut self, result: &Result<Res, E>) -> Option<Req>
    where
        C: Classify<Res, E>,
    {
        self.original.as_ref()?;
        match self.shared.classify.classify(result) {
            Outcome::Failure(failure) if failure.retryable => self.plan_failure(failure),
            _ => None,
        }
    }

    /// The retry path of [`plan_retry`](Self::plan_retry), kept out of the success path.
    #[cold]
    fn plan_failure(&mut self, failure: Failure) -> Option<Req> {
        let original = self.original.as_ref()?;
        let settings = &*self.shared.settings;
        let sent = self.sent();
        if sent >= settings.max_attempts() {
            settings.emit(EventKind::RetriesExhausted { attempts: sent });
            return None;
        }
        // The first retry's progress is boxed only once the retry goes ahead, so that a refused
        // retry allocates nothing; a refused retry ends the request, so what it drew from the
        // generator is not kept.
        let (prev_delay, mut rng) = match &self.progress {
            Some(progress) => (progress.prev_delay, progress.rng.clone()),
            None => (Duration::ZERO, settings.rng()),
        };
        let (computed, delay) = settings.with_backoff(|backoff| {
            let computed = backoff.delay(sent - 1, prev_delay, &mut rng);
            (
                computed,
                backoff.apply_retry_after(computed, failure.retry_after),
            )
        });
        if let Some(deadline) = self.deadline {
            // The attempt that just failed is the best estimate of how long the next will take.
            let now = Instant::now();
            let estimate = self
                .sent_at
                .map_or(Duration::ZERO, |at| now.saturating_duration_since(at));
            let remaining = deadline.saturating_duration_since(now);
            if delay.saturating_add(estimate) >= remaining {
                settings.emit(EventKind::DeadlineTooNear { remaining });
                return None;
            }
        }
        let Some(copy) = self.shared.replay.replay(original) else {
            settings.emit(EventKind::NotReplayable);
            self.original = None;
            return None;
        };
        if let Some(budget) = &settings.budget {
            if !budget.try_withdraw() {
                settings.emit(EventKind::BudgetExhausted { attempts: sent });
                return None;
            }
        }
        // The backoff's own delay, not a server's hint, is what decorrelated jitter grows from.
        let progress = Progress {
            sent: sent + 1,
            prev_delay: computed,
            rng,
            sleep: (!delay.is_zero()).then(|| tokio::time::sleep(delay)),
        };
        match &mut self.progress {
            Some(kept) => kept.set(progress),
            None => self.progress = Some(Box::pin(progress)),
        }
        settings.emit(EventKind::RetryAttempt {
            attempt: sent + 1,
            delay,
            reason: failure,
        });
        Some(copy)
    }

    /// Waits out the delay of the planned retry, if it has one.
    fn delay(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(progress) = &mut self.progress {
            let mut sleep = progress.as_mut().project().sleep;
            if let Some(running) = sleep.as_mut().as_pin_mut() {
                ready!(running.poll(cx));
                sleep.set(None);
            }
        }
        Poll::Ready(())
    }
}

impl<S, Req, C, D, R, P> Future for ResponseFuture<S, Req, C, D, R, P>
where
    S: Service<Req>,
    C: Classify<S::Response, S::Error>,
    R: Replay<Req>,
{
    type Output = Result<S::Response, S::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { future } => {
                    let result = ready!(future.poll(cx));
                    match this.attempts.plan_retry(&result) {
                        None => return Poll::Ready(result),
                        Some(next) => this.state.set(State::Waiting { next: Some(next) }),
                    }
                }
                StateProj::Waiting { next } => {
                    let attempts = &mut *this.attempts;
                    ready!(attempts.delay(cx));
                    ready!(attempts.service.poll_ready(cx))?;
                    let Some(req) = next.take() else {
                        unreachable!("a retry is planned together with its request")
                    };
                    if attempts.deadline.is_some() {
                        attempts.sent_at = Some(Instant::now());
                    }
                    let future = attempts.service.call(req);
                    this.state.set(State::Calling { future });
                }
            }
        }
    }
}

impl<S, Req, C, D, R, P> fmt::Debug for ResponseFuture<S, Req, C, D, R, P>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Calling { .. } => "calling",
            State::Waiting { .. } if self.attempts.sleeping() => "sleeping",
            State::Waiting { .. } => "checking",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .field("attempts_sent", &self.attempts.sent())
            .field("name", &self.attempts.shared.settings.name)
            .finish()
    }
}

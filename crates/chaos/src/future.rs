//! The response future of [`Chaos`](crate::Chaos).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{sleep, Sleep};
use tower_service::Service;

pin_project! {
    /// The response future of [`Chaos`](crate::Chaos): the inner service's answer, or an
    /// injected one, perhaps after an injected delay.
    ///
    /// Dropping it releases everything it holds: during a delay, the request and the ready
    /// clone of the inner service, which was never called.
    ///
    /// ```
    /// use bulwark_chaos::{ChaosLayer, ResponseFuture};
    /// use tower::{service_fn, Layer, Service};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut svc = ChaosLayer::builder()
    ///     .build()
    ///     .unwrap()
    ///     .layer(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n + 1) }));
    /// let fut: ResponseFuture<_, u32, _> = svc.call(1);
    /// assert_eq!(fut.await.unwrap(), 2);
    /// # }
    /// ```
    pub struct ResponseFuture<S, Req, E>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S, Req, S::Future, S::Response, E>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, Req, F, Res, E> {
        // An injected delay; what follows it is taken out when it ends.
        Delaying {
            #[pin]
            sleep: Sleep,
            next: Option<Next<S, Req, Res, E>>,
        },
        // The inner service was called.
        Calling {
            #[pin]
            future: F,
        },
        // An injected answer, ready at once; taken out when returned.
        Injected {
            answer: Option<Result<Res, E>>,
        },
    }
}

/// What a call does once any delay is over.
pub(crate) enum Next<S, Req, Res, E> {
    /// Call this ready service with the request.
    Call { service: S, request: Req },
    /// Give this answer without calling the inner service.
    Answer(Result<Res, E>),
}

impl<S, Req, E> ResponseFuture<S, Req, E>
where
    S: Service<Req>,
{
    pub(crate) fn calling(future: S::Future) -> Self {
        Self {
            state: State::Calling { future },
        }
    }

    pub(crate) fn injected(answer: Result<S::Response, E>) -> Self {
        Self {
            state: State::Injected {
                answer: Some(answer),
            },
        }
    }

    pub(crate) fn delayed(delay: Duration, next: Next<S, Req, S::Response, E>) -> Self {
        Self {
            state: State::Delaying {
                sleep: sleep(delay),
                next: Some(next),
            },
        }
    }
}

impl<S, Req, E> Future for ResponseFuture<S, Req, E>
where
    S: Service<Req>,
    S::Error: Into<E>,
{
    type Output = Result<S::Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Calling { future } => return future.poll(cx).map_err(Into::into),
                StateProj::Injected { answer } => {
                    return Poll::Ready(answer.take().expect("polled after completion"))
                }
                StateProj::Delaying { sleep, next } => {
                    ready!(sleep.poll(cx));
                    match next.take().expect("polled after completion") {
                        // The service clone is dropped once called, releasing what it held.
                        Next::Call {
                            mut service,
                            request,
                        } => state.set(State::Calling {
                            future: service.call(request),
                        }),
                        Next::Answer(answer) => return Poll::Ready(answer),
                    }
                }
            }
        }
    }
}

impl<S, Req, E> fmt::Debug for ResponseFuture<S, Req, E>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Delaying { .. } => "delaying",
            State::Calling { .. } => "calling",
            State::Injected { .. } => "injected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

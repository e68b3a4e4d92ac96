//! [`ResponseFuture`], the future of every breaker service.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bulwark_policy::{BoxError, Classify, Rejected};
use pin_project_lite::pin_project;

use crate::state::Ticket;

pin_project! {
    /// The response future of [`Breaker`](crate::Breaker) and
    /// [`KeyedBreaker`](crate::KeyedBreaker).
    ///
    /// It records the call's outcome when the inner future finishes. Dropped before that, the
    /// call counts as cancelled: nothing is recorded, and a half-open probe's permit is given
    /// back.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use bulwark_breaker::{BreakerLayer, ResponseFuture};
    /// use tower::{service_fn, BoxError, Layer, Service, ServiceExt};
    ///
    /// let mut svc = BreakerLayer::builder().build().unwrap().layer(service_fn(|()| async { Ok::<_, BoxError>(1) }));
    /// let fut: ResponseFuture<_, _> = svc.ready().await.unwrap().call(());
    /// assert_eq!(fut.await.unwrap(), 1);
    /// # }
    /// ```
    pub struct ResponseFuture<F, C> {
        #[pin]
        kind: Kind<F>,
        ticket: Option<Ticket>,
        classify: C,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Called { #[pin] future: F },
        Rejected { retry_after: Option<Duration> },
        Failed { error: Option<BoxError> },
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn called(future: F, ticket: Option<Ticket>, classify: C) -> Self {
        Self {
            kind: Kind::Called { future },
            ticket,
            classify,
        }
    }

    pub(crate) fn rejected(retry_after: Option<Duration>, classify: C) -> Self {
        Self {
            kind: Kind::Rejected { retry_after },
            ticket: None,
            classify,
        }
    }

    /// The inner service failed when asked for readiness in `call`.
    pub(crate) fn failed(error: BoxError, classify: C) -> Self {
        Self {
            kind: Kind::Failed { error: Some(error) },
            ticket: None,
            classify,
        }
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    C: Classify<T, E>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.kind.project() {
            KindProj::Called { future } => {
                let result = ready!(future.poll(cx));
                if let Some(ticket) = this.ticket {
                    ticket.finish(this.classify.classify(&result));
                }
                Poll::Ready(result.map_err(Into::into))
            }
            KindProj::Rejected { retry_after } => {
                Poll::Ready(Err(Rejected::new(*retry_after).into()))
            }
            KindProj::Failed { error } => Poll::Ready(Err(error
                .take()
                .expect("a ResponseFuture polled after it finished"))),
        }
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("ticket", &self.ticket)
            .finish_non_exhaustive()
    }
}

//! The response future of [`Timeout`](crate::Timeout).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bulwark_policy::{Deadline, Event, EventKind};
use pin_project_lite::pin_project;
use tokio::time::{sleep_until, Instant, Sleep};

use crate::error::{BoxError, Elapsed};
use crate::layer::Report;

pin_project! {
    /// The response future of [`Timeout`](crate::Timeout): the inner service's answer, or
    /// [`Elapsed`] once the deadline passes.
    ///
    /// It polls the inner future first, so an answer ready when the deadline passes is
    /// returned, and it creates its timer only when the inner future first returns `Pending`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_timeout::{ResponseFuture, TimeoutLayer};
    /// use bulwark_policy::IgnoreDeadline;
    /// use tower::{service_fn, Layer, Service};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let inner = service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n + 1) });
    /// let layer = TimeoutLayer::new(Duration::from_secs(1)).deadline(IgnoreDeadline);
    /// let mut svc = layer.layer(inner);
    /// let fut: ResponseFuture<_> = svc.call(1);
    /// assert_eq!(fut.await.unwrap(), 2);
    /// # }
    /// ```
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
        report: Option<Arc<Report>>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        // The inner service was called.
        Running {
            #[pin]
            future: F,
            #[pin]
            timer: Timer,
        },
        // The deadline had passed at the call, so the inner service was not called.
        Expired,
    }
}

pin_project! {
    // No `Sleep` exists until the inner future first returns `Pending`: creating one touches
    // the runtime's handle, and an answer that is ready at once never needs it.
    #[project = TimerProj]
    enum Timer {
        // The timeout starts at the first `Pending`, when the clock is first read.
        Relative { timeout: Duration },
        // The deadline was fixed in `call`, made at `called`.
        Absolute { deadline: Instant, called: Instant },
        Armed {
            #[pin]
            sleep: Sleep,
            after: Duration,
        },
    }
}

impl<F> ResponseFuture<F> {
    #[inline]
    pub(crate) fn relative(future: F, timeout: Duration, report: Option<Arc<Report>>) -> Self {
        let timer = Timer::Relative { timeout };
        Self {
            state: State::Running { future, timer },
            report,
        }
    }

    #[inline]
    pub(crate) fn absolute(
        future: F,
        deadline: Instant,
        called: Instant,
        report: Option<Arc<Report>>,
    ) -> Self {
        let timer = Timer::Absolute { deadline, called };
        Self {
            state: State::Running { future, timer },
            report,
        }
    }

    #[inline]
    pub(crate) fn expired(report: Option<Arc<Report>>) -> Self {
        Self {
            state: State::Expired,
            report,
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let (future, mut timer) = match this.state.project() {
            StateProj::Running { future, timer } => (future, timer),
            StateProj::Expired => return Poll::Ready(Err(elapsed(this.report, Duration::ZERO))),
        };
        if let Poll::Ready(result) = future.poll(cx) {
            return Poll::Ready(result.map_err(Into::into));
        }
        loop {
            let (deadline, after) = match timer.as_mut().project() {
                TimerProj::Armed { sleep, after } => {
                    ready!(sleep.poll(cx));
                    return Poll::Ready(Err(elapsed(this.report, *after)));
                }
                TimerProj::Relative { timeout } => (
                    Deadline::from_now(Instant::now(), *timeout).instant(),
                    *timeout,
                ),
                TimerProj::Absolute { deadline, called } => {
                    (*deadline, deadline.saturating_duration_since(*called))
                }
            };
            timer.set(Timer::Armed {
                sleep: sleep_until(deadline),
                after,
            });
        }
    }
}

fn elapsed(report: &Option<Arc<Report>>, after: Duration) -> BoxError {
    if let Some(report) = report {
        report
            .hook
            .emit(|| Event::new(&report.name, EventKind::TimeoutElapsed { after }));
    }
    // `Elapsed` has no size, so boxing it does not allocate.
    Elapsed::new().into()
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Running {
                timer: Timer::Armed { .. },
                ..
            } => "armed",
            State::Running { .. } => "running",
            State::Expired => "expired",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

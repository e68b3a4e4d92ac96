//! The response future of `ErrorResponse`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bulwark_policy::BoxError;
use pin_project_lite::pin_project;

use super::ErrorResponseLayer;

pin_project! {
    /// The future of [`ErrorResponse`](crate::ErrorResponse): the inner answer, or the
    /// response for its error.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use bulwark_http::response::ResponseFuture;
    ///
    /// fn is_infallible<F, B>(_: &ResponseFuture<F, B>)
    /// where
    ///     ResponseFuture<F, B>: std::future::Future<Output = Result<http::Response<B>, Infallible>>,
    /// {}
    /// ```
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
        layer: ErrorResponseLayer,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        // Waiting for the inner service.
        Calling { #[pin] future: F },
        // The inner service failed before the call; the response is ready.
        Ready { response: Option<http::Response<B>> },
    }
}

impl<F, B> ResponseFuture<F, B> {
    pub(crate) fn calling(future: F, layer: ErrorResponseLayer) -> Self {
        Self {
            state: State::Calling { future },
            layer,
        }
    }

    pub(crate) fn ready(response: http::Response<B>, layer: ErrorResponseLayer) -> Self {
        Self {
            state: State::Ready {
                response: Some(response),
            },
            layer,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    E: Into<BoxError>,
    B: Default,
{
    type Output = Result<http::Response<B>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.state.project() {
            StateProj::Calling { future } => Poll::Ready(Ok(match ready!(future.poll(cx)) {
                Ok(res) => res,
                Err(err) => this.layer.response_for(&err.into()),
            })),
            StateProj::Ready { response } => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
        }
    }
}

impl<F, B> std::fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

//! `ReplayBody`: a request body that keeps what it streams, so it can be sent again.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bulwark_policy::BoxError;
use bytes::{Buf, Bytes};
use http::header::CONTENT_LENGTH;
use http_body::{Body, Frame, SizeHint};

use super::error::NotReplayable;
use super::shared::Shared;

/// How many body bytes are kept for replay unless told otherwise: 64 KiB.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024;

/// The largest data frame a replaying copy yields at once.
const REPLAY_CHUNK: usize = 64 * 1024;

/// A request body that can be sent more than once: it keeps a copy of what it streams, up to a
/// byte cap.
///
/// Wrap a request's body in it (with [`ReplayBodyLayer`](crate::ReplayBodyLayer) or
/// [`ReplayBody::wrap_request`]) and replay the request with [`HttpReplay`](crate::HttpReplay),
/// so that retry and fallback can send an `http::Request<Incoming>`, an axum `Body` or a tonic
/// `Body` again. See the [module docs](crate#replaying-request-bodies) for the rules.
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::{BodyExt, Full};
/// use bulwark_http::ReplayBody;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let first = ReplayBody::new(Full::new(Bytes::from_static(b"hello")));
/// let second = first.replay().unwrap();
///
/// assert_eq!(first.collect().await.unwrap().to_bytes(), "hello");
/// assert_eq!(second.collect().await.unwrap().to_bytes(), "hello");
/// # }
/// ```
pub struct ReplayBody<B> {
    shared: Arc<Shared<B>>,
    id: u64,
    /// Data bytes this copy has yielded.
    sent: u64,
    /// Whether this copy has yielded the trailers.
    sent_trailers: bool,
}

impl<B: Body> ReplayBody<B> {
    /// Wraps `body`, keeping up to [`DEFAULT_MAX_BYTES`] for replay.
    ///
    /// ```
    /// use http_body_util::Empty;
    /// let body = bulwark_http::ReplayBody::new(Empty::<bytes::Bytes>::new());
    /// assert!(body.is_replayable());
    /// ```
    pub fn new(body: B) -> Self {
        Self::with_max_bytes(body, DEFAULT_MAX_BYTES)
    }

    /// Wraps `body`, keeping up to `max_bytes` for replay. A body whose size hint already says
    /// it is larger is never kept, and cannot be replayed.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http_body_util::Full;
    /// use bulwark_http::ReplayBody;
    ///
    /// let small = ReplayBody::with_max_bytes(Full::new(Bytes::from_static(b"1234")), 4);
    /// assert!(small.is_replayable());
    /// let large = ReplayBody::with_max_bytes(Full::new(Bytes::from_static(b"12345")), 4);
    /// assert!(!large.is_replayable());
    /// ```
    pub fn with_max_bytes(body: B, max_bytes: usize) -> Self {
        let expected = body.size_hint().lower();
        Self::from_shared(Shared::new(body, max_bytes, expected))
    }

    /// Wraps the body of `req`, keeping up to `max_bytes` for replay. A `Content-Length` over
    /// the cap decides at once that it will not be kept.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http_body_util::Full;
    /// use bulwark_http::ReplayBody;
    ///
    /// let req = http::Request::post("/upload")
    ///     .header("content-length", "1000000")
    ///     .body(Full::new(Bytes::new()))
    ///     .unwrap();
    /// let req = ReplayBody::wrap_request(req, 64 * 1024);
    /// assert!(!req.body().is_replayable());
    /// ```
    pub fn wrap_request(req: http::Request<B>, max_bytes: usize) -> http::Request<Self> {
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        req.map(|body| {
            let expected = body.size_hint().lower().max(declared.unwrap_or(0));
            Self::from_shared(Shared::new(body, max_bytes, expected))
        })
    }
}

impl<B> ReplayBody<B> {
    fn from_shared(shared: Shared<B>) -> Self {
        Self {
            shared: Arc::new(shared),
            id: 0,
            sent: 0,
            sent_trailers: false,
        }
    }

    /// A copy that will stream the whole body from its start, or `None` if the body cannot be
    /// replayed: it is over the cap, failed, or was streamed with no copy to keep it for.
    ///
    /// A copy may be made before the body has been sent, or while it is being sent; see the
    /// [module docs](crate#replaying-request-bodies).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http_body_util::Full;
    /// use bulwark_http::ReplayBody;
    ///
    /// let body = ReplayBody::with_max_bytes(Full::new(Bytes::from_static(b"12345")), 4);
    /// assert!(body.replay().is_none());
    /// ```
    pub fn replay(&self) -> Option<Self> {
        let mut state = self.shared.lock();
        if !state.keeping || state.failed {
            return None;
        }
        state.copies += 1;
        let id = state.next_id;
        state.next_id += 1;
        Some(Self {
            shared: self.shared.clone(),
            id,
            sent: 0,
            sent_trailers: false,
        })
    }

    /// Whether [`replay`](Self::replay) would give a copy.
    ///
    /// ```
    /// use http_body_util::Empty;
    /// assert!(bulwark_http::ReplayBody::new(Empty::<bytes::Bytes>::new()).is_replayable());
    /// ```
    pub fn is_replayable(&self) -> bool {
        let state = self.shared.lock();
        state.keeping && !state.failed
    }

    /// How many bytes of memory are held for replay right now (the buffer's capacity and the
    /// trailers); never more than [`max_bytes`](Self::max_bytes).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http_body_util::{BodyExt, Full};
    /// use bulwark_http::ReplayBody;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let first = ReplayBody::new(Full::new(Bytes::from_static(b"abc")));
    /// let second = first.replay().unwrap();
    /// assert_eq!(first.buffered_bytes(), 0);
    /// first.collect().await.unwrap();
    /// assert_eq!(second.buffered_bytes(), 3);
    /// # }
    /// ```
    pub fn buffered_bytes(&self) -> usize {
        self.shared.lock().held_bytes()
    }

    /// The most this body keeps for replay.
    ///
    /// ```
    /// use http_body_util::Empty;
    /// let body = bulwark_http::ReplayBody::with_max_bytes(Empty::<bytes::Bytes>::new(), 10);
    /// assert_eq!(body.max_bytes(), 10);
    /// ```
    pub fn max_bytes(&self) -> usize {
        self.shared.max_bytes
    }
}

impl<B> Body for ReplayBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let shared = &*this.shared;
        let mut state = shared.lock();

        // Behind the frontier: replay from the record, if it still holds what we need.
        if this.sent < state.yielded_bytes || (state.yielded_trailers && !this.sent_trailers) {
            if !state.keeping {
                return Poll::Ready(Some(Err(NotReplayable::new().into())));
            }
            if this.sent < state.yielded_bytes {
                let start = this.sent as usize;
                let end = state.data.len().min(start + REPLAY_CHUNK);
                this.sent = end as u64;
                let chunk = Bytes::copy_from_slice(&state.data[start..end]);
                return Poll::Ready(Some(Ok(Frame::data(chunk))));
            }
            this.sent_trailers = true;
            let trailers = state.trailers.clone().unwrap_or_default();
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }

        if state.failed {
            return Poll::Ready(Some(Err(NotReplayable::new().into())));
        }
        let Some(body) = state.body.as_mut() else {
            return Poll::Ready(None);
        };

        // Register before polling, so a wake that comes in between is not lost.
        shared.waiters.register(this.id, cx.waker());
        let waker = Waker::from(shared.waiters.clone());
        let polled = body.as_mut().poll_frame(&mut Context::from_waker(&waker));
        let result = match polled {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => {
                state.body = None;
                None
            }
            Poll::Ready(Some(Err(err))) => {
                state.failed = true;
                state.body = None;
                state.stop_keeping();
                Some(Err(err.into()))
            }
            Poll::Ready(Some(Ok(frame))) => {
                // With no other copy alive, nobody can ask for one any more: keep nothing.
                if state.keeping && state.copies < 2 {
                    state.stop_keeping();
                }
                match frame.into_data() {
                    Ok(mut data) => {
                        let data = data.copy_to_bytes(data.remaining());
                        state.yielded_bytes += data.len() as u64;
                        this.sent += data.len() as u64;
                        if state.keeping {
                            state.keep_data(&data, shared.max_bytes);
                        }
                        Some(Ok(Frame::data(data)))
                    }
                    Err(frame) => match frame.into_trailers() {
                        Ok(trailers) => {
                            state.yielded_trailers = true;
                            this.sent_trailers = true;
                            if state.keeping {
                                state.keep_trailers(&trailers, shared.max_bytes);
                            }
                            Some(Ok(Frame::trailers(trailers)))
                        }
                        // A kind of frame this crate does not know cannot be replayed.
                        Err(_) => {
                            state.stop_keeping();
                            Some(Err(NotReplayable::new().into()))
                        }
                    },
                }
            }
        };
        drop(state);
        shared.waiters.remove(this.id);
        // Copies waiting at the frontier can now read this frame from the record (or learn
        // that it was not kept).
        shared.waiters.wake_all();
        Poll::Ready(result)
    }

    fn is_end_stream(&self) -> bool {
        let state = self.shared.lock();
        if self.sent < state.yielded_bytes || (state.yielded_trailers && !self.sent_trailers) {
            return false;
        }
        match &state.body {
            Some(body) => body.is_end_stream(),
            None => !state.failed,
        }
    }

    fn size_hint(&self) -> SizeHint {
        let state = self.shared.lock();
        let ahead = state.yielded_bytes.saturating_sub(self.sent);
        let rest = state
            .body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |body| body.size_hint());
        let mut hint = SizeHint::new();
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper.saturating_add(ahead));
        }
        hint.set_lower(rest.lower().saturating_add(ahead));
        hint
    }
}

impl<B> Drop for ReplayBody<B> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.copies -= 1;
        if state.copies == 0 {
            state.body = None;
            state.stop_keeping();
        }
        drop(state);
        self.shared.waiters.remove(self.id);
    }
}

impl<B> fmt::Debug for ReplayBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("ReplayBody")
            .field("max_bytes", &self.shared.max_bytes)
            .field("buffered_bytes", &state.held_bytes())
            .field("replayable", &(state.keeping && !state.failed))
            .field("copies", &state.copies)
            .field("sent", &self.sent)
            .finish()
    }
}

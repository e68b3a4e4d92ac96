//! What the copies of one request body share: the body itself, the bytes kept for replay,
//! and the tasks waiting for the body's next frame.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Wake, Waker};

use bytes::Bytes;
use http::HeaderMap;
use http_body::Frame;

/// One request body and its copies' common record of it.
///
/// A `Mutex` guards it. The lock is per request, never global; it is held only to take a
/// frame from the body or the record, and is contended only when two copies of the same
/// request are polled at once.
pub(crate) struct Shared<B> {
    pub(crate) max_bytes: usize,
    pub(crate) state: Mutex<State<B>>,
    /// Passed to the body as its waker, so that every copy waiting at the frontier is woken,
    /// not only the last one to poll it.
    pub(crate) waiters: Arc<Waiters>,
}

impl<B> Shared<B> {
    pub(crate) fn new(body: B, max_bytes: usize, keep: bool) -> Self {
        Self {
            max_bytes,
            state: Mutex::new(State {
                body: Some(Box::pin(body)),
                frames: Vec::new(),
                yielded: 0,
                yielded_bytes: 0,
                kept_bytes: 0,
                keeping: keep,
                ended: false,
                failed: false,
                copies: 1,
                next_id: 1,
            }),
            waiters: Arc::new(Waiters::default()),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State<B>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) struct State<B> {
    /// The body, until it ends, fails, or the last copy is dropped.
    pub(crate) body: Option<Pin<Box<B>>>,
    /// Every frame the body has yielded, while `keeping`.
    pub(crate) frames: Vec<Kept>,
    /// How many frames the body has yielded, kept or not.
    pub(crate) yielded: usize,
    /// How many data bytes the body has yielded, kept or not.
    pub(crate) yielded_bytes: u64,
    /// The bytes held in `frames`; never more than `max_bytes`.
    pub(crate) kept_bytes: usize,
    /// Whether `frames` still holds everything the body has yielded. Once false, it stays
    /// false: no new copy can be made, and a copy that falls behind cannot catch up.
    pub(crate) keeping: bool,
    pub(crate) ended: bool,
    pub(crate) failed: bool,
    /// Live copies, the one being sent included.
    pub(crate) copies: usize,
    pub(crate) next_id: u64,
}

impl<B> State<B> {
    /// Frees the record: from now on, only the copy at the frontier can go on.
    pub(crate) fn stop_keeping(&mut self) {
        self.keeping = false;
        self.frames = Vec::new();
        self.kept_bytes = 0;
    }
}

/// A frame as the record keeps it.
pub(crate) enum Kept {
    Data(Bytes),
    Trailers(HeaderMap),
}

impl Kept {
    pub(crate) fn to_frame(&self) -> Frame<Bytes> {
        match self {
            Kept::Data(bytes) => Frame::data(bytes.clone()),
            Kept::Trailers(map) => Frame::trailers(map.clone()),
        }
    }

    pub(crate) fn into_frame(self) -> Frame<Bytes> {
        match self {
            Kept::Data(bytes) => Frame::data(bytes),
            Kept::Trailers(map) => Frame::trailers(map),
        }
    }

    /// What a frame costs against the cap; trailers count their names and values.
    pub(crate) fn size(&self) -> usize {
        match self {
            Kept::Data(bytes) => bytes.len(),
            Kept::Trailers(map) => map
                .iter()
                .map(|(name, value)| name.as_str().len() + value.len())
                .sum(),
        }
    }
}

/// The wakers of the copies waiting for the body's next frame.
#[derive(Default)]
pub(crate) struct Waiters(Mutex<Vec<(u64, Waker)>>);

impl Waiters {
    fn lock(&self) -> MutexGuard<'_, Vec<(u64, Waker)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers that copy `id` waits, replacing its previous waker.
    pub(crate) fn register(&self, id: u64, waker: &Waker) {
        let mut waiters = self.lock();
        match waiters.iter_mut().find(|(i, _)| *i == id) {
            Some((_, w)) if w.will_wake(waker) => {}
            Some((_, w)) => w.clone_from(waker),
            None => waiters.push((id, waker.clone())),
        }
    }

    /// Forgets copy `id`.
    pub(crate) fn remove(&self, id: u64) {
        self.lock().retain(|(i, _)| *i != id);
    }

    /// Wakes every waiting copy; each registers again if it still has to wait.
    pub(crate) fn wake_all(&self) {
        let waiters = std::mem::take(&mut *self.lock());
        for (_, waker) in waiters {
            waker.wake();
        }
    }
}

impl Wake for Waiters {
    fn wake(self: Arc<Self>) {
        self.wake_all();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_all();
    }
}

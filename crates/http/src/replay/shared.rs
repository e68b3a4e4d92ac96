//! What the copies of one request body share: the body itself, the bytes kept for replay,
//! and the tasks waiting for the body's next frame.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Wake, Waker};

use http::HeaderMap;

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
    /// `expected` is how many bytes the body will yield at least, as far as is known.
    pub(crate) fn new(body: B, max_bytes: usize, expected: u64) -> Self {
        let keeping = expected <= max_bytes as u64;
        Self {
            max_bytes,
            state: Mutex::new(State {
                body: Some(Box::pin(body)),
                data: Vec::new(),
                expected: if keeping { expected as usize } else { 0 },
                trailers: None,
                yielded_bytes: 0,
                yielded_trailers: false,
                keeping,
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

/// The record of what the body has yielded.
///
/// Data is copied into a buffer of our own rather than kept as the body's `Bytes`: those are
/// often slices of a connection's read buffer, and holding a small slice would hold the whole
/// buffer. Copying makes the cap a true bound on memory, at the price of one copy of at most
/// `max_bytes` per replayable request.
pub(crate) struct State<B> {
    /// The body, until it ends, fails, or the last copy is dropped.
    pub(crate) body: Option<Pin<Box<B>>>,
    /// Every data byte the body has yielded, while `keeping`. Its capacity never exceeds
    /// `max_bytes`.
    pub(crate) data: Vec<u8>,
    /// The body's size when it is known in advance, to size `data` once.
    expected: usize,
    /// The trailers, once the body has yielded them, while `keeping`.
    pub(crate) trailers: Option<HeaderMap>,
    /// How many data bytes the body has yielded, kept or not.
    pub(crate) yielded_bytes: u64,
    pub(crate) yielded_trailers: bool,
    /// Whether the record still holds everything the body has yielded. Once false, it stays
    /// false: no new copy can be made, and a copy that falls behind cannot catch up.
    pub(crate) keeping: bool,
    pub(crate) failed: bool,
    /// Live copies, the one being sent included.
    pub(crate) copies: usize,
    pub(crate) next_id: u64,
}

impl<B> State<B> {
    /// Frees the record: from now on, only the copy at the frontier can go on.
    pub(crate) fn stop_keeping(&mut self) {
        self.keeping = false;
        self.data = Vec::new();
        self.trailers = None;
    }

    /// The memory the record holds: the data buffer's capacity and the trailers' bytes.
    pub(crate) fn held_bytes(&self) -> usize {
        self.data.capacity() + self.trailers.as_ref().map_or(0, trailers_size)
    }

    /// Records data the body yielded, or stops keeping if it does not fit under `max`.
    pub(crate) fn keep_data(&mut self, chunk: &[u8], max: usize) {
        let needed = self.data.len() + chunk.len();
        if self.yielded_trailers || needed > max {
            self.stop_keeping();
            return;
        }
        if needed > self.data.capacity() {
            // Grow geometrically, as `Vec` does, but never past the cap.
            let target = needed
                .max(self.data.capacity() * 2)
                .max(self.expected)
                .min(max);
            self.data.reserve_exact(target - self.data.len());
        }
        self.data.extend_from_slice(chunk);
    }

    /// Records the trailers the body yielded, or stops keeping if they do not fit under `max`.
    pub(crate) fn keep_trailers(&mut self, trailers: &HeaderMap, max: usize) {
        let size = trailers_size(trailers);
        if self.data.len() + size > max {
            self.stop_keeping();
            return;
        }
        if self.data.capacity() + size > max {
            self.data.shrink_to_fit();
        }
        self.trailers = Some(trailers.clone());
    }
}

/// What trailers cost against the cap: their names' and values' bytes.
fn trailers_size(map: &HeaderMap) -> usize {
    map.iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum()
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

//! Test helpers shared by the bulwark crates.
//!
//! - [`counting_allocator!`] installs a global allocator that counts the allocations made by
//!   the current thread, and [`allocations`] counts those made by a closure, so a test can
//!   assert that a hot path allocates nothing.
//! - [`call_once`] drives a service that answers at once through one call, with no runtime.
//! - [`RecordingHook`] keeps every event it sees, for asserting what a layer reported.
//! - `fuzz` (cargo feature `fuzz`): proptest strategies for hostile JSON configuration, shared
//!   by the config fuzz tests.
//! - `cancel` (cargo feature `cancel`): the harness of the drop-after-every-poll tests: a
//!   counting upstream with permits, a tracked request, and a driver under paused time.
//!
//! ```
//! bulwark_test_support::counting_allocator!();
//!
//! fn main() {
//!     let mut sum = 0u64;
//!     assert_eq!(bulwark_test_support::allocations(|| sum += 1), 0);
//!     assert!(bulwark_test_support::allocations(|| drop(Box::new(sum))) >= 1);
//! }
//! ```

// `unsafe` is needed for exactly one thing: implementing `GlobalAlloc`, whose methods are unsafe
// by definition. The implementation only forwards to `System` and bumps a thread-local counter.
// This crate is test-only and never published.
#![deny(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use bulwark_policy::{Event, EventKind, Hook};
use tower_service::Service;

#[cfg(feature = "cancel")]
pub mod cancel;
#[cfg(feature = "fuzz")]
pub mod fuzz;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

/// A global allocator that forwards to [`System`] and counts this thread's allocations while
/// [`allocations`] runs. Install it with [`counting_allocator!`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAllocator;

fn count_one() {
    // `try_with`: during thread teardown the locals may be gone; such allocations are not ours.
    let _ = COUNTING.try_with(|counting| {
        if counting.get() {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
    });
}

#[allow(unsafe_code)]
// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the counting touches only const-initialised thread-locals, which
// never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Installs [`CountingAllocator`] as the global allocator of the test binary.
#[macro_export]
macro_rules! counting_allocator {
    () => {
        #[global_allocator]
        static BULWARK_COUNTING_ALLOCATOR: $crate::CountingAllocator = $crate::CountingAllocator;
    };
}

/// Runs `f` and returns how many allocations (and reallocations) it made on this thread.
///
/// Only meaningful in a binary that installed [`counting_allocator!`]; elsewhere it returns 0.
pub fn allocations(f: impl FnOnce()) -> u64 {
    let before = COUNT.with(Cell::get);
    let was = COUNTING.with(|c| c.replace(true));
    f();
    COUNTING.with(|c| c.set(was));
    COUNT.with(Cell::get) - before
}

/// Polls `svc` ready and calls it once with `req`, both with a no-op waker, for a service and a
/// response future that are ready at once, as allocation tests of a success path need: no
/// runtime, no task. Panics if either is not ready at once.
///
/// ```
/// use std::convert::Infallible;
/// use std::future::{ready, Ready};
/// use std::task::{Context, Poll};
///
/// struct Double;
/// impl tower_service::Service<u32> for Double {
///     type Response = u32;
///     type Error = Infallible;
///     type Future = Ready<Result<u32, Infallible>>;
///     fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
///         Poll::Ready(Ok(()))
///     }
///     fn call(&mut self, n: u32) -> Self::Future {
///         ready(Ok(n * 2))
///     }
/// }
///
/// assert_eq!(bulwark_test_support::call_once(&mut Double, 21), Ok(42));
/// ```
pub fn call_once<S: Service<Req>, Req>(svc: &mut S, req: Req) -> Result<S::Response, S::Error> {
    let mut cx = Context::from_waker(Waker::noop());
    match svc.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        _ => panic!("the service should be ready"),
    }
    match pin!(svc.call(req)).poll(&mut cx) {
        Poll::Ready(result) => result,
        Poll::Pending => panic!("the call should be ready at once"),
    }
}

/// An event as a [`RecordingHook`] keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The layer instance's name.
    pub name: String,
    /// The key, shown as text.
    pub key: Option<String>,
    /// What happened.
    pub kind: EventKind,
}

/// A hook that keeps every event it sees; clones share the record.
///
/// ```
/// use bulwark_policy::{Event, EventKind, Hook};
/// use bulwark_test_support::RecordingHook;
///
/// let hook = RecordingHook::new();
/// hook.on_event(&Event::new("lb", EventKind::NoEndpoint));
/// assert_eq!(hook.kinds(), [EventKind::NoEndpoint]);
/// assert_eq!(hook.count(|k| matches!(k, EventKind::NoEndpoint)), 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct RecordingHook(Arc<Mutex<Vec<Recorded>>>);

impl RecordingHook {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything recorded so far.
    pub fn events(&self) -> Vec<Recorded> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The kinds recorded so far, in order.
    pub fn kinds(&self) -> Vec<EventKind> {
        self.events().into_iter().map(|r| r.kind).collect()
    }

    /// How many recorded kinds match `pred`.
    pub fn count(&self, pred: impl Fn(&EventKind) -> bool) -> usize {
        self.events().iter().filter(|r| pred(&r.kind)).count()
    }

    /// Forgets everything recorded.
    pub fn clear(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

impl Hook for RecordingHook {
    fn on_event(&self, event: &Event<'_>) {
        let recorded = Recorded {
            name: event.name().to_owned(),
            key: event.key().map(|k| k.to_string()),
            kind: *event.kind(),
        };
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(recorded);
    }
}

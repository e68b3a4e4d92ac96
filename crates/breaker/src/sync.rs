//! The atomics and locks the breaker's state is made of: the standard library's, or, when built
//! with `--cfg loom`, loom's, so that the loom tests (`tests/loom.rs`) explore every
//! interleaving of the state word, the half-open permits and the window counters.

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8},
    Mutex, MutexGuard, RwLock,
};

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{fence, AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8},
    Mutex, MutexGuard, RwLock,
};

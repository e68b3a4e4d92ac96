//! The sliding windows the rate policies judge: a ring of the last N calls and a ring of time
//! buckets. Both are lock-free and keep running totals, so judging is O(1).
//!
//! Every update is "add the new value, subtract the old one" on commutative atomic counters, so
//! concurrent recorders may see a total off by one call for an instant, never drift for good.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::sync::{AtomicI64, AtomicU64, AtomicU8};

/// The record of one call, as a ring slot holds it.
const EMPTY: u8 = 0;
const SUCCESS: u8 = 1;
const FAILURE: u8 = 2;
const SLOW: u8 = 4;

/// A recorded call: whether it failed and whether it was slow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sample {
    pub(crate) failed: bool,
    pub(crate) slow: bool,
}

impl Sample {
    fn code(self) -> u8 {
        (if self.failed { FAILURE } else { SUCCESS }) | if self.slow { SLOW } else { 0 }
    }
}

/// What a window holds now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

/// Running totals; signed because a racing subtract may land before its add.
#[derive(Debug, Default)]
struct Totals {
    calls: AtomicI64,
    failures: AtomicI64,
    slow: AtomicI64,
}

impl Totals {
    fn adjust(&self, calls: i64, failures: i64, slow: i64) {
        if calls != 0 {
            self.calls.fetch_add(calls, Relaxed);
        }
        if failures != 0 {
            self.failures.fetch_add(failures, Relaxed);
        }
        if slow != 0 {
            self.slow.fetch_add(slow, Relaxed);
        }
    }

    fn read(&self) -> Counts {
        let get = |a: &AtomicI64| a.load(Relaxed).max(0) as u64;
        Counts {
            calls: get(&self.calls),
            failures: get(&self.failures),
            slow: get(&self.slow),
        }
    }
}

/// Parts of a code: (is a call, failed, slow), each 0 or 1.
fn parts(code: u8) -> (i64, i64, i64) {
    (
        i64::from(code != EMPTY),
        i64::from(code & FAILURE != 0),
        i64::from(code & SLOW != 0),
    )
}

/// A true ring of the last `len` calls: each call takes the next slot and replaces the call
/// recorded there `len` calls ago, so old successes are forgotten as surely as old failures.
#[derive(Debug)]
pub(crate) struct CountRing {
    next: AtomicU64,
    slots: Box<[AtomicU8]>,
    totals: Totals,
}

impl CountRing {
    pub(crate) fn new(len: u32) -> Self {
        Self {
            next: AtomicU64::new(0),
            slots: (0..len.max(1)).map(|_| AtomicU8::new(EMPTY)).collect(),
            totals: Totals::default(),
        }
    }

    pub(crate) fn record(&self, sample: Sample) {
        let i = self.next.fetch_add(1, Relaxed) % self.slots.len() as u64;
        let new = sample.code();
        let slot = &self.slots[i as usize];
        // In the steady state a slot gets back the value it held: leave its cache line clean.
        if slot.load(Relaxed) == new {
            return;
        }
        let old = slot.swap(new, Relaxed);
        if old != new {
            let (oc, of, os) = parts(old);
            let (nc, nf, ns) = parts(new);
            self.totals.adjust(nc - oc, nf - of, ns - os);
        }
    }

    pub(crate) fn counts(&self) -> Counts {
        self.totals.read()
    }

    /// Forgets every call; safe against concurrent recorders.
    pub(crate) fn clear(&self) {
        for slot in self.slots.iter() {
            let (c, f, s) = parts(slot.swap(EMPTY, Relaxed));
            self.totals.adjust(-c, -f, -s);
        }
    }
}

/// One bucket of a time window: the calls recorded during one `width` of time.
#[derive(Debug, Default)]
struct Bucket {
    calls: AtomicI64,
    failures: AtomicI64,
    slow: AtomicI64,
}

/// The calls of the last `length` of time, in `buckets` rolling buckets.
///
/// The bucket of epoch `e` covers `[e × width, (e + 1) × width)` since the breaker's start. At
/// time `now` the window is the current bucket and the `buckets - 1` before it, so a call is
/// counted for between `length - width` and `length`, and a call of age `length` or more never.
/// Each call does O(1) work; a bucket is emptied once when its epoch rolls over, by whichever
/// recorder first enters the new epoch.
#[derive(Debug)]
pub(crate) struct TimeBuckets {
    width: u64,
    head: AtomicU64,
    buckets: Box<[Bucket]>,
    totals: Totals,
}

impl TimeBuckets {
    pub(crate) fn new(length: Duration, buckets: u32) -> Self {
        let nanos = u64::try_from(length.as_nanos()).unwrap_or(u64::MAX);
        let n = u64::from(buckets.max(1));
        Self {
            width: (nanos / n).max(1),
            head: AtomicU64::new(0),
            buckets: (0..n).map(|_| Bucket::default()).collect(),
            totals: Totals::default(),
        }
    }

    fn len(&self) -> u64 {
        self.buckets.len() as u64
    }

    /// Moves the window to `at` (nanoseconds since the start), emptying the buckets that fell out.
    /// Returns the epoch of `at`.
    pub(crate) fn advance(&self, at: u64) -> u64 {
        let epoch = at / self.width;
        let mut head = self.head.load(Relaxed);
        while epoch > head {
            match self
                .head
                .compare_exchange_weak(head, epoch, Relaxed, Relaxed)
            {
                Ok(_) => {
                    // Only the epochs still inside the new window need a clean bucket; after a
                    // long idle gap that is every bucket, never more.
                    let first = (head + 1).max(epoch.saturating_sub(self.len() - 1));
                    for e in first..=epoch {
                        self.empty(e % self.len());
                    }
                    break;
                }
                Err(seen) => head = seen,
            }
        }
        epoch
    }

    fn empty(&self, i: u64) {
        let b = &self.buckets[i as usize];
        let c = b.calls.swap(0, Relaxed);
        let f = b.failures.swap(0, Relaxed);
        let s = b.slow.swap(0, Relaxed);
        self.totals.adjust(-c, -f, -s);
    }

    pub(crate) fn record(&self, sample: Sample, at: u64) {
        let epoch = self.advance(at);
        // A call whose time is already outside the window (a recorder that lagged behind a
        // rollover) is not counted.
        if epoch + self.len() <= self.head.load(Relaxed) {
            return;
        }
        let b = &self.buckets[(epoch % self.len()) as usize];
        let (f, s) = (i64::from(sample.failed), i64::from(sample.slow));
        b.calls.fetch_add(1, Relaxed);
        if f != 0 {
            b.failures.fetch_add(1, Relaxed);
        }
        if s != 0 {
            b.slow.fetch_add(1, Relaxed);
        }
        self.totals.adjust(1, f, s);
    }

    /// The counts of the window ending at `at`.
    pub(crate) fn counts(&self, at: u64) -> Counts {
        self.advance(at);
        self.totals.read()
    }

    pub(crate) fn clear(&self) {
        for i in 0..self.len() {
            self.empty(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: Sample = Sample {
        failed: false,
        slow: false,
    };
    const FAIL: Sample = Sample {
        failed: true,
        slow: false,
    };
    const SLOW_OK: Sample = Sample {
        failed: false,
        slow: true,
    };

    #[test]
    fn ring_keeps_exactly_the_last_n() {
        let ring = CountRing::new(4);
        for s in [FAIL, FAIL, OK, SLOW_OK] {
            ring.record(s);
        }
        assert_eq!(
            ring.counts(),
            Counts {
                calls: 4,
                failures: 2,
                slow: 1
            }
        );
        ring.record(OK);
        ring.record(OK);
        assert_eq!(
            ring.counts(),
            Counts {
                calls: 4,
                failures: 0,
                slow: 1
            }
        );
        ring.clear();
        assert_eq!(ring.counts(), Counts::default());
        ring.record(FAIL);
        assert_eq!(
            ring.counts(),
            Counts {
                calls: 1,
                failures: 1,
                slow: 0
            }
        );
    }

    #[test]
    fn time_buckets_drop_a_call_at_exactly_the_window_length() {
        let w = TimeBuckets::new(Duration::from_nanos(100), 10);
        w.record(FAIL, 0);
        w.record(OK, 55);
        assert_eq!(
            w.counts(99),
            Counts {
                calls: 2,
                failures: 1,
                slow: 0
            }
        );
        assert_eq!(
            w.counts(100),
            Counts {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
        // Bucket granularity: the call at 55 sits in the bucket [50, 60), which leaves at 150.
        assert_eq!(
            w.counts(149),
            Counts {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
        assert_eq!(w.counts(150), Counts::default());
    }

    #[test]
    fn time_buckets_forget_everything_after_an_idle_gap() {
        let w = TimeBuckets::new(Duration::from_nanos(100), 10);
        for t in 0..100 {
            w.record(FAIL, t);
        }
        assert_eq!(w.counts(99).failures, 100);
        w.record(OK, 10_000);
        assert_eq!(
            w.counts(10_000),
            Counts {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
        // A lagging recorder whose epoch already left the window is not counted.
        w.record(FAIL, 5);
        assert_eq!(w.counts(10_000).failures, 0);
        w.clear();
        assert_eq!(w.counts(10_000), Counts::default());
    }
}

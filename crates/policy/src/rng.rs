//! A small, seedable random number generator for jitter, chaos and balancing.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A seedable pseudo-random generator (SplitMix64): 8 bytes of state, no allocation, no lock.
///
/// Every random choice bulwark makes goes through one of these, so a test that fixes the seed
/// sees the same delays, the same picks and the same injected faults on every run. It is not
/// for cryptography.
///
/// ```
/// use bulwark_policy::Rng;
///
/// let mut a = Rng::new(42);
/// let mut b = Rng::new(42);
/// assert_eq!(a.next_u64(), b.next_u64());
/// let x = a.next_f64();
/// assert!((0.0..1.0).contains(&x));
/// assert!(a.below(10) < 10);
/// ```
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator that starts from `seed`.
    ///
    /// ```
    /// let mut rng = bulwark_policy::Rng::new(1);
    /// assert_eq!(rng.next_u64(), bulwark_policy::Rng::new(1).next_u64());
    /// ```
    pub const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator seeded from the process's random hash keys and a counter, so two calls give
    /// different sequences.
    ///
    /// ```
    /// use bulwark_policy::Rng;
    ///
    /// assert_ne!(Rng::from_entropy().next_u64(), Rng::from_entropy().next_u64());
    /// ```
    pub fn from_entropy() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        Self::new(hasher.finish())
    }

    /// The next 64 random bits.
    ///
    /// ```
    /// let mut rng = bulwark_policy::Rng::new(2);
    /// assert_ne!(rng.next_u64(), rng.next_u64());
    /// ```
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in `[0, 1)`.
    ///
    /// ```
    /// let x = bulwark_policy::Rng::new(3).next_f64();
    /// assert!((0.0..1.0).contains(&x));
    /// ```
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        // The top 53 bits fill an f64's mantissa exactly.
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform number in `[0, n)`; `0` when `n` is `0`.
    ///
    /// ```
    /// let mut rng = bulwark_policy::Rng::new(4);
    /// assert!(rng.below(6) < 6);
    /// assert_eq!(rng.below(0), 0);
    /// ```
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        // Multiply-shift: unbiased enough for load spreading and jitter, and branch-free.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A uniform duration in `[lo, hi]`, with nanosecond resolution; `lo` when `hi <= lo`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::Rng;
    ///
    /// let d = Rng::new(7).duration_between(Duration::from_millis(10), Duration::from_millis(20));
    /// assert!(d >= Duration::from_millis(10) && d <= Duration::from_millis(20));
    /// ```
    pub fn duration_between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let Some(span) = hi.checked_sub(lo) else {
            return lo;
        };
        let span_nanos = span.as_nanos().min(u128::from(u64::MAX - 1)) as u64;
        lo.saturating_add(Duration::from_nanos(self.below(span_nanos + 1)))
    }
}

impl Default for Rng {
    /// The same as [`Rng::from_entropy`].
    fn default() -> Self {
        Self::from_entropy()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_is_roughly_uniform() {
        let mut rng = Rng::new(1);
        let mut counts = [0u32; 4];
        for _ in 0..40_000 {
            counts[rng.below(4) as usize] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
        assert_eq!(rng.below(0), 0);
    }

    #[test]
    fn duration_between_handles_extremes() {
        let mut rng = Rng::new(3);
        assert_eq!(
            rng.duration_between(Duration::from_secs(2), Duration::from_secs(1)),
            Duration::from_secs(2)
        );
        let d = rng.duration_between(Duration::ZERO, Duration::MAX);
        assert!(d <= Duration::MAX);
    }
}

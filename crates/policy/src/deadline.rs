//! Deadlines: the instant by which a request must be answered, carried on the request.

use std::time::Duration;

use tokio::time::Instant;

/// The instant by which a request must be answered.
///
/// A `TimeoutLayer` puts the earlier of its own timeout and any deadline already on the request
/// back on the request, so that every layer inside it sees the same deadline: a retry does not
/// start an attempt, or a backoff sleep, that cannot finish before it, and a gRPC client
/// writes what remains of it into `grpc-timeout`.
///
/// It uses tokio's clock, so `tokio::time::pause()` drives it in tests, and its arithmetic
/// saturates rather than panics.
///
/// ```
/// use std::time::Duration;
/// use bulwark_policy::Deadline;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let deadline = Deadline::after(Duration::from_secs(2));
/// tokio::time::advance(Duration::from_millis(500)).await;
/// assert_eq!(deadline.remaining(), Duration::from_millis(1500));
/// assert!(!deadline.is_expired());
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline {
    at: Instant,
}

impl Deadline {
    /// A deadline at `at`.
    ///
    /// ```
    /// use bulwark_policy::Deadline;
    /// let now = tokio::time::Instant::now();
    /// assert_eq!(Deadline::at(now).instant(), now);
    /// ```
    pub const fn at(at: Instant) -> Self {
        Self { at }
    }

    /// A deadline `timeout` from now; a timeout too large for the clock is pushed to about 30
    /// years from now, as tokio does for its own far-future sleeps.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::Deadline;
    /// assert!(Deadline::after(Duration::MAX).remaining() > Duration::from_secs(3600 * 24 * 365));
    /// ```
    pub fn after(timeout: Duration) -> Self {
        Self::from_now(Instant::now(), timeout)
    }

    /// A deadline `timeout` after `now`, for a caller that has already read the clock; it
    /// saturates as [`Deadline::after`] does.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::Deadline;
    ///
    /// let now = tokio::time::Instant::now();
    /// let deadline = Deadline::from_now(now, Duration::from_secs(1));
    /// assert_eq!(deadline.instant(), now + Duration::from_secs(1));
    /// assert!(Deadline::from_now(now, Duration::MAX).instant() > now);
    /// ```
    pub fn from_now(now: Instant, timeout: Duration) -> Self {
        let at = now
            .checked_add(timeout)
            .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30));
        Self { at }
    }

    /// The instant.
    ///
    /// ```
    /// use bulwark_policy::Deadline;
    /// let d = Deadline::after(std::time::Duration::from_secs(1));
    /// assert!(d.instant() > tokio::time::Instant::now());
    /// ```
    pub const fn instant(&self) -> Instant {
        self.at
    }

    /// The time left; zero once it has passed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::Deadline;
    /// assert_eq!(Deadline::after(Duration::ZERO).remaining(), Duration::ZERO);
    /// ```
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// Whether it has passed (the deadline instant itself counts as passed).
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::Deadline;
    /// assert!(Deadline::after(Duration::ZERO).is_expired());
    /// ```
    pub fn is_expired(&self) -> bool {
        Instant::now() >= self.at
    }

    /// The earlier of two deadlines.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_policy::Deadline;
    /// let soon = Deadline::after(Duration::from_secs(1));
    /// let later = Deadline::after(Duration::from_secs(9));
    /// assert_eq!(later.min(soon), soon);
    /// ```
    pub fn min(self, other: Deadline) -> Deadline {
        if other.at < self.at {
            other
        } else {
            self
        }
    }
}

/// How a layer reads and writes the [`Deadline`] carried by a request of type `Req`.
///
/// Layers that honour deadlines (timeout, retry) take one of these as a type parameter.
/// [`ExtensionsDeadline`], the default, keeps it in an `http::Request`'s extensions, which is
/// where every hyper, axum and tonic request can carry it. [`IgnoreDeadline`] is for request
/// types that carry none. A protocol with its own request type implements this trait.
///
/// ```
/// use bulwark_policy::{Deadline, DeadlineAccess};
///
/// #[derive(Clone, Copy)]
/// struct InMyRequest;
/// struct MyRequest { deadline: Option<Deadline> }
///
/// impl DeadlineAccess<MyRequest> for InMyRequest {
///     fn get(&self, req: &MyRequest) -> Option<Deadline> { req.deadline }
///     fn set(&self, req: &mut MyRequest, deadline: Deadline) { req.deadline = Some(deadline) }
/// }
/// ```
pub trait DeadlineAccess<Req>: Clone + Send + Sync + 'static {
    /// The request's deadline, if it has one.
    fn get(&self, req: &Req) -> Option<Deadline>;
    /// Puts `deadline` on the request, replacing any it had.
    fn set(&self, req: &mut Req, deadline: Deadline);

    /// A timeout the caller asked for this one request, in place of a timeout layer's own.
    /// None by default.
    fn timeout_override(&self, req: &Req) -> Option<Duration> {
        let _ = req;
        None
    }

    /// Whether requests read through this accessor can carry a deadline at all. A layer may
    /// skip reading the clock for one that cannot. True by default.
    ///
    /// ```
    /// use bulwark_policy::{DeadlineAccess, ExtensionsDeadline, IgnoreDeadline};
    ///
    /// assert!(DeadlineAccess::<http::Request<()>>::carries_deadline(&ExtensionsDeadline));
    /// assert!(!DeadlineAccess::<u32>::carries_deadline(&IgnoreDeadline));
    /// ```
    fn carries_deadline(&self) -> bool {
        true
    }
}

/// A per-request timeout, put in an `http::Request`'s extensions, that a timeout layer uses in
/// place of its own (a [`Deadline`] on the request still applies if it is earlier).
///
/// ```
/// use std::time::Duration;
/// use bulwark_policy::{DeadlineAccess, ExtensionsDeadline, TimeoutOverride};
///
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(TimeoutOverride(Duration::from_millis(50)));
/// assert_eq!(ExtensionsDeadline.timeout_override(&req), Some(Duration::from_millis(50)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeoutOverride(pub Duration);

/// Keeps the [`Deadline`] in the extensions of an `http::Request`.
///
/// ```
/// use std::time::Duration;
/// use bulwark_policy::{Deadline, DeadlineAccess, ExtensionsDeadline};
///
/// let mut req = http::Request::new(());
/// assert_eq!(ExtensionsDeadline.get(&req), None);
/// let deadline = Deadline::after(Duration::from_secs(1));
/// ExtensionsDeadline.set(&mut req, deadline);
/// assert_eq!(req.extensions().get::<Deadline>(), Some(&deadline));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtensionsDeadline;

impl<B> DeadlineAccess<http::Request<B>> for ExtensionsDeadline {
    #[inline]
    fn get(&self, req: &http::Request<B>) -> Option<Deadline> {
        req.extensions().get::<Deadline>().copied()
    }

    #[inline]
    fn set(&self, req: &mut http::Request<B>, deadline: Deadline) {
        // Overwriting in place saves the allocation `insert` makes for its boxed value.
        match req.extensions_mut().get_mut::<Deadline>() {
            Some(carried) => *carried = deadline,
            None => {
                req.extensions_mut().insert(deadline);
            }
        }
    }

    #[inline]
    fn timeout_override(&self, req: &http::Request<B>) -> Option<Duration> {
        req.extensions().get::<TimeoutOverride>().map(|t| t.0)
    }
}

/// For requests that carry no deadline: it reads none and drops what it is given.
///
/// ```
/// use std::time::Duration;
/// use bulwark_policy::{Deadline, DeadlineAccess, IgnoreDeadline};
///
/// let mut req = 7u32;
/// IgnoreDeadline.set(&mut req, Deadline::after(Duration::from_secs(1)));
/// assert_eq!(IgnoreDeadline.get(&req), None);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct IgnoreDeadline;

impl<Req> DeadlineAccess<Req> for IgnoreDeadline {
    #[inline]
    fn get(&self, _: &Req) -> Option<Deadline> {
        None
    }

    #[inline]
    fn set(&self, _: &mut Req, _: Deadline) {}

    #[inline]
    fn carries_deadline(&self) -> bool {
        false
    }
}

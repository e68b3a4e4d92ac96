//! A set of HTTP status codes.

use std::fmt;

use http::StatusCode;

const FIRST: u16 = 100;
const WORDS: usize = 15; // 900 codes, 100..=999, the range `StatusCode` allows

/// A set of HTTP status codes: a copyable bit set, so classifying never allocates.
///
/// ```
/// use http::StatusCode;
/// use bulwark_http::StatusSet;
///
/// let set = StatusSet::server_errors()
///     .with(StatusCode::TOO_MANY_REQUESTS)
///     .without(StatusCode::NOT_IMPLEMENTED);
/// assert!(set.contains(StatusCode::BAD_GATEWAY));
/// assert!(set.contains(StatusCode::TOO_MANY_REQUESTS));
/// assert!(!set.contains(StatusCode::NOT_IMPLEMENTED));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StatusSet([u64; WORDS]);

impl StatusSet {
    /// The empty set.
    ///
    /// ```
    /// assert!(!bulwark_http::StatusSet::new().contains(http::StatusCode::OK));
    /// ```
    pub const fn new() -> Self {
        Self([0; WORDS])
    }

    /// Every 5xx status, 500 to 599.
    ///
    /// ```
    /// let set = bulwark_http::StatusSet::server_errors();
    /// assert!(set.contains(http::StatusCode::from_u16(599).unwrap()));
    /// assert!(!set.contains(http::StatusCode::from_u16(499).unwrap()));
    /// ```
    pub const fn server_errors() -> Self {
        let mut set = Self::new();
        let mut code = 500;
        while code < 600 {
            set = set.with_u16(code);
            code += 1;
        }
        set
    }

    /// The set with `status` added.
    ///
    /// ```
    /// use http::StatusCode;
    /// let set = bulwark_http::StatusSet::new().with(StatusCode::REQUEST_TIMEOUT);
    /// assert!(set.contains(StatusCode::REQUEST_TIMEOUT));
    /// ```
    pub fn with(self, status: StatusCode) -> Self {
        self.with_u16(status.as_u16())
    }

    /// The set with `status` removed.
    ///
    /// ```
    /// use http::StatusCode;
    /// let set = bulwark_http::StatusSet::server_errors().without(StatusCode::NOT_IMPLEMENTED);
    /// assert!(!set.contains(StatusCode::NOT_IMPLEMENTED));
    /// ```
    pub fn without(mut self, status: StatusCode) -> Self {
        let (word, bit) = Self::slot(status.as_u16());
        self.0[word] &= !bit;
        self
    }

    /// Whether `status` is in the set.
    ///
    /// ```
    /// let set = bulwark_http::StatusSet::server_errors();
    /// assert!(set.contains(http::StatusCode::SERVICE_UNAVAILABLE));
    /// ```
    pub fn contains(&self, status: StatusCode) -> bool {
        let (word, bit) = Self::slot(status.as_u16());
        self.0[word] & bit != 0
    }

    /// Every status in either set.
    ///
    /// ```
    /// use http::StatusCode;
    /// use bulwark_http::StatusSet;
    /// let set = StatusSet::server_errors().union(StatusSet::new().with(StatusCode::CONFLICT));
    /// assert!(set.contains(StatusCode::CONFLICT) && set.contains(StatusCode::BAD_GATEWAY));
    /// ```
    pub fn union(mut self, other: StatusSet) -> Self {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a |= b;
        }
        self
    }

    /// The statuses in both sets.
    ///
    /// ```
    /// use http::StatusCode;
    /// use bulwark_http::StatusSet;
    /// let both = StatusSet::server_errors().intersection(StatusSet::new().with(StatusCode::OK));
    /// assert_eq!(both, StatusSet::new());
    /// ```
    pub fn intersection(mut self, other: StatusSet) -> Self {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a &= b;
        }
        self
    }

    /// Whether every status of `self` is in `other`.
    ///
    /// ```
    /// use bulwark_http::StatusSet;
    /// assert!(StatusSet::new().is_subset(&StatusSet::server_errors()));
    /// ```
    pub fn is_subset(&self, other: &StatusSet) -> bool {
        self.0.iter().zip(other.0).all(|(a, b)| a & !b == 0)
    }

    /// The statuses in the set, in numeric order.
    ///
    /// ```
    /// use http::StatusCode;
    /// let set = bulwark_http::StatusSet::new().with(StatusCode::GONE).with(StatusCode::CONFLICT);
    /// assert_eq!(set.iter().collect::<Vec<_>>(), [StatusCode::CONFLICT, StatusCode::GONE]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = StatusCode> + '_ {
        (FIRST..FIRST + 64 * WORDS as u16)
            .filter(|&code| {
                let (word, bit) = Self::slot(code);
                self.0[word] & bit != 0
            })
            .filter_map(|code| StatusCode::from_u16(code).ok())
    }

    const fn with_u16(mut self, code: u16) -> Self {
        let (word, bit) = Self::slot(code);
        self.0[word] |= bit;
        self
    }

    /// `StatusCode` holds 100..=999, so the index is always in bounds.
    const fn slot(code: u16) -> (usize, u64) {
        let i = (code - FIRST) as usize;
        (i / 64, 1 << (i % 64))
    }
}

impl FromIterator<StatusCode> for StatusSet {
    fn from_iter<I: IntoIterator<Item = StatusCode>>(iter: I) -> Self {
        iter.into_iter().fold(StatusSet::new(), StatusSet::with)
    }
}

impl fmt::Debug for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(|s| s.as_u16()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_every_possible_status() {
        let all: StatusSet = (100..=999)
            .map(|c| StatusCode::from_u16(c).unwrap())
            .collect();
        assert_eq!(all.iter().count(), 900);
        let s = |c| StatusCode::from_u16(c).unwrap();
        let one = StatusSet::new().with(s(999)).with(s(100));
        assert_eq!(one.iter().collect::<Vec<_>>(), [s(100), s(999)]);
        assert!(one.is_subset(&all) && !all.is_subset(&one));
        assert_eq!(StatusSet::server_errors().iter().count(), 100);
    }
}

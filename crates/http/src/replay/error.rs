//! The error of a body copy that cannot be replayed.

use std::fmt;

/// A copy of a request body could not stream the whole body: the bytes it needed were not
/// kept, because the body grew past the replay cap or failed.
///
/// It is the body error of a copy made before that was known, and that fell behind the copy
/// being sent. The request it belongs to fails instead of going out truncated.
///
/// ```
/// use bulwark_http::NotReplayable;
///
/// let err: bulwark_policy::BoxError = NotReplayable::new().into();
/// assert!(err.is::<NotReplayable>());
/// assert_eq!(err.to_string(), "request body cannot be replayed");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotReplayable(());

impl NotReplayable {
    /// The error.
    ///
    /// ```
    /// let _ = bulwark_http::NotReplayable::new();
    /// ```
    pub const fn new() -> Self {
        Self(())
    }
}

impl fmt::Display for NotReplayable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("request body cannot be replayed")
    }
}

impl std::error::Error for NotReplayable {}

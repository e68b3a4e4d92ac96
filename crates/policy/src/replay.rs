//! How a layer gets another copy of a request to send again.

/// Makes a copy of a request for another attempt, or says it cannot.
///
/// Retry and fallback hold the original request and call `replay` before each send. A request
/// that cannot be replayed is still sent once — never failed for that reason — and the layer
/// reports an `EventKind::NotReplayable`. [`CloneReplay`] works for every `Req: Clone`;
/// bulwark-http's `ReplayBody` makes `http::Request`s with streaming bodies replayable up to
/// a size cap.
///
/// ```
/// use bulwark_policy::Replay;
///
/// // Replays requests shorter than 16 bytes.
/// #[derive(Clone)]
/// struct Short;
/// impl Replay<Vec<u8>> for Short {
///     fn replay(&self, req: &Vec<u8>) -> Option<Vec<u8>> {
///         (req.len() < 16).then(|| req.clone())
///     }
/// }
/// assert!(Short.replay(&vec![0; 4]).is_some());
/// assert!(Short.replay(&vec![0; 64]).is_none());
/// ```
pub trait Replay<Req>: Clone + Send + Sync + 'static {
    /// A copy of `req` to send, or `None` if it cannot be sent again.
    fn replay(&self, req: &Req) -> Option<Req>;
}

/// Replays any `Clone` request by cloning it.
///
/// ```
/// use bulwark_policy::{CloneReplay, Replay};
///
/// assert_eq!(CloneReplay.replay(&"GET /"), Some("GET /"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CloneReplay;

impl<Req: Clone> Replay<Req> for CloneReplay {
    #[inline]
    fn replay(&self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

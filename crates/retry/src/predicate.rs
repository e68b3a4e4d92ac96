//! Which requests may be sent more than once.

/// Decides, before the first attempt, whether a request may be retried at all.
///
/// Retrying is only safe for requests whose effect does not add up when they arrive twice: a
/// retried payment that did reach the server charges twice. The layer asks once per request; a
/// request it refuses is sent exactly once, with no copy made, and still counts as a request
/// for the retry budget.
///
/// [`AnyRequest`] (the default) allows every request, [`IdempotentMethods`] allows the HTTP
/// methods that are idempotent, and any `Fn(&Req) -> bool` closure that is
/// `Clone + Send + Sync + 'static` is a predicate.
///
/// ```
/// use bulwark_retry::RetryPredicate;
///
/// let only_reads = |req: &String| req.starts_with("GET ");
/// assert!(only_reads.may_retry(&"GET /".to_string()));
/// assert!(!only_reads.may_retry(&"POST /pay".to_string()));
/// ```
pub trait RetryPredicate<Req>: Clone + Send + Sync + 'static {
    /// Whether `req` may be sent again after a retryable failure.
    fn may_retry(&self, req: &Req) -> bool;
}

impl<F, Req> RetryPredicate<Req> for F
where
    F: Fn(&Req) -> bool + Clone + Send + Sync + 'static,
{
    #[inline]
    fn may_retry(&self, req: &Req) -> bool {
        self(req)
    }
}

/// Allows every request to be retried: the default, for request types that say nothing about
/// idempotency. For HTTP, prefer [`IdempotentMethods`].
///
/// ```
/// use bulwark_retry::{AnyRequest, RetryPredicate};
///
/// assert!(AnyRequest.may_retry(&"POST /pay"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyRequest;

impl<Req> RetryPredicate<Req> for AnyRequest {
    #[inline]
    fn may_retry(&self, _: &Req) -> bool {
        true
    }
}

/// Allows the idempotent HTTP methods to be retried (GET, HEAD, OPTIONS, TRACE, PUT and
/// DELETE, as RFC 9110 defines them) and refuses the rest, POST and PATCH among them.
///
/// ```
/// use bulwark_retry::{IdempotentMethods, RetryPredicate};
///
/// let get = http::Request::get("/").body(()).unwrap();
/// let post = http::Request::post("/pay").body(()).unwrap();
/// assert!(IdempotentMethods.may_retry(&get));
/// assert!(!IdempotentMethods.may_retry(&post));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct IdempotentMethods;

impl<B> RetryPredicate<http::Request<B>> for IdempotentMethods {
    #[inline]
    fn may_retry(&self, req: &http::Request<B>) -> bool {
        req.method().is_idempotent()
    }
}

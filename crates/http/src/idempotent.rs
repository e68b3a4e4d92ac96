//! Which HTTP requests are safe to send twice.

use http::{HeaderName, Method};

/// The `Idempotency-Key` header: a client-chosen key that lets a server recognise a repeated
/// request and apply it once (an IETF HTTPAPI draft, used by Stripe and others).
///
/// ```
/// assert_eq!(bulwark_http::IDEMPOTENCY_KEY.as_str(), "idempotency-key");
/// ```
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Whether `req` may be sent more than once: its method is idempotent (GET, HEAD, OPTIONS,
/// TRACE, PUT, DELETE, per RFC 9110 §9.2.2), or it carries an `Idempotency-Key` header.
///
/// It is a plain function, so it fits any predicate that takes a closure, such as retry's
/// `.retry_if_request(is_idempotent)`.
///
/// ```
/// use bulwark_http::is_idempotent;
///
/// let get = http::Request::get("/").body(()).unwrap();
/// let post = http::Request::post("/pay").body(()).unwrap();
/// let keyed = http::Request::post("/pay").header("idempotency-key", "8e03").body(()).unwrap();
/// assert!(is_idempotent(&get));
/// assert!(!is_idempotent(&post));
/// assert!(is_idempotent(&keyed));
///
/// let predicate: fn(&http::Request<()>) -> bool = is_idempotent;
/// # let _ = predicate;
/// ```
pub fn is_idempotent<B>(req: &http::Request<B>) -> bool {
    is_idempotent_method(req.method()) || req.headers().contains_key(IDEMPOTENCY_KEY)
}

fn is_idempotent_method(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_and_keys() {
        let req = |method: &str, key: Option<&str>| {
            let mut req = http::Request::builder().method(method);
            if let Some(key) = key {
                req = req.header("Idempotency-Key", key);
            }
            req.body(()).unwrap()
        };
        for m in ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"] {
            assert!(is_idempotent(&req(m, None)), "{m}");
        }
        for m in ["POST", "PATCH", "CONNECT", "PURGE"] {
            assert!(!is_idempotent(&req(m, None)), "{m}");
            assert!(is_idempotent(&req(m, Some("k-1"))), "{m} with a key");
        }
    }

    #[test]
    fn is_a_send_sync_clone_predicate() {
        fn predicate<P: Fn(&http::Request<()>) -> bool + Clone + Send + Sync + 'static>(p: P) -> P {
            p
        }
        let p = predicate(is_idempotent::<()>);
        assert!(p(&http::Request::new(())));
    }
}

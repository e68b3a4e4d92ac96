//! One HTTP client spread over several upstream authorities.
//!
//! A hyper-util `Client` (or any `http::Request` service) sends each request to the authority
//! in its URI. [`SetAuthority`] is an endpoint that rewrites that authority (and the scheme)
//! to the one upstream it stands for, then hands the request to the client it shares with the
//! other endpoints, so that one connection pool serves them all. With the feature `balance`,
//! [`balance_authorities`] puts one such endpoint per upstream behind a bulwark-balance
//! `Balance`, which picks among them, and ejects the ones that fail.

use std::fmt;
use std::str::FromStr;
use std::task::{Context, Poll};

use bulwark_policy::ConfigError;
use http::uri::{Authority, Parts, PathAndQuery, Scheme, Uri};
use tower_service::Service;

/// Where an endpoint sends its requests: a scheme (`http` or `https`) and an authority
/// (`host:port`).
///
/// Parsed from `"http://10.0.0.1:8080"` or, with the scheme `http`, from `"10.0.0.1:8080"`.
/// Anything after the authority (a path, a query) is refused, as is a URI with no authority
/// or with user information. It displays as `scheme://authority`, which is how a balancer
/// names it in events.
///
/// ```
/// use bulwark_http::Upstream;
///
/// let upstream: Upstream = "127.0.0.1:8080".parse().unwrap();
/// assert_eq!(upstream.scheme(), &http::uri::Scheme::HTTP);
/// assert_eq!(upstream.authority().as_str(), "127.0.0.1:8080");
/// assert_eq!(upstream.to_string(), "http://127.0.0.1:8080");
///
/// assert!("https://api.example.com".parse::<Upstream>().is_ok());
/// assert!("http://10.0.0.1/v1".parse::<Upstream>().is_err());
/// assert!("ftp://10.0.0.1".parse::<Upstream>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Upstream {
    scheme: Scheme,
    authority: Authority,
}

impl Upstream {
    /// The upstream at `scheme://authority`.
    ///
    /// ```
    /// use http::uri::{Authority, Scheme};
    /// use bulwark_http::Upstream;
    ///
    /// let upstream = Upstream::new(Scheme::HTTPS, Authority::from_static("api.example.com"));
    /// assert_eq!(upstream.to_string(), "https://api.example.com");
    /// ```
    pub const fn new(scheme: Scheme, authority: Authority) -> Self {
        Self { scheme, authority }
    }

    /// Parses `"scheme://host:port"` or `"host:port"` (scheme `http`); see [`Upstream`].
    ///
    /// ```
    /// let err = bulwark_http::Upstream::parse("http://").unwrap_err();
    /// assert_eq!(err.field(), "upstream");
    /// ```
    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        let invalid = |reason: &str| ConfigError::new("upstream", format!("{s:?}: {reason}"));
        let uri: Uri = if s.contains("://") {
            s.parse()
        } else {
            format!("http://{s}").parse()
        }
        .map_err(|_| invalid("not a URI"))?;
        let parts = uri.into_parts();
        let scheme = parts.scheme.ok_or_else(|| invalid("no scheme"))?;
        if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
            return Err(invalid("the scheme must be http or https"));
        }
        let authority = parts.authority.ok_or_else(|| invalid("no authority"))?;
        if authority.host().is_empty() {
            return Err(invalid("no host"));
        }
        if authority.as_str().contains('@') {
            return Err(invalid("user information is not allowed"));
        }
        if parts.path_and_query.is_some_and(|pq| pq.as_str() != "/") {
            return Err(invalid("a path or query is not allowed"));
        }
        Ok(Self { scheme, authority })
    }

    /// The scheme.
    ///
    /// ```
    /// let upstream = bulwark_http::Upstream::parse("https://a:1").unwrap();
    /// assert_eq!(upstream.scheme().as_str(), "https");
    /// ```
    pub const fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// The authority, `host:port`.
    ///
    /// ```
    /// let upstream = bulwark_http::Upstream::parse("a:1").unwrap();
    /// assert_eq!(upstream.authority().port_u16(), Some(1));
    /// ```
    pub const fn authority(&self) -> &Authority {
        &self.authority
    }

    /// `uri` sent to this upstream: its path and query, with this scheme and authority. An
    /// empty path becomes `/`.
    ///
    /// ```
    /// let upstream = bulwark_http::Upstream::parse("10.0.0.2:80").unwrap();
    /// let uri = upstream.rewrite(&"http://service.local/orders?page=2".parse().unwrap());
    /// assert_eq!(uri, "http://10.0.0.2:80/orders?page=2");
    /// assert_eq!(upstream.rewrite(&"/".parse().unwrap()), "http://10.0.0.2:80/");
    /// ```
    pub fn rewrite(&self, uri: &Uri) -> Uri {
        self.rewrite_parts(uri.clone().into_parts())
    }

    /// `parts` with this scheme and authority, and `/` for a missing path. Moves the path
    /// and query rather than cloning them: cloning a path parsed from a string promotes its
    /// bytes to shared storage, which allocates.
    fn rewrite_parts(&self, mut parts: Parts) -> Uri {
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts
            .path_and_query
            .get_or_insert_with(|| PathAndQuery::from_static("/"));
        Uri::from_parts(parts).expect("a scheme, an authority and a path make a valid URI")
    }
}

impl FromStr for Upstream {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        Self::parse(s)
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority)
    }
}

/// An endpoint that sends every request to one [`Upstream`] through a shared client: it
/// rewrites the request URI's scheme and authority, keeps its path and query, and calls the
/// client.
///
/// Clones of a hyper-util `Client` share one connection pool, so endpoints made from clones
/// of one client share it too. A `Host` header already on the request is left as it is (a
/// proxy that forwards its caller's `Host` wants that); hyper-util's client writes one from
/// the rewritten URI when the request has none, and HTTP/2 carries the authority in the URI.
///
/// ```
/// use std::convert::Infallible;
/// use tower::{service_fn, ServiceExt};
/// use bulwark_http::{SetAuthority, Upstream};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let client = service_fn(|req: http::Request<()>| async move {
///     Ok::<_, Infallible>(req.uri().to_string())
/// });
/// let endpoint = SetAuthority::new(client, Upstream::parse("10.0.0.7:8080").unwrap());
/// let req = http::Request::get("/health").body(()).unwrap();
/// assert_eq!(endpoint.oneshot(req).await.unwrap(), "http://10.0.0.7:8080/health");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct SetAuthority<S> {
    inner: S,
    upstream: Upstream,
}

impl<S> SetAuthority<S> {
    /// Sends `inner`'s requests to `upstream`.
    ///
    /// ```
    /// use bulwark_http::{SetAuthority, Upstream};
    /// let endpoint = SetAuthority::new((), Upstream::parse("a:1").unwrap());
    /// assert_eq!(endpoint.upstream().to_string(), "http://a:1");
    /// ```
    pub const fn new(inner: S, upstream: Upstream) -> Self {
        Self { inner, upstream }
    }

    /// The upstream this endpoint sends to.
    ///
    /// ```
    /// use bulwark_http::{SetAuthority, Upstream};
    /// let endpoint = SetAuthority::new((), Upstream::parse("a:1").unwrap());
    /// assert_eq!(endpoint.upstream().authority(), "a:1");
    /// ```
    pub const fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// The inner service.
    ///
    /// ```
    /// use bulwark_http::{SetAuthority, Upstream};
    /// assert_eq!(SetAuthority::new(3, Upstream::parse("a:1").unwrap()).get_ref(), &3);
    /// ```
    pub const fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// use bulwark_http::{SetAuthority, Upstream};
    /// let mut endpoint = SetAuthority::new(3, Upstream::parse("a:1").unwrap());
    /// *endpoint.get_mut() += 1;
    /// assert_eq!(endpoint.into_inner(), 4);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    ///
    /// ```
    /// use bulwark_http::{SetAuthority, Upstream};
    /// assert_eq!(SetAuthority::new(3, Upstream::parse("a:1").unwrap()).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<http::Request<B>> for SetAuthority<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        // `Uri::default()` is a static `/`: taking the URI out costs nothing.
        let parts = std::mem::take(req.uri_mut()).into_parts();
        *req.uri_mut() = self.upstream.rewrite_parts(parts);
        self.inner.call(req)
    }
}

/// A balancer made by `layer` over one [`SetAuthority`] endpoint per upstream, each a clone
/// of `client`: requests are spread over the upstreams, and the balancer's outlier detection
/// ejects the ones that fail. The endpoints are keyed by their [`Upstream`], so a
/// `BalanceHandle` adds one with `handle.insert(upstream.clone(), SetAuthority::new(client.clone(), upstream))`
/// and removes one by its upstream.
///
/// A hyper-util `Client` is always ready, so an upstream that is down is found by its calls
/// failing (connection refused is a retryable error): configure outlier detection (for
/// instance ejection after a few consecutive failures), and put a retry layer with
/// `LastEndpointLayer` outside the balancer so that a request that failed on one upstream is
/// sent to another.
///
/// ```
/// use std::convert::Infallible;
/// use std::time::Duration;
/// use bulwark_balance::{BalanceLayer, OutlierDetection};
/// use bulwark_http::{balance_authorities, Upstream};
/// use tower::{service_fn, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// // Stands in for a hyper-util `Client`: answers with the URI it was asked for.
/// let client = service_fn(|req: http::Request<()>| async move {
///     Ok::<_, Infallible>(req.uri().authority().unwrap().to_string())
/// });
/// let layer = BalanceLayer::builder()
///     .outlier_detection(
///         OutlierDetection::builder()
///             .consecutive_failures(Some(3))
///             .base_ejection_time(Duration::from_secs(10))
///             .build()
///             .unwrap(),
///     )
///     .build();
/// let upstreams = ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"].map(|a| a.parse::<Upstream>().unwrap());
/// let mut lb = balance_authorities(&layer, client, upstreams);
/// assert_eq!(lb.handle().len(), 3);
///
/// let req = http::Request::get("/orders").body(()).unwrap();
/// let served_by = lb.ready().await.unwrap().call(req).await.unwrap();
/// assert!(served_by.starts_with("10.0.0."));
/// # }
/// ```
#[cfg(feature = "balance")]
#[cfg_attr(docsrs, doc(cfg(feature = "balance")))]
pub fn balance_authorities<S, I, C, A, L>(
    layer: &bulwark_balance::BalanceLayer<C, A, L>,
    client: S,
    upstreams: I,
) -> bulwark_balance::Balance<Upstream, L::Service, C, A>
where
    S: Clone,
    I: IntoIterator<Item = Upstream>,
    L: tower_layer::Layer<SetAuthority<S>>,
    C: Clone,
    A: Clone,
{
    layer.endpoints(upstreams.into_iter().map(|upstream| {
        let endpoint = SetAuthority::new(client.clone(), upstream.clone());
        (upstream, endpoint)
    }))
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::{service_fn, Service, ServiceExt};

    use super::*;

    #[test]
    fn upstreams_parse_and_refuse_nonsense() {
        let ok = |s: &str| Upstream::parse(s).unwrap().to_string();
        assert_eq!(ok("127.0.0.1:1"), "http://127.0.0.1:1");
        assert_eq!(ok("http://[::1]:80"), "http://[::1]:80");
        assert_eq!(ok("https://example.com/"), "https://example.com");
        assert_eq!(ok("localhost"), "http://localhost");
        for bad in [
            "",
            "http://",
            "://a",
            "ws://a:1",
            "a:1/path",
            "http://a:1?q=1",
            "http://user@a:1",
            "a b",
        ] {
            let err = Upstream::parse(bad).unwrap_err();
            assert_eq!(err.field(), "upstream", "{bad:?}");
        }
    }

    #[tokio::test]
    async fn requests_keep_their_path_query_and_headers() {
        let endpoint = SetAuthority::new(
            service_fn(|req: http::Request<()>| async move { Ok::<_, Infallible>(req) }),
            Upstream::parse("https://b:2").unwrap(),
        );
        let req = http::Request::post("http://a:1/x/y?z=1")
            .header("host", "a:1")
            .body(())
            .unwrap();
        let sent = endpoint.oneshot(req).await.unwrap();
        assert_eq!(sent.uri(), "https://b:2/x/y?z=1");
        assert_eq!(sent.method(), http::Method::POST);
        assert_eq!(sent.headers()["host"], "a:1");
    }

    #[tokio::test]
    async fn path_only_and_authority_only_requests_are_rewritten() {
        let mut endpoint = SetAuthority::new(
            service_fn(|req: http::Request<()>| async move { Ok::<_, Infallible>(req) }),
            Upstream::parse("b:2").unwrap(),
        );
        for (uri, want) in [
            ("/health", "http://b:2/health"),
            ("/x?y=1", "http://b:2/x?y=1"),
            ("/", "http://b:2/"),
            ("a:1", "http://b:2/"),
            ("http://a:1", "http://b:2/"),
        ] {
            let req = http::Request::get(uri).body(()).unwrap();
            let sent = endpoint.ready().await.unwrap().call(req).await.unwrap();
            assert_eq!(sent.uri().to_string(), want, "{uri:?}");
            let upstream = endpoint.upstream();
            assert_eq!(upstream.rewrite(&uri.parse().unwrap()), sent.uri().clone());
        }
    }
}

//! The layers that carry a deadline across a gRPC hop.

use std::time::Duration;

use bulwark_policy::ConfigError;
use tower_layer::Layer;

use super::{ReadGrpcTimeout, WriteGrpcTimeout};

/// For servers: reads each request's `grpc-timeout` into a [`Deadline`](crate::Deadline)
/// extension, so that a bulwark `TimeoutLayer` inside it enforces what the client asked for.
///
/// The timeout is capped at `max`, so a client cannot hold a server's resources for an hour by
/// asking. A malformed `grpc-timeout` is ignored, and a request without one gets no deadline
/// from this layer. A deadline already on the request is kept if it is earlier.
///
/// **On `tonic::transport::Server`**, tonic enforces `grpc-timeout` itself, outside every
/// layer it is given, and answers CANCELLED when it fires; since it starts its timer first,
/// it usually wins the race against the deadline this layer sets. This layer's deadline still reaches
/// the layers and the handler inside (a retry, a database call that honours the deadline), and
/// its cap is enforced; to answer DEADLINE_EXCEEDED yourself, serve the stack with hyper.
///
/// ```
/// use std::time::Duration;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
/// use bulwark_http::{Deadline, ReadGrpcTimeoutLayer};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let svc = ServiceBuilder::new()
///     .layer(ReadGrpcTimeoutLayer::new(Duration::from_secs(30)).unwrap())
///     .service(service_fn(|req: http::Request<()>| async move {
///         Ok::<_, std::convert::Infallible>(req.extensions().get::<Deadline>().map(|d| d.remaining()))
///     }));
/// let req = http::Request::builder().header("grpc-timeout", "250m").body(()).unwrap();
/// assert_eq!(svc.clone().oneshot(req).await.unwrap(), Some(Duration::from_millis(250)));
/// let req = http::Request::builder().header("grpc-timeout", "2H").body(()).unwrap();
/// assert_eq!(svc.oneshot(req).await.unwrap(), Some(Duration::from_secs(30)));
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ReadGrpcTimeoutLayer {
    max: Duration,
}

impl ReadGrpcTimeoutLayer {
    /// Reads `grpc-timeout`, capped at `max`, which must be positive.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_http::ReadGrpcTimeoutLayer;
    ///
    /// assert!(ReadGrpcTimeoutLayer::new(Duration::from_secs(10)).is_ok());
    /// assert_eq!(ReadGrpcTimeoutLayer::new(Duration::ZERO).unwrap_err().field(), "max");
    /// ```
    pub fn new(max: Duration) -> Result<Self, ConfigError> {
        if max.is_zero() {
            return Err(ConfigError::new(
                "max",
                "must be positive: a zero cap would expire every request",
            ));
        }
        Ok(Self { max })
    }

    /// The cap.
    ///
    /// ```
    /// use std::time::Duration;
    /// let layer = bulwark_http::ReadGrpcTimeoutLayer::new(Duration::from_secs(10)).unwrap();
    /// assert_eq!(layer.max(), Duration::from_secs(10));
    /// ```
    pub const fn max(&self) -> Duration {
        self.max
    }
}

impl<S> Layer<S> for ReadGrpcTimeoutLayer {
    type Service = ReadGrpcTimeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ReadGrpcTimeout::new(inner, self.max)
    }
}

/// For clients: writes what remains of each request's [`Deadline`](crate::Deadline) into its
/// `grpc-timeout` header, so that the server stops working when the client stops waiting.
///
/// Put it inside the layers that set the deadline (a bulwark `TimeoutLayer` or a retry with
/// a deadline), so each attempt carries what is left at the moment it is sent. A request with
/// no deadline is sent unchanged; one whose own `grpc-timeout` is already shorter keeps it.
///
/// **Over a tonic `Channel`**, the channel enforces the `grpc-timeout` of each request it
/// sends (until the response head arrives), and reports it as the error
/// `tonic::TimeoutExpired`, which `tonic::client::Grpc` turns into CANCELLED; bulwark's
/// classifiers see it as a transport error, not a timeout. The deadline's own `TimeoutLayer`
/// outside this layer starts its timer before the channel does, so it usually ends the call
/// first, as `Elapsed`; a plain HTTP/2 client (hyper-util's) enforces nothing of its own.
///
/// ```
/// use std::time::Duration;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
/// use bulwark_http::{Deadline, WriteGrpcTimeoutLayer};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let svc = ServiceBuilder::new()
///     .layer(WriteGrpcTimeoutLayer::new())
///     .service(service_fn(|req: http::Request<()>| async move {
///         Ok::<_, std::convert::Infallible>(req.headers().get("grpc-timeout").cloned())
///     }));
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(Deadline::after(Duration::from_secs(2)));
/// assert_eq!(svc.oneshot(req).await.unwrap().unwrap(), "2000000u");
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteGrpcTimeoutLayer(());

impl WriteGrpcTimeoutLayer {
    /// The layer.
    ///
    /// ```
    /// let layer = bulwark_http::WriteGrpcTimeoutLayer::new();
    /// # let _ = layer;
    /// ```
    pub const fn new() -> Self {
        Self(())
    }
}

impl<S> Layer<S> for WriteGrpcTimeoutLayer {
    type Service = WriteGrpcTimeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WriteGrpcTimeout::new(inner)
    }
}

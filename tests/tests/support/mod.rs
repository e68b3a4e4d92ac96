//! What the HTTP and gRPC tests share: servers on 127.0.0.1 (port 0) started by the test, a
//! hyper-util client, streaming bodies, and a hand-written gRPC service with prost messages.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body::Frame;
use http_body_util::StreamBody;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A server on 127.0.0.1 that serves HTTP/1 and HTTP/2 (prior knowledge) with hyper-util,
/// until it is shut down or dropped.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Server {
    /// Serves `svc` (any tower service of `http::Request<Incoming>`) on a port of its own.
    pub(crate) async fn start<S, B>(svc: S) -> Server
    where
        S: tower::Service<
                http::Request<hyper::body::Incoming>,
                Response = http::Response<B>,
                Error = Infallible,
            > + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tasks = Arc::new(Mutex::new(Vec::new()));
        let conns = tasks.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let svc = TowerToHyperService::new(svc.clone());
                let conn = tokio::spawn(async move {
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
                conns.lock().unwrap().push(conn);
            }
        });
        tasks.lock().unwrap().push(accept);
        Server { addr, tasks }
    }

    /// `http://127.0.0.1:port`.
    pub(crate) fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:port{path}`.
    pub(crate) fn url(&self, path: &str) -> http::Uri {
        format!("http://{}{path}", self.addr).parse().unwrap()
    }

    /// Stops accepting and closes every connection; once it returns, the port refuses
    /// connections.
    pub(crate) async fn shutdown(&self) {
        // Until the accept loop is gone it may add connections: drain until nothing is left.
        loop {
            let tasks: Vec<_> = self.tasks.lock().unwrap().drain(..).collect();
            if tasks.is_empty() {
                return;
            }
            for task in &tasks {
                task.abort();
            }
            for task in tasks {
                let _ = task.await;
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

/// A hyper-util legacy client over plain TCP, for bodies of type `B`.
pub(crate) fn client<B>() -> Client<HttpConnector, B>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
{
    Client::builder(TokioExecutor::new()).build_http()
}

/// A streaming body: `chunks` data frames of `chunk_len` bytes each, handed out one per poll
/// with a yield to the runtime between them, so that hyper sends it chunked, as it streams.
pub(crate) type Chunked =
    StreamBody<futures_util::stream::BoxStream<'static, Result<Frame<Bytes>, Infallible>>>;

/// The bytes [`chunked`] streams: byte `i` is `i % 251`, so a reordering or a lost chunk shows.
pub(crate) fn pattern(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into()
}

pub(crate) fn chunked(chunks: usize, chunk_len: usize) -> Chunked {
    use futures_util::StreamExt;
    let all = pattern(chunks * chunk_len);
    let stream = futures_util::stream::iter(0..chunks).then(move |i| {
        let chunk = all.slice(i * chunk_len..(i + 1) * chunk_len);
        async move {
            tokio::task::yield_now().await;
            Ok(Frame::data(chunk))
        }
    });
    StreamBody::new(stream.boxed())
}

/// A hand-written gRPC service, `test.Echo`, with prost messages and tonic's server codec.
pub(crate) mod echo {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll};
    use std::time::Duration;

    use http::uri::PathAndQuery;
    use tonic::body::Body;
    use tonic::server::{Grpc, NamedService, UnaryService};
    use tonic::Status;
    use tonic_prost::ProstCodec;

    use super::BoxFuture;

    /// The request message.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct EchoRequest {
        #[prost(string, tag = "1")]
        pub(crate) message: String,
        /// The status code the server answers with instead of echoing, if not 0.
        #[prost(int32, tag = "2")]
        pub(crate) fail_with: i32,
        /// How long the server takes to answer, in milliseconds.
        #[prost(uint64, tag = "3")]
        pub(crate) delay_ms: u64,
    }

    /// The answer message.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct EchoReply {
        #[prost(string, tag = "1")]
        pub(crate) message: String,
        /// How many calls the server had seen, this one included.
        #[prost(uint64, tag = "2")]
        pub(crate) call: u64,
    }

    pub(crate) const PATH: &str = "/test.Echo/Echo";

    /// What the server saw, shared by its clones.
    #[derive(Debug, Default)]
    pub(crate) struct Seen {
        /// Calls that reached the handler.
        pub(crate) calls: AtomicUsize,
        /// The `grpc-timeout` header of each request, as sent.
        pub(crate) grpc_timeouts: Mutex<Vec<Option<String>>>,
    }

    impl Seen {
        /// The `grpc-timeout` of each request, parsed; panics if a request had none or an
        /// invalid one.
        pub(crate) fn timeouts(&self) -> Vec<Duration> {
            self.grpc_timeouts
                .lock()
                .unwrap()
                .iter()
                .map(|value| {
                    let value = value
                        .as_deref()
                        .expect("every request carried grpc-timeout");
                    bulwark_http::parse_grpc_timeout(&value.parse().unwrap())
                        .expect("a valid grpc-timeout")
                })
                .collect()
        }
    }

    /// The service. The first `unavailable_first` calls fail with UNAVAILABLE; a request's
    /// `fail_with` makes its call fail with that code; the others are echoed.
    #[derive(Debug, Clone)]
    pub(crate) struct EchoServer {
        pub(crate) seen: Arc<Seen>,
        pub(crate) unavailable_first: usize,
    }

    impl EchoServer {
        pub(crate) fn new(unavailable_first: usize) -> Self {
            EchoServer {
                seen: Arc::default(),
                unavailable_first,
            }
        }
    }

    impl NamedService for EchoServer {
        const NAME: &'static str = "test.Echo";
    }

    struct Handler {
        seen: Arc<Seen>,
        unavailable_first: usize,
    }

    impl UnaryService<EchoRequest> for Handler {
        type Response = EchoReply;
        type Future = BoxFuture<Result<tonic::Response<EchoReply>, Status>>;

        fn call(&mut self, req: tonic::Request<EchoRequest>) -> Self::Future {
            let call = self.seen.calls.fetch_add(1, Ordering::SeqCst) + 1;
            let unavailable = call <= self.unavailable_first;
            Box::pin(async move {
                let req = req.into_inner();
                if req.delay_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(req.delay_ms)).await;
                }
                if unavailable {
                    return Err(Status::unavailable(format!("call {call}: warming up")));
                }
                if req.fail_with != 0 {
                    return Err(Status::new(tonic::Code::from(req.fail_with), "as asked"));
                }
                Ok(tonic::Response::new(EchoReply {
                    message: req.message,
                    call: call as u64,
                }))
            })
        }
    }

    impl<B> tower::Service<http::Request<B>> for EchoServer
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
    {
        type Response = http::Response<Body>;
        type Error = Infallible;
        type Future = BoxFuture<Result<http::Response<Body>, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: http::Request<B>) -> Self::Future {
            let timeout = req
                .headers()
                .get("grpc-timeout")
                .map(|v| v.to_str().unwrap_or("?").to_owned());
            self.seen.grpc_timeouts.lock().unwrap().push(timeout);
            let handler = Handler {
                seen: self.seen.clone(),
                unavailable_first: self.unavailable_first,
            };
            Box::pin(async move {
                if req.uri().path() != PATH {
                    return Ok(Status::unimplemented("no such method").into_http());
                }
                let mut grpc = Grpc::new(ProstCodec::<EchoReply, EchoRequest>::default());
                Ok(grpc.unary(handler, req).await)
            })
        }
    }

    /// Calls `test.Echo/Echo` on `svc` (a channel, or a stack over one).
    pub(crate) async fn call<T>(
        svc: T,
        req: tonic::Request<EchoRequest>,
    ) -> Result<tonic::Response<EchoReply>, Status>
    where
        T: tonic::client::GrpcService<Body>,
        T::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        <T::ResponseBody as http_body::Body>::Error:
            Into<Box<dyn std::error::Error + Send + Sync>> + Send,
    {
        call_at(svc, None, req).await
    }

    /// Calls `test.Echo/Echo` on `svc`, with request URIs under `origin` if given (a plain
    /// HTTP client needs them absolute; a channel adds its own).
    pub(crate) async fn call_at<T>(
        svc: T,
        origin: Option<http::Uri>,
        req: tonic::Request<EchoRequest>,
    ) -> Result<tonic::Response<EchoReply>, Status>
    where
        T: tonic::client::GrpcService<Body>,
        T::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        <T::ResponseBody as http_body::Body>::Error:
            Into<Box<dyn std::error::Error + Send + Sync>> + Send,
    {
        let mut grpc = match origin {
            Some(origin) => tonic::client::Grpc::with_origin(svc, origin),
            None => tonic::client::Grpc::new(svc),
        };
        grpc.ready()
            .await
            .map_err(|e| Status::unknown(format!("not ready: {}", e.into())))?;
        let codec = ProstCodec::<EchoRequest, EchoReply>::default();
        grpc.unary(req, PathAndQuery::from_static(PATH), codec)
            .await
    }

    /// An echo request.
    pub(crate) fn request(message: &str) -> EchoRequest {
        EchoRequest {
            message: message.to_owned(),
            ..EchoRequest::default()
        }
    }
}

//! A tonic client and server in one process, the client inside bulwark's standard gRPC stack.
//!
//! ```sh
//! cargo run --example tonic_grpc
//! ```
//!
//! There is no `.proto` file and no `protoc`: the messages are prost structs written by hand,
//! and the service and client are the few lines tonic's code generator would write, using
//! `tonic::server::Grpc` and `tonic::client::Grpc` with `tonic_prost::ProstCodec`.
//!
//! - The **server** answers `greet.Greeter/SayHello`, inside `preset::standard_grpc_server()`
//!   (a timeout honouring the client's `grpc-timeout`, load shedding, errors as gRPC
//!   statuses). It fails two calls in three with UNAVAILABLE, every call for the name "down"
//!   too, and answers an empty name with INVALID_ARGUMENT.
//! - The **client** is a tonic `Channel` inside `preset::standard_grpc_client()`: the gRPC
//!   classifier retries UNAVAILABLE (and not INVALID_ARGUMENT, which the breaker ignores
//!   too), each attempt sends what is left of its time as `grpc-timeout`, and bulwark's own
//!   errors reach the caller as `tonic::Status`es through `bulwark_http::status_from_error`.
//!
//! It makes a few calls, trips the breaker with "down" (three failed attempts in a row), shows
//! the status its rejection becomes, and exits.

// An example reports what happened on standard output.
#![allow(clippy::print_stdout)]

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::uri::PathAndQuery;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Endpoint, Server};
use tonic::Status;
use tonic_prost::ProstCodec;
use tower::{Service, ServiceBuilder};
use tower_bulwark::http::{status_from_error, ReadGrpcTimeoutLayer};
use tower_bulwark::policy::{Event, EventKind, FnHook};
use tower_bulwark::prelude::*;

/// `message HelloRequest { string name = 1; }`
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloRequest {
    /// Who to greet.
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `message HelloReply { string message = 1; }`
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloReply {
    /// The greeting.
    #[prost(string, tag = "1")]
    pub message: String,
}

const SAY_HELLO: &str = "/greet.Greeter/SayHello";

// ---- the server ----

/// The `SayHello` method: UNAVAILABLE for two calls in three and for the name "down",
/// INVALID_ARGUMENT for no name.
#[derive(Clone)]
struct SayHello {
    calls: Arc<AtomicU64>,
}

impl tonic::server::UnaryService<HelloRequest> for SayHello {
    type Response = HelloReply;
    type Future = std::future::Ready<Result<tonic::Response<HelloReply>, Status>>;

    fn call(&mut self, request: tonic::Request<HelloRequest>) -> Self::Future {
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        let timeout = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none")
            .to_owned();
        let name = request.into_inner().name;
        println!("    server: call #{n} for {name:?}, grpc-timeout {timeout}");
        std::future::ready(if name.is_empty() {
            Err(Status::invalid_argument("a name is needed"))
        } else if name == "down" {
            Err(Status::unavailable("down for maintenance"))
        } else if n % 3 != 2 {
            Err(Status::unavailable("warming up"))
        } else {
            Ok(tonic::Response::new(HelloReply {
                message: format!("hello, {name}"),
            }))
        })
    }
}

/// The `greet.Greeter` service, as tonic's generated code would route it.
#[derive(Clone)]
struct GreeterServer {
    say_hello: SayHello,
}

impl tonic::server::NamedService for GreeterServer {
    const NAME: &'static str = "greet.Greeter";
}

impl Service<http::Request<tonic::body::Body>> for GreeterServer {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        if req.uri().path() == SAY_HELLO {
            let method = self.say_hello.clone();
            Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(ProstCodec::default());
                Ok(grpc.unary(method, req).await)
            })
        } else {
            Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) })
        }
    }
}

// ---- the client ----

/// A `greet.Greeter` client over any gRPC service `T`, as tonic's generated code would write it.
struct GreeterClient<T> {
    inner: tonic::client::Grpc<T>,
}

impl<T> GreeterClient<T>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<BoxError>,
    T::ResponseBody: tonic::codegen::Body<Data = bytes::Bytes> + Send + 'static,
    <T::ResponseBody as tonic::codegen::Body>::Error: Into<BoxError> + Send,
{
    async fn say_hello(&mut self, name: &str) -> Result<HelloReply, Status> {
        self.inner
            .ready()
            .await
            .map_err(|e| Status::unknown(format!("not ready: {}", e.into())))?;
        let request = tonic::Request::new(HelloRequest {
            name: name.to_owned(),
        });
        let path = PathAndQuery::from_static(SAY_HELLO);
        let response = self
            .inner
            .unary(request, path, ProstCodec::default())
            .await?;
        Ok(response.into_inner())
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // The server, on a port of its own.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server_stack = ServiceBuilder::new()
        .layer(ReadGrpcTimeoutLayer::new(Duration::from_secs(30))?)
        .layer(
            preset::standard_grpc_server()
                .timeout(Duration::from_secs(5))
                .build()?,
        )
        .into_inner();
    let greeter = GreeterServer {
        say_hello: SayHello {
            calls: Arc::new(AtomicU64::new(0)),
        },
    };
    tokio::spawn(
        Server::builder()
            .layer(server_stack)
            .add_service(greeter)
            .serve_with_incoming(TcpIncoming::from(listener)),
    );

    // The client: a Channel inside the standard gRPC stack, errors as tonic::Status.
    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let retries = Arc::new(AtomicU64::new(0));
    let counter = retries.clone();
    let layer = preset::standard_grpc_client()
        .total_timeout(Duration::from_secs(2))
        .attempt_timeout(Duration::from_millis(500))
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(20)))
        .consecutive_failures(3)
        .name("greeter")
        .hook(FnHook::new(move |event: &Event<'_>| {
            if let EventKind::RetryAttempt {
                attempt, reason, ..
            } = event.kind()
            {
                counter.fetch_add(1, Ordering::Relaxed);
                println!(
                    "    client: retry, attempt {attempt}, after {:?}",
                    reason.kind
                );
            }
        }))
        .build()?;
    let breaker = layer.breaker_handle();
    let stack = ServiceBuilder::new()
        .map_err(status_from_error)
        .layer(layer)
        .map_request(|req: http::Request<ReplayBody<tonic::body::Body>>| {
            req.map(tonic::body::Body::new)
        })
        .service(channel);
    let mut client = GreeterClient {
        inner: tonic::client::Grpc::new(stack),
    };
    println!("server on {addr}\n");

    // "down" fails all three attempts, and three failures in a row trip the breaker.
    for name in ["ada", "grace", "", "down"] {
        match client.say_hello(name).await {
            Ok(reply) => println!("SayHello({name:?}) -> {:?}\n", reply.message),
            Err(status) => println!(
                "SayHello({name:?}) -> {:?}: {}\n",
                status.code(),
                status.message()
            ),
        }
    }

    // The open breaker's rejection reaches the caller as UNAVAILABLE, with the time to wait,
    // and the server never sees the call.
    match client.say_hello("edsger").await {
        Ok(reply) => println!("SayHello(\"edsger\") -> {:?} (unexpected)", reply.message),
        Err(status) => println!(
            "SayHello(\"edsger\") -> {:?}: {}, grpc-retry-pushback-ms {:?}",
            status.code(),
            status.message(),
            status.metadata().get("grpc-retry-pushback-ms"),
        ),
    }
    println!(
        "\nretries: {}, breaker: {:?}",
        retries.load(Ordering::Relaxed),
        breaker.state()
    );
    Ok(())
}

//! gRPC: status codes, the classifier, `grpc-timeout` and `grpc-retry-pushback-ms`.

pub(crate) mod classify;
pub(crate) mod code;
pub(crate) mod deadline;
pub(crate) mod pushback;
pub(crate) mod timeout;

//! tonic: bulwark's errors as `tonic::Status`es, and the gRPC classifier on tonic's results.

use std::sync::Arc;

use bulwark_policy::{classify_error, BoxError, Classify, FailureKind, Outcome};

use crate::grpc::pushback::parse_pushback_bytes;
use crate::{Code, GrpcClassifier, GRPC_RETRY_PUSHBACK_MS};

/// The `tonic::Status` for an error of a bulwark stack, so a tonic server or client reports
/// bulwark's errors with the codes gRPC clients know what to do with:
///
/// | error | code | metadata |
/// |---|---|---|
/// | [`Rejected`](bulwark_policy::Rejected) (a breaker is open) | UNAVAILABLE | `grpc-retry-pushback-ms`, rounded up, when the breaker knows |
/// | [`Elapsed`](bulwark_policy::Elapsed) (a timeout) | DEADLINE_EXCEEDED | |
/// | [`NoEndpoint`](bulwark_policy::NoEndpoint) | UNAVAILABLE | |
/// | a `tonic::Status` | itself | |
/// | anything else | UNKNOWN, as `tonic::Status::from_error` does | |
///
/// Errors are recognised through their `source()` chain; the error is kept as the status's
/// source.
///
/// ```
/// use std::time::Duration;
/// use bulwark_policy::{BoxError, Rejected};
/// use bulwark_http::status_from_error;
///
/// let err: BoxError = Rejected::new(Some(Duration::from_millis(1500))).into();
/// let status = status_from_error(err);
/// assert_eq!(status.code(), tonic::Code::Unavailable);
/// assert_eq!(status.metadata().get("grpc-retry-pushback-ms").unwrap(), "1500");
/// ```
pub fn status_from_error(err: BoxError) -> tonic::Status {
    let failure = classify_error(&err);
    let code = match failure.kind {
        FailureKind::Rejected | FailureKind::NoEndpoint => tonic::Code::Unavailable,
        FailureKind::Timeout => tonic::Code::DeadlineExceeded,
        _ => return tonic::Status::from_error(err),
    };
    let mut status = tonic::Status::new(code, err.to_string());
    if failure.kind == FailureKind::Rejected {
        if let Some(wait) = failure.retry_after {
            let ms = wait.as_nanos().div_ceil(1_000_000);
            let ms = u64::try_from(ms).unwrap_or(u64::MAX);
            status
                .metadata_mut()
                .insert("grpc-retry-pushback-ms", ms.into());
        }
    }
    status.set_source(Arc::from(err));
    status
}

impl From<tonic::Code> for Code {
    /// ```
    /// assert_eq!(bulwark_http::Code::from(tonic::Code::Unavailable), bulwark_http::Code::Unavailable);
    /// ```
    fn from(code: tonic::Code) -> Code {
        Code::from_u32(u32::try_from(i32::from(code)).unwrap_or(u32::MAX))
    }
}

impl From<Code> for tonic::Code {
    /// ```
    /// assert_eq!(tonic::Code::from(bulwark_http::Code::Internal), tonic::Code::Internal);
    /// ```
    fn from(code: Code) -> tonic::Code {
        tonic::Code::from(i32::from(code as u8))
    }
}

/// On tonic's own results, as a generated client returns them: `Ok` is a success, and a
/// `Status` is classified by its code and its `grpc-retry-pushback-ms` metadata exactly as a
/// trailers-only answer is. A status made from a transport error has code UNKNOWN or
/// UNAVAILABLE, as tonic assigns it.
///
/// ```
/// use bulwark_policy::Classify;
/// use bulwark_http::GrpcClassifier;
///
/// let unavailable: Result<tonic::Response<()>, tonic::Status> = Err(tonic::Status::unavailable("down"));
/// assert!(GrpcClassifier::new().classify(&unavailable).is_retryable());
/// let not_found: Result<tonic::Response<()>, tonic::Status> = Err(tonic::Status::not_found("no"));
/// assert_eq!(GrpcClassifier::new().classify(&not_found), bulwark_policy::Outcome::Ignore);
/// ```
impl<T> Classify<tonic::Response<T>, tonic::Status> for GrpcClassifier {
    fn classify(&self, result: &Result<tonic::Response<T>, tonic::Status>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(status) => {
                let pushback = status
                    .metadata()
                    .get(GRPC_RETRY_PUSHBACK_MS.as_str())
                    .map(|v| parse_pushback_bytes(v.as_bytes(), self.max_pushback()));
                self.classify_code(Code::from(status.code()), pushback)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bulwark_policy::{Elapsed, NoEndpoint, Rejected};

    use super::*;

    #[test]
    fn errors_become_statuses() {
        let status = status_from_error(Rejected::new(None).into());
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert!(status.metadata().get("grpc-retry-pushback-ms").is_none());
        let status = status_from_error(Rejected::new(Some(Duration::from_nanos(1))).into());
        assert_eq!(
            status.metadata().get("grpc-retry-pushback-ms").unwrap(),
            "1"
        );

        let status = status_from_error(Elapsed::new().into());
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
        assert_eq!(status.message(), "request timed out");
        let source = std::error::Error::source(&status).unwrap();
        assert!(source.is::<Elapsed>());

        let status = status_from_error(NoEndpoint::new().into());
        assert_eq!(status.code(), tonic::Code::Unavailable);
        let status = status_from_error(tonic::Status::permission_denied("no").into());
        assert_eq!(status.code(), tonic::Code::PermissionDenied);
        let status = status_from_error("boom".into());
        assert_eq!(
            (status.code(), status.message()),
            (tonic::Code::Unknown, "boom")
        );
    }

    #[test]
    fn codes_convert_both_ways() {
        for n in 0..=16u32 {
            let ours = Code::from_u32(n);
            assert_eq!(Code::from(tonic::Code::from(ours)), ours);
            assert_eq!(i32::from(tonic::Code::from(ours)), n as i32);
        }
    }

    #[test]
    fn statuses_are_classified_with_their_pushback() {
        let c = GrpcClassifier::new();
        let err = |status: tonic::Status| c.classify(&Err::<tonic::Response<()>, _>(status));
        let mut exhausted = tonic::Status::resource_exhausted("slow down");
        exhausted
            .metadata_mut()
            .insert("grpc-retry-pushback-ms", "250".parse().unwrap());
        let f = err(exhausted).failure().unwrap();
        assert!(f.retryable);
        assert_eq!(f.retry_after, Some(Duration::from_millis(250)));
        let mut refused = tonic::Status::unavailable("stop");
        refused
            .metadata_mut()
            .insert("grpc-retry-pushback-ms", "-1".parse().unwrap());
        assert!(!err(refused).is_retryable());
        assert_eq!(err(tonic::Status::ok("")), Outcome::Success);
        assert_eq!(
            c.classify(&Ok::<_, tonic::Status>(tonic::Response::new(()))),
            Outcome::Success
        );
    }
}

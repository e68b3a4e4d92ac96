//! gRPC status codes, and small sets of them.

use std::fmt;

use http::HeaderValue;

/// The name of the header carrying a gRPC status, `grpc-status`.
///
/// ```
/// assert_eq!(bulwark_http::GRPC_STATUS.as_str(), "grpc-status");
/// ```
pub const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");

/// A gRPC status code, as the gRPC spec numbers them.
///
/// bulwark-http keeps its own copy so that the default build needs no tonic; the numbers are
/// the protocol's, so converting to and from any gRPC library's codes is `as u8`.
///
/// ```
/// use bulwark_http::Code;
///
/// assert_eq!(Code::Unavailable as u8, 14);
/// assert_eq!(Code::from_u32(14), Code::Unavailable);
/// assert_eq!(Code::from_u32(99), Code::Unknown); // as the spec says
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Code {
    /// Not an error.
    Ok = 0,
    /// The operation was cancelled, typically by the caller.
    Cancelled = 1,
    /// An unknown error, or a status this crate does not know.
    Unknown = 2,
    /// The client sent an invalid argument.
    InvalidArgument = 3,
    /// The deadline expired before the operation could complete.
    DeadlineExceeded = 4,
    /// Some requested entity was not found.
    NotFound = 5,
    /// The entity the client tried to create already exists.
    AlreadyExists = 6,
    /// The caller may not perform this operation.
    PermissionDenied = 7,
    /// Some resource has been exhausted: a quota, or the server's capacity.
    ResourceExhausted = 8,
    /// The system is not in a state the operation requires.
    FailedPrecondition = 9,
    /// The operation was aborted, typically by a concurrency conflict.
    Aborted = 10,
    /// The operation went past the valid range.
    OutOfRange = 11,
    /// The operation is not implemented or not supported.
    Unimplemented = 12,
    /// An internal error.
    Internal = 13,
    /// The service is currently unavailable; most likely transient.
    Unavailable = 14,
    /// Unrecoverable data loss or corruption.
    DataLoss = 15,
    /// The request lacks valid credentials.
    Unauthenticated = 16,
}

const ALL: [Code; 17] = [
    Code::Ok,
    Code::Cancelled,
    Code::Unknown,
    Code::InvalidArgument,
    Code::DeadlineExceeded,
    Code::NotFound,
    Code::AlreadyExists,
    Code::PermissionDenied,
    Code::ResourceExhausted,
    Code::FailedPrecondition,
    Code::Aborted,
    Code::OutOfRange,
    Code::Unimplemented,
    Code::Internal,
    Code::Unavailable,
    Code::DataLoss,
    Code::Unauthenticated,
];

impl Code {
    /// The code numbered `n`; numbers the spec does not define are [`Code::Unknown`].
    ///
    /// ```
    /// assert_eq!(bulwark_http::Code::from_u32(8), bulwark_http::Code::ResourceExhausted);
    /// ```
    pub const fn from_u32(n: u32) -> Code {
        if n < ALL.len() as u32 {
            ALL[n as usize]
        } else {
            Code::Unknown
        }
    }

    /// Reads a `grpc-status` value: a decimal number. A value that is not one is `None`.
    ///
    /// ```
    /// use http::HeaderValue;
    /// use bulwark_http::Code;
    ///
    /// assert_eq!(Code::parse(&HeaderValue::from_static("14")), Some(Code::Unavailable));
    /// assert_eq!(Code::parse(&HeaderValue::from_static("1000")), Some(Code::Unknown));
    /// assert_eq!(Code::parse(&HeaderValue::from_static("UNAVAILABLE")), None);
    /// ```
    pub fn parse(value: &HeaderValue) -> Option<Code> {
        let bytes = super::timeout::trim(value.as_bytes());
        if bytes.is_empty() || bytes.len() > 10 || !bytes.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = bytes
            .iter()
            .fold(0u64, |acc, b| acc * 10 + u64::from(b - b'0'));
        Some(u32::try_from(n).map_or(Code::Unknown, Code::from_u32))
    }

    /// The code gRPC assigns to an HTTP answer that carries no `grpc-status`, following the
    /// spec's "HTTP to gRPC status code mapping".
    ///
    /// ```
    /// use http::StatusCode;
    /// use bulwark_http::Code;
    ///
    /// assert_eq!(Code::from_http_status(StatusCode::SERVICE_UNAVAILABLE), Code::Unavailable);
    /// assert_eq!(Code::from_http_status(StatusCode::NOT_FOUND), Code::Unimplemented);
    /// ```
    pub fn from_http_status(status: http::StatusCode) -> Code {
        match status.as_u16() {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }

    /// The spec's name for the code, such as `UNAVAILABLE`.
    ///
    /// ```
    /// assert_eq!(bulwark_http::Code::DeadlineExceeded.as_str(), "DEADLINE_EXCEEDED");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Cancelled => "CANCELLED",
            Code::Unknown => "UNKNOWN",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::DataLoss => "DATA_LOSS",
            Code::Unauthenticated => "UNAUTHENTICATED",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A set of gRPC [`Code`]s: a copyable bit set, so classifying never allocates.
///
/// ```
/// use bulwark_http::{Code, CodeSet};
///
/// let set = CodeSet::new().with(Code::Unavailable).with(Code::Internal);
/// assert!(set.contains(Code::Internal));
/// assert!(!set.without(Code::Internal).contains(Code::Internal));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CodeSet(u32);

impl CodeSet {
    /// The empty set.
    ///
    /// ```
    /// assert!(!bulwark_http::CodeSet::new().contains(bulwark_http::Code::Ok));
    /// ```
    pub const fn new() -> Self {
        Self(0)
    }

    /// The set with `code` added.
    ///
    /// ```
    /// use bulwark_http::{Code, CodeSet};
    /// assert!(CodeSet::new().with(Code::Aborted).contains(Code::Aborted));
    /// ```
    pub const fn with(self, code: Code) -> Self {
        Self(self.0 | 1 << code as u8)
    }

    /// The set with `code` removed.
    ///
    /// ```
    /// use bulwark_http::{Code, CodeSet};
    /// assert!(!CodeSet::new().with(Code::Aborted).without(Code::Aborted).contains(Code::Aborted));
    /// ```
    pub const fn without(self, code: Code) -> Self {
        Self(self.0 & !(1 << code as u8))
    }

    /// Whether `code` is in the set.
    ///
    /// ```
    /// use bulwark_http::{Code, CodeSet};
    /// assert!(!CodeSet::new().contains(Code::Unavailable));
    /// ```
    pub const fn contains(self, code: Code) -> bool {
        self.0 & 1 << code as u8 != 0
    }

    /// Whether every code of `self` is in `other`.
    ///
    /// ```
    /// use bulwark_http::{Code, CodeSet};
    /// let one = CodeSet::new().with(Code::Internal);
    /// assert!(one.is_subset(one.with(Code::DataLoss)));
    /// ```
    pub const fn is_subset(self, other: CodeSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// The codes in the set, in numeric order.
    ///
    /// ```
    /// use bulwark_http::{Code, CodeSet};
    /// let set = CodeSet::new().with(Code::Unavailable).with(Code::Unknown);
    /// assert_eq!(set.iter().collect::<Vec<_>>(), [Code::Unknown, Code::Unavailable]);
    /// ```
    pub fn iter(self) -> impl Iterator<Item = Code> {
        ALL.into_iter().filter(move |&c| self.contains(c))
    }
}

impl FromIterator<Code> for CodeSet {
    fn from_iter<I: IntoIterator<Item = Code>>(iter: I) -> Self {
        iter.into_iter().fold(CodeSet::new(), CodeSet::with)
    }
}

impl fmt::Debug for CodeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for (n, code) in ALL.iter().enumerate() {
            assert_eq!(*code as usize, n);
            assert_eq!(Code::from_u32(n as u32), *code);
        }
        assert_eq!(Code::from_u32(17), Code::Unknown);
        assert_eq!(Code::from_u32(u32::MAX), Code::Unknown);
    }

    #[test]
    fn parses_status_values() {
        let parse = |b: &[u8]| Code::parse(&HeaderValue::from_bytes(b).unwrap());
        assert_eq!(parse(b"0"), Some(Code::Ok));
        assert_eq!(parse(b" 4 "), Some(Code::DeadlineExceeded));
        assert_eq!(parse(b"99999999999"), None);
        assert_eq!(parse(b"4294967296"), Some(Code::Unknown));
        for bad in [&b""[..], b"-1", b"1.0", b"ok", b"\xff"] {
            assert_eq!(parse(bad), None);
        }
    }
}

//! The error the balancer adds.
//!
//! [`NoEndpoint`] is defined in bulwark-policy so that the shared classifier recognises it
//! (kind `NoEndpoint`, retryable); it is re-exported here, where users look for it.
//!
//! ```
//! use bulwark_balance::error::NoEndpoint;
//! use bulwark_policy::BoxError;
//!
//! let err: BoxError = NoEndpoint::new().into();
//! assert!(err.is::<NoEndpoint>());
//! ```

pub use bulwark_policy::NoEndpoint;

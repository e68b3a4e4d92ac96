//! bulwark: fault-tolerance middleware for tower.
//!
//! This is the facade crate. Today it re-exports [`bulwark_policy`], the shared vocabulary
//! every layer uses, as [`policy`]. Each layer crate joins it behind a feature of its own as it
//! lands, together with a prelude, `ServiceBuilderExt` and the standard client and server
//! stacks.
//!
//! ```
//! use tower_bulwark::policy::{Backoff, RetryBudget};
//!
//! let backoff = Backoff::default();
//! assert!(backoff.validate().is_ok());
//! ```
#![forbid(unsafe_code)]

pub use bulwark_policy as policy;

// The README's examples run as doctests, so the front page cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

//! Runnable examples of bulwark, each started with `cargo run --example NAME` from the
//! workspace root.
//!
//! The reusable part of each example lives here, so that the tests can run it too:
//!
//! - [`demo`]: an outage on loopback, with and without bulwark, side by side
//!   (`cargo run --release --example demo`).
#![forbid(unsafe_code)]

pub mod demo;

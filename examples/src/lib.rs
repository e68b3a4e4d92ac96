//! Runnable examples of bulwark, each started with `cargo run --example NAME`.
//!
//! The demo, an outage scenario on loopback, is planned as the first of them; it needs the
//! layers and the HTTP crate first.

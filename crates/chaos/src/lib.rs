//! Fault injection for tower stacks.
//!
//! This crate is planned to hold `ChaosLayer`, which injects errors, latency, chosen responses
//! and outage windows at seeded rates, for bulwark's tests, demo and benchmarks and for chaos
//! drills.
//!
//! **It holds nothing yet.**
#![forbid(unsafe_code)]

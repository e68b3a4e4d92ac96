//! Open-loop load: requests start on a fixed schedule, whether or not earlier ones finished.
//!
//! A closed loop (send, wait, send) slows down when the server does, so it sends fewer
//! requests exactly when things go wrong and hides the latency users would see; this is the
//! "coordinated omission" Gil Tene named. Here request `i` is due at `start + i / rps`, and its
//! latency is measured from when it was due, so a generator that falls behind on a busy
//! machine still charges the delay to the request.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bulwark_policy::BoxError;
use tokio::time::Instant;

use super::client::{DemoResponse, FALLBACK_HEADER};

/// What a request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A 2xx from a replica.
    Ok,
    /// The fallback's stand-in.
    Fallback,
    /// An error, or a status that is not 2xx.
    Failed,
}

impl Answer {
    pub(crate) fn of(result: &Result<DemoResponse, BoxError>) -> Self {
        match result {
            Ok(res) if res.headers().contains_key(FALLBACK_HEADER) => Answer::Fallback,
            Ok(res) if res.status().is_success() => Answer::Ok,
            _ => Answer::Failed,
        }
    }
}

/// One finished request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// When it was due, from the scenario's start.
    pub due: Duration,
    /// From when it was due until its answer was read in full.
    pub latency: Duration,
    /// What it got.
    pub answer: Answer,
}

/// Collects one client's records, with running counts for the status line.
#[derive(Debug)]
pub(crate) struct Recorder {
    start: Instant,
    done: AtomicU64,
    ok: AtomicU64,
    records: Mutex<Vec<Record>>,
}

impl Recorder {
    pub(crate) fn new(start: Instant, expected: usize) -> Self {
        Self {
            start,
            done: AtomicU64::new(0),
            ok: AtomicU64::new(0),
            records: Mutex::new(Vec::with_capacity(expected)),
        }
    }

    /// Sends one request through `send` at `due` and records what it got.
    pub(crate) fn track<F>(self: &Arc<Self>, due: Instant, send: F) -> impl Future<Output = ()>
    where
        F: Future<Output = Result<DemoResponse, BoxError>>,
    {
        let this = self.clone();
        async move {
            let result = send.await;
            let record = Record {
                due: due.saturating_duration_since(this.start),
                latency: due.elapsed(),
                answer: Answer::of(&result),
            };
            if record.answer == Answer::Ok {
                this.ok.fetch_add(1, Ordering::Relaxed);
            }
            this.done.fetch_add(1, Ordering::Relaxed);
            this.records
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(record);
        }
    }

    /// Requests finished so far, and how many of them got a 2xx from a replica.
    pub(crate) fn progress(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.ok.load(Ordering::Relaxed),
        )
    }

    pub(crate) fn records(&self) -> Vec<Record> {
        let mut records = self
            .records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        records.sort_by_key(|r| r.due);
        records
    }
}

//! What the retry tests share: a scripted upstream that records when it was called.

#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::fmt;
use std::future::{ready, Ready};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bulwark_policy::{Failure, FailureKind, Outcome};
use tokio::time::Instant;
use tower::Service;

/// The upstream's error: which call (from 0) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Boom(pub u32);

impl fmt::Display for Boom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call {} failed", self.0)
    }
}

impl std::error::Error for Boom {}

/// When each call arrived; clones share the record.
#[derive(Debug, Clone, Default)]
pub struct Calls(Arc<Mutex<Vec<Instant>>>);

impl Calls {
    pub fn record(&self) -> u32 {
        let mut calls = self.0.lock().unwrap();
        calls.push(Instant::now());
        calls.len() as u32 - 1
    }

    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// The gap before each call after the first.
    pub fn gaps(&self) -> Vec<Duration> {
        let calls = self.0.lock().unwrap();
        calls.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

/// An upstream that answers at once with `answer(call_number, request)`.
pub struct Upstream<F> {
    answer: Arc<F>,
    pub calls: Calls,
}

impl<F> Clone for Upstream<F> {
    fn clone(&self) -> Self {
        Self {
            answer: self.answer.clone(),
            calls: self.calls.clone(),
        }
    }
}

pub fn upstream<F>(answer: F) -> Upstream<F> {
    Upstream {
        answer: Arc::new(answer),
        calls: Calls::default(),
    }
}

/// An upstream that always fails.
pub fn failing() -> Upstream<impl Fn(u32, u32) -> Result<u32, Boom>> {
    upstream(|n, _req: u32| Err(Boom(n)))
}

impl<F, Req, Res> Service<Req> for Upstream<F>
where
    F: Fn(u32, Req) -> Result<Res, Boom>,
{
    type Response = Res;
    type Error = Boom;
    type Future = Ready<Result<Res, Boom>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Boom>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let n = self.calls.record();
        ready((self.answer)(n, req))
    }
}

/// An HTTP-like answer: a status and the server's Retry-After.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
}

impl Answer {
    pub fn ok() -> Self {
        Self {
            status: 200,
            retry_after: None,
        }
    }

    pub fn unavailable(retry_after: Option<Duration>) -> Self {
        Self {
            status: 503,
            retry_after,
        }
    }
}

/// Classifies a 503 as a retryable overload carrying the server's `retry_after`.
pub fn by_status(result: &Result<Answer, Boom>) -> Outcome {
    match result {
        Ok(a) if a.status == 503 => Outcome::Failure(
            Failure::new(FailureKind::Overloaded)
                .retryable(true)
                .retry_after(a.retry_after),
        ),
        Ok(a) if a.status >= 500 => Outcome::Failure(Failure::new(FailureKind::Status)),
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure(Failure::new(FailureKind::Error).retryable(true)),
    }
}

/// For services that cannot fail.
pub type Never = Infallible;

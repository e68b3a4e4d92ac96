//! What the chaos tests share: a ready inner service that counts its calls, and a way to poll
//! a future once.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::future::{ready, Future, Ready};
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use tower::Service;

/// Always ready; answers with the request, and counts how often it was called.
#[derive(Debug, Clone, Default)]
pub(crate) struct Echo {
    calls: Arc<AtomicUsize>,
}

impl Echo {
    pub(crate) fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }
}

impl Service<u32> for Echo {
    type Response = u32;
    type Error = io::Error;
    type Future = Ready<Result<u32, io::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, n: u32) -> Self::Future {
        self.calls.fetch_add(1, Ordering::Relaxed);
        ready(Ok(n))
    }
}

/// Polls `fut` once, with a waker that does nothing.
pub(crate) fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
    pin!(fut).poll(&mut Context::from_waker(Waker::noop()))
}

/// Readies `svc`, calls it and polls the answer once; for calls that need no time.
pub(crate) fn call_now<S: Service<u32>>(
    svc: &mut S,
    n: u32,
) -> Poll<Result<S::Response, S::Error>> {
    match poll_once(std::future::poll_fn(|cx| svc.poll_ready(cx))) {
        Poll::Ready(Ok(())) => poll_once(svc.call(n)),
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => panic!("the inner service is always ready"),
    }
}

//! Endpoints whose readiness, latency and failures a test controls, and helpers to drive a
//! balancer by hand.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bulwark_policy::BoxError;
use tower::{Service, ServiceExt};

/// The shared controls of one test endpoint; every clone of the endpoint obeys them.
#[derive(Debug, Default)]
pub struct Controls {
    pub unready: AtomicBool,
    pub ready_error: AtomicBool,
    pub fail: AtomicBool,
    /// Fails every n-th call when above zero.
    pub fail_every: AtomicUsize,
    pub latency_ms: AtomicUsize,
    pub hold: AtomicBool,
    pub calls: AtomicUsize,
    wakers: Mutex<Vec<Waker>>,
}

impl Controls {
    pub fn set_ready(&self, ready: bool) {
        self.unready.store(!ready, Ordering::SeqCst);
        if ready {
            for w in self.wakers.lock().unwrap().drain(..) {
                w.wake();
            }
        }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// A test endpoint that answers its own name.
#[derive(Debug, Clone)]
pub struct Ep {
    pub name: &'static str,
    pub controls: Arc<Controls>,
}

pub fn ep(name: &'static str) -> (Ep, Arc<Controls>) {
    let controls = Arc::new(Controls::default());
    (
        Ep {
            name,
            controls: controls.clone(),
        },
        controls,
    )
}

pub type BoxFut<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

impl<R> Service<R> for Ep {
    type Response = &'static str;
    type Error = BoxError;
    type Future = BoxFut<&'static str>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        let c = &self.controls;
        if c.ready_error.load(Ordering::SeqCst) {
            return Poll::Ready(Err("endpoint broken".into()));
        }
        if c.unready.load(Ordering::SeqCst) {
            c.wakers.lock().unwrap().push(cx.waker().clone());
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: R) -> Self::Future {
        let c = self.controls.clone();
        let n = c.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let every = c.fail_every.load(Ordering::SeqCst);
        let fail = c.fail.load(Ordering::SeqCst) || (every > 0 && n % every == 0);
        let latency = Duration::from_millis(c.latency_ms.load(Ordering::SeqCst) as u64);
        let hold = c.hold.load(Ordering::SeqCst);
        let name = self.name;
        Box::pin(async move {
            if hold {
                std::future::pending::<()>().await;
            }
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            if fail {
                Err(format!("{name} failed").into())
            } else {
                Ok(name)
            }
        })
    }
}

/// Polls once with a waker that does nothing.
pub fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(Waker::noop()))
}

/// `poll_ready` that must be ready at once.
pub fn ready_now<S: Service<R>, R>(svc: &mut S) {
    match svc.poll_ready(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(_)) => panic!("poll_ready failed"),
        Poll::Pending => panic!("poll_ready was pending"),
    }
}

/// Waits for readiness and sends one request.
pub async fn call<S, R>(svc: &mut S, req: R) -> Result<S::Response, S::Error>
where
    S: Service<R>,
{
    svc.ready().await?.call(req).await
}

//! Endpoints whose readiness, latency and failures a test controls, and helpers to drive a
//! balancer by hand.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bulwark_balance::BalanceHandle;
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

/// Endpoints named `names` that fail every call, keyed by their names.
pub fn failing(names: &[&'static str]) -> Vec<(&'static str, Ep)> {
    names
        .iter()
        .map(|&name| {
            let (e, controls) = ep(name);
            controls.fail.store(true, Ordering::SeqCst);
            (name, e)
        })
        .collect()
}

/// The most endpoints outlier detection may eject at once out of `total`: `percent` of them
/// rounded down but at least one, and none when `percent` is zero. This is the tests' oracle,
/// written from the docs and deliberately independent of `OutlierDetection`'s own code.
pub fn max_ejected(total: usize, percent: f64) -> usize {
    if percent <= 0.0 {
        return 0;
    }
    ((total as f64 * percent / 100.0).floor() as usize).max(1)
}

/// How many of the balancer's endpoints are ejected now.
pub fn ejected<K: Clone, S, L>(handle: &BalanceHandle<K, S, L>) -> usize {
    handle.endpoints().iter().filter(|e| e.ejected).count()
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

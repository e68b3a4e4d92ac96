//! Cancellation at every await point, and readiness: each retry polls the future's own clone.

use std::sync::Arc;
use std::time::Duration;

use bulwark_policy::{Backoff, BoxError, ErrorsAsFailures, IgnoreDeadline, RetryBudget};
use bulwark_retry::{Retry, RetryLayer};
use tokio_test::{assert_pending, assert_ready, assert_ready_err, assert_ready_ok, task};
use tower::{Layer, Service};
use tower_test::mock;

/// A request whose live copies can be counted.
#[derive(Debug, Clone)]
struct Tracked(Arc<()>);

type Mock = mock::Mock<Tracked, &'static str>;
type Handle = mock::Handle<Tracked, &'static str>;

const DELAY: Duration = Duration::from_millis(100);

type Svc = Retry<Mock, ErrorsAsFailures, IgnoreDeadline>;

struct Setup {
    svc: Svc,
    handle: Handle,
    budget: Arc<RetryBudget>,
    live: Arc<()>,
}

fn setup() -> Setup {
    let (mock, handle) = mock::pair::<Tracked, &'static str>();
    // One whole token per request and no floor: the request pays for exactly one retry.
    let budget = Arc::new(RetryBudget::new(Duration::from_secs(10), 0, 1.0).unwrap());
    let svc = RetryLayer::builder()
        .max_attempts(3)
        .backoff(Backoff::constant(DELAY))
        .budget(budget.clone())
        .deadline(IgnoreDeadline)
        .build()
        .unwrap()
        .layer(mock);
    Setup {
        svc,
        handle,
        budget,
        live: Arc::new(()),
    }
}

impl Setup {
    fn start(&mut self) -> task::Spawn<<Svc as Service<Tracked>>::Future> {
        assert_ready_ok!(task::spawn(()).enter(|cx, _| self.svc.poll_ready(cx)));
        task::spawn(self.svc.call(Tracked(self.live.clone())))
    }

    /// Copies of the request still alive, besides the test's own handle.
    fn live_copies(&self) -> usize {
        Arc::strong_count(&self.live) - 1
    }

    fn fail_next(&mut self) {
        let (_, respond) = assert_ready!(self.handle.poll_request()).unwrap();
        respond.send_error("unavailable");
    }

    /// Checks that nothing more reaches the upstream once time has moved on.
    async fn assert_nothing_more_sent(&mut self) {
        tokio::time::advance(DELAY * 10).await;
        assert_pending!(self.handle.poll_request());
    }
}

#[tokio::test(start_paused = true)]
async fn dropped_during_the_first_attempt() {
    let mut s = setup();
    let mut fut = s.start();
    assert_pending!(fut.poll());
    assert_eq!(s.budget.available(), 1, "deposited once");
    let (req, respond) = assert_ready!(s.handle.poll_request()).unwrap();
    assert!(
        Arc::ptr_eq(&req.0, &s.live),
        "the upstream got a copy of the request"
    );
    drop(fut);
    assert_eq!(s.live_copies(), 1, "only the copy the upstream holds");
    drop((req, respond));
    assert_eq!(s.live_copies(), 0);
    assert_eq!(s.budget.available(), 1, "no retry was charged");
    s.assert_nothing_more_sent().await;
}

#[tokio::test(start_paused = true)]
async fn dropped_during_the_backoff_sleep() {
    let mut s = setup();
    let mut fut = s.start();
    assert_pending!(fut.poll());
    s.fail_next();
    assert!(fut.is_woken());
    assert_pending!(fut.poll());
    assert_eq!(
        s.budget.available(),
        0,
        "the retry was paid for when decided"
    );
    assert_eq!(
        s.live_copies(),
        2,
        "the original and the copy for the retry"
    );
    drop(fut);
    assert_eq!(s.live_copies(), 0);
    assert_eq!(s.budget.available(), 0, "charged once, not twice");
    s.assert_nothing_more_sent().await;
}

#[tokio::test(start_paused = true)]
async fn dropped_while_waiting_for_readiness() {
    let mut s = setup();
    let mut fut = s.start();
    assert_pending!(fut.poll());
    s.handle.allow(0);
    s.fail_next();
    assert_pending!(fut.poll());
    tokio::time::advance(DELAY).await;
    assert!(fut.is_woken());
    assert_pending!(fut.poll(), "the future's own clone is not ready");
    assert_pending!(s.handle.poll_request());
    drop(fut);
    assert_eq!(s.live_copies(), 0);
    assert_eq!(s.budget.available(), 0);
    s.handle.allow(1);
    s.assert_nothing_more_sent().await;
}

#[tokio::test(start_paused = true)]
async fn dropped_during_the_retry() {
    let mut s = setup();
    let mut fut = s.start();
    assert_pending!(fut.poll());
    s.fail_next();
    assert_pending!(fut.poll());
    tokio::time::advance(DELAY).await;
    assert_pending!(fut.poll());
    let (req, respond) = assert_ready!(s.handle.poll_request()).unwrap();
    drop(fut);
    drop((req, respond));
    assert_eq!(s.live_copies(), 0);
    assert_eq!(s.budget.available(), 0);
    s.assert_nothing_more_sent().await;
}

#[tokio::test(start_paused = true)]
async fn each_retry_waits_for_readiness_then_sends() {
    let mut s = setup();
    let mut fut = s.start();
    assert_pending!(fut.poll());
    s.handle.allow(0);
    s.fail_next();
    assert_pending!(fut.poll());
    tokio::time::advance(DELAY).await;
    assert_pending!(fut.poll());
    s.handle.allow(1);
    assert!(fut.is_woken(), "readiness wakes the future");
    assert_pending!(fut.poll());
    let (_, respond) = assert_ready!(s.handle.poll_request()).unwrap();
    respond.send_response("ok");
    assert_eq!(assert_ready_ok!(fut.poll()), "ok");
    drop(fut);
    assert_eq!(s.live_copies(), 0, "a finished future holds nothing");
}

#[tokio::test(start_paused = true)]
async fn a_readiness_error_before_a_retry_is_the_result() {
    let mut s = setup();
    let mut fut = s.start();
    assert_pending!(fut.poll());
    s.fail_next();
    assert_pending!(fut.poll());
    s.handle.send_error("closed for good");
    tokio::time::advance(DELAY).await;
    let err: BoxError = assert_ready_err!(fut.poll());
    assert_eq!(err.to_string(), "closed for good");
}

#[tokio::test(start_paused = true)]
async fn the_service_keeps_an_unready_clone_after_each_call() {
    let mut s = setup();
    let mut fut = s.start();
    assert_pending!(fut.poll());
    s.handle.allow(0);
    assert_pending!(task::spawn(()).enter(|cx, _| s.svc.poll_ready(cx)));
    s.handle.allow(1);
    assert_ready_ok!(task::spawn(()).enter(|cx, _| s.svc.poll_ready(cx)));
}

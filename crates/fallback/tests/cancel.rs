//! A dropped response future releases everything it held, at every point it can be dropped:
//! the primary's call and the kept request copy, the clone of the backup waiting for
//! readiness, the backup's call, and a `from_fn` future.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bulwark_fallback::FallbackLayer;
use bulwark_policy::BoxError;
use tokio_test::{assert_pending, assert_ready_ok, task};
use tower::{Layer, Service};
use tower_test::mock;

/// A request whose copies are counted through the `Arc` they share.
#[derive(Debug, Clone)]
struct Tracked(Arc<()>);

impl PartialEq for Tracked {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// A service whose live clones, and the calls they made, are counted through one `Arc`.
#[derive(Clone)]
struct Counted<S> {
    inner: S,
    clones: Arc<()>,
}

impl<S: Service<R>, R> Service<R> for Counted<S>
where
    S::Future: Unpin,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Guarded<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        Guarded {
            fut: self.inner.call(req),
            _guard: self.clones.clone(),
        }
    }
}

struct Guarded<F> {
    fut: F,
    _guard: Arc<()>,
}

impl<F: Future + Unpin> Future for Guarded<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        Pin::new(&mut self.fut).poll(cx)
    }
}

#[tokio::test(start_paused = true)]
async fn dropped_while_the_primary_answers_releases_the_request_copy() {
    let (backup, mut standby) = mock::pair::<Tracked, u32>();
    let (primary, mut handle) = mock::pair::<Tracked, u32>();
    let mut svc = mock::Spawn::new(FallbackLayer::service(backup).layer(primary));
    let token = Arc::new(());

    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(Tracked(token.clone())));
    assert_pending!(fut.poll());
    let (sent, _respond) = handle.next_request().await.unwrap();
    drop(sent);
    assert_eq!(
        Arc::strong_count(&token),
        2,
        "the future keeps one copy for the backup"
    );
    drop(fut);
    assert_eq!(Arc::strong_count(&token), 1);
    assert_pending!(
        standby.poll_request(),
        "a dropped call never reaches the backup"
    );
}

#[tokio::test(start_paused = true)]
async fn dropped_while_the_backup_gets_ready_releases_the_clone_and_the_copy() {
    let (backup, mut standby) = mock::pair::<Tracked, u32>();
    standby.allow(0);
    let clones = Arc::new(());
    let backup = Counted {
        inner: backup,
        clones: clones.clone(),
    };
    let layer = FallbackLayer::service(backup);
    let (primary, mut handle) = mock::pair::<Tracked, u32>();
    let mut svc = mock::Spawn::new(layer.layer(primary));
    drop(layer);
    let at_rest = Arc::strong_count(&clones);
    let token = Arc::new(());

    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(Tracked(token.clone())));
    let (sent, respond) = handle.next_request().await.unwrap();
    drop(sent);
    respond.send_error("down");
    assert_pending!(fut.poll(), "the backup is not ready");
    assert_eq!(
        Arc::strong_count(&clones),
        at_rest + 1,
        "a clone of the backup waits for readiness"
    );
    assert_eq!(Arc::strong_count(&token), 2);

    drop(fut);
    assert_eq!(Arc::strong_count(&clones), at_rest);
    assert_eq!(Arc::strong_count(&token), 1);
    standby.allow(1);
    assert_pending!(standby.poll_request());
}

#[tokio::test(start_paused = true)]
async fn dropped_while_the_backup_answers_releases_the_backup_call() {
    let (backup, mut standby) = mock::pair::<Tracked, u32>();
    let clones = Arc::new(());
    let backup = Counted {
        inner: backup,
        clones: clones.clone(),
    };
    let layer = FallbackLayer::service(backup);
    let (primary, mut handle) = mock::pair::<Tracked, u32>();
    let mut svc = mock::Spawn::new(layer.layer(primary));
    drop(layer);
    let at_rest = Arc::strong_count(&clones);
    let token = Arc::new(());

    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(Tracked(token.clone())));
    let (_, respond) = handle.next_request().await.unwrap();
    respond.send_error("down");
    assert_pending!(fut.poll());
    let (forwarded, respond) = standby.next_request().await.unwrap();
    assert_eq!(
        forwarded,
        Tracked(token.clone()),
        "the same request, forwarded"
    );
    drop(forwarded);
    assert_eq!(
        Arc::strong_count(&clones),
        at_rest + 1,
        "the backup's call is held; the clone that made it is already gone"
    );

    drop(fut);
    assert_eq!(Arc::strong_count(&clones), at_rest);
    assert_eq!(Arc::strong_count(&token), 1);
    // The backup's answer has nowhere to go, and nothing waits for it.
    respond.send_response(1);

    // The service is whole: the next call is served as usual.
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(Tracked(token.clone())));
    let (_, respond) = handle.next_request().await.unwrap();
    respond.send_response(7);
    assert_eq!(assert_ready_ok!(fut.poll()), 7);
}

#[tokio::test(start_paused = true)]
async fn dropped_while_a_from_fn_fallback_runs_releases_its_future() {
    let held = Arc::new(());
    let guard = held.clone();
    let layer = FallbackLayer::from_fn(move |_: Result<u32, BoxError>| {
        let guard = guard.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(guard);
            Ok::<u32, BoxError>(0)
        }
    });
    let (mut svc, mut handle) = mock::spawn_layer::<u32, u32, _>(layer);
    let at_rest = Arc::strong_count(&held);

    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(1));
    let (_, respond) = handle.next_request().await.unwrap();
    respond.send_error("down");
    assert_pending!(fut.poll());
    assert_eq!(
        Arc::strong_count(&held),
        at_rest + 1,
        "the function's future is running"
    );
    drop(fut);
    assert_eq!(Arc::strong_count(&held), at_rest);
}

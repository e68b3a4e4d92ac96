//! Endpoints from a `Discover` stream, changing while requests are in flight.

mod support;

use std::convert::Infallible;
use std::sync::atomic::Ordering;

use bulwark_balance::{BalanceLayer, Strategy};
use futures_util::stream;
use support::{call, ep, poll_once, ready_now, Ep};
use tokio::sync::mpsc;
use tokio_test::{assert_pending, assert_ready_ok, task};
use tower::discover::Change;
use tower::util::MapResponseLayer;
use tower::Service;

type Tx = mpsc::UnboundedSender<Result<Change<&'static str, Ep>, Infallible>>;

fn channel() -> (
    Tx,
    impl tower::discover::Discover<Key = &'static str, Service = Ep, Error = Infallible>
        + Send
        + 'static,
) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    (tx, stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

#[tokio::test(start_paused = true)]
async fn inserts_and_removals_apply_while_requests_are_in_flight() {
    let (tx, discover) = channel();
    let mut lb = BalanceLayer::builder()
        .strategy(Strategy::RoundRobin)
        .build()
        .discover(discover);
    let (a, a_ctl) = ep("a");
    a_ctl.latency_ms.store(100, Ordering::SeqCst);
    tx.send(Ok(Change::Insert("a", a))).unwrap();

    ready_now::<_, ()>(&mut lb);
    let mut in_flight = lb.call(());
    assert!(poll_once(&mut in_flight).is_pending());
    assert_eq!(lb.handle().endpoints()[0].pending, 1);

    tx.send(Ok(Change::Insert("b", ep("b").0))).unwrap();
    tx.send(Ok(Change::Remove("a"))).unwrap();
    for _ in 0..10 {
        assert_eq!(call(&mut lb, ()).await.unwrap(), "b");
    }
    let keys: Vec<_> = lb.handle().endpoints().into_iter().map(|e| e.key).collect();
    assert_eq!(keys, ["b"]);
    // The request sent before the removal finishes on its endpoint.
    assert_eq!(in_flight.await.unwrap(), "a");
    assert_eq!(a_ctl.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_empty_balancer_waits_for_discovery_and_wakes_when_an_endpoint_arrives() {
    let (tx, discover) = channel();
    let mut lb = BalanceLayer::new().discover(discover);
    let mut other = lb.clone();
    let mut t1 = task::spawn(());
    let mut t2 = task::spawn(());
    assert_pending!(t1.enter(|cx, _| Service::<()>::poll_ready(&mut lb, cx)));
    assert_pending!(t2.enter(|cx, _| Service::<()>::poll_ready(&mut other, cx)));
    tx.send(Ok(Change::Insert("a", ep("a").0))).unwrap();
    // Both waiting clones are woken, not only the one that polled the stream last.
    assert!(t1.is_woken() && t2.is_woken());
    assert_ready_ok!(t1.enter(|cx, _| Service::<()>::poll_ready(&mut lb, cx)));
    assert_ready_ok!(t2.enter(|cx, _| Service::<()>::poll_ready(&mut other, cx)));
    assert_eq!(lb.call(()).await.unwrap(), "a");
}

#[tokio::test(start_paused = true)]
async fn a_pending_balancer_wakes_when_the_handle_adds_an_endpoint() {
    let (stuck, stuck_ctl) = ep("stuck");
    stuck_ctl.set_ready(false);
    let mut lb = BalanceLayer::new().endpoints([("stuck", stuck)]);
    let mut t = task::spawn(());
    assert_pending!(t.enter(|cx, _| Service::<()>::poll_ready(&mut lb, cx)));
    lb.handle().insert("fresh", ep("fresh").0);
    assert!(t.is_woken());
    assert_ready_ok!(t.enter(|cx, _| Service::<()>::poll_ready(&mut lb, cx)));
    assert_eq!(lb.call(()).await.unwrap(), "fresh");
}

#[tokio::test(start_paused = true)]
async fn an_insert_with_a_known_key_replaces_the_endpoint() {
    let (tx, discover) = channel();
    let mut lb = BalanceLayer::new().discover(discover);
    tx.send(Ok(Change::Insert("a", ep("old").0))).unwrap();
    assert_eq!(call(&mut lb, ()).await.unwrap(), "old");
    tx.send(Ok(Change::Insert("a", ep("new").0))).unwrap();
    assert_eq!(call(&mut lb, ()).await.unwrap(), "new");
    assert_eq!(lb.handle().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn when_discovery_ends_the_endpoints_stay_and_an_empty_list_fails_fast() {
    let changes = stream::iter([
        Ok::<_, Infallible>(Change::Insert("a", ep("a").0)),
        Ok(Change::Remove("a")),
        Ok(Change::Insert("b", ep("b").0)),
    ]);
    let mut lb = BalanceLayer::new().discover(changes);
    assert_eq!(call(&mut lb, ()).await.unwrap(), "b");
    lb.handle().remove(&"b");
    let err = call(&mut lb, ()).await.unwrap_err();
    assert!(err.is::<bulwark_balance::NoEndpoint>());
}

#[tokio::test(start_paused = true)]
async fn a_discovery_error_keeps_the_endpoints_found_so_far() {
    let changes = stream::iter([
        Ok(Change::Insert("a", ep("a").0)),
        Err(std::io::Error::other("registry unreachable")),
        Ok(Change::Insert("b", ep("b").0)),
    ]);
    let mut lb = BalanceLayer::new().discover(changes);
    for _ in 0..5 {
        assert_eq!(call(&mut lb, ()).await.unwrap(), "a");
    }
}

#[tokio::test(start_paused = true)]
async fn the_endpoint_layer_wraps_discovered_and_listed_endpoints() {
    let (tx, discover) = channel();
    let layer = BalanceLayer::builder()
        .endpoint_layer(MapResponseLayer::new(|name: &'static str| name.len()))
        .build();
    let mut lb = layer.discover(discover);
    tx.send(Ok(Change::Insert("abc", ep("abc").0))).unwrap();
    assert_eq!(call(&mut lb, ()).await.unwrap(), 3);

    let mut listed = layer.endpoints([("abcd", ep("abcd").0)]);
    assert_eq!(call(&mut listed, ()).await.unwrap(), 4);
}

#[tokio::test(start_paused = true)]
async fn the_layer_fits_a_service_builder_stack_over_a_discover_stream() {
    use tower::ServiceBuilder;

    let (tx, discover) = channel();
    let mut svc = ServiceBuilder::new()
        .concurrency_limit(8)
        .layer(BalanceLayer::new())
        .service(discover);
    tx.send(Ok(Change::Insert("a", ep("a").0))).unwrap();
    assert_eq!(call(&mut svc, ()).await.unwrap(), "a");
}

//! Readiness, sharing between clones, cancellation and NoEndpoint.

mod support;

use std::sync::atomic::Ordering;

use bulwark_balance::{Balance, BalanceLayer, NoEndpoint, Strategy};
use bulwark_policy::EventKind;
use bulwark_test_support::{call_once, RecordingHook};
use support::{call, ep, poll_once, ready_now};
use tokio_test::{assert_pending, assert_ready_ok, task};
use tower::Service;

#[tokio::test(start_paused = true)]
async fn an_unready_endpoint_never_stalls_requests_others_can_take() {
    let (stuck, stuck_ctl) = ep("stuck");
    stuck_ctl.set_ready(false);
    let mut lb = BalanceLayer::builder().seed(5).build().endpoints([
        ("stuck", stuck),
        ("b", ep("b").0),
        ("c", ep("c").0),
    ]);
    for _ in 0..200 {
        // Ready at once every time: the stuck endpoint is parked, never waited on.
        let name = call_once(&mut lb, ()).expect("a ready endpoint answers");
        assert_ne!(name, "stuck");
    }
    assert_eq!(stuck_ctl.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn when_every_endpoint_is_pending_the_first_to_wake_takes_the_call() {
    let (a, a_ctl) = ep("a");
    let (b, b_ctl) = ep("b");
    a_ctl.set_ready(false);
    b_ctl.set_ready(false);
    let mut lb = Balance::new([("a", a), ("b", b)]);
    let mut t = task::spawn(());
    assert_pending!(t.enter(|cx, _| Service::<()>::poll_ready(&mut lb, cx)));
    b_ctl.set_ready(true);
    assert!(t.is_woken());
    assert_ready_ok!(t.enter(|cx, _| Service::<()>::poll_ready(&mut lb, cx)));
    assert_eq!(lb.call(()).await.unwrap(), "b");
    assert_eq!(a_ctl.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_endpoint_whose_poll_ready_fails_is_removed() {
    let (bad, bad_ctl) = ep("bad");
    bad_ctl.ready_error.store(true, Ordering::SeqCst);
    let mut lb = BalanceLayer::builder()
        .strategy(Strategy::RoundRobin)
        .build()
        .endpoints([("bad", bad), ("good", ep("good").0)]);
    for _ in 0..4 {
        assert_eq!(call(&mut lb, ()).await.unwrap(), "good");
    }
    let keys: Vec<_> = lb.handle().endpoints().into_iter().map(|e| e.key).collect();
    assert_eq!(keys, ["good"]);
}

#[tokio::test(start_paused = true)]
async fn with_no_endpoint_poll_ready_is_ok_and_the_call_fails_with_no_endpoint() {
    let hook = RecordingHook::new();
    let (bad, bad_ctl) = ep("bad");
    bad_ctl.ready_error.store(true, Ordering::SeqCst);
    let mut lb = BalanceLayer::builder()
        .name("lb")
        .hook(hook.clone())
        .build()
        .endpoints([("bad", bad)]);
    ready_now::<_, ()>(&mut lb);
    let err = lb.call(()).await.unwrap_err();
    assert!(err.is::<NoEndpoint>(), "{err}");
    assert_eq!(
        hook.kinds(),
        [EventKind::EndpointRemoved, EventKind::NoEndpoint]
    );
    assert_eq!(hook.events()[0].key.as_deref(), Some("bad"));
    assert!(lb.handle().is_empty());

    // An endpoint added later is used by the next call.
    lb.handle().insert("new", ep("new").0);
    assert_eq!(call(&mut lb, ()).await.unwrap(), "new");
}

#[tokio::test(start_paused = true)]
#[should_panic(expected = "without poll_ready")]
async fn clones_start_unready() {
    let mut lb = Balance::new([("a", ep("a").0)]);
    ready_now::<_, ()>(&mut lb);
    let mut clone = lb.clone();
    drop(Service::<()>::call(&mut clone, ()));
}

#[tokio::test(start_paused = true)]
async fn clones_share_one_balancer() {
    let layer = BalanceLayer::builder()
        .strategy(Strategy::RoundRobin)
        .build();
    let mut one = layer.endpoints([("a", ep("a").0), ("b", ep("b").0), ("c", ep("c").0)]);
    let mut two = one.clone();
    // One rotation, whichever clone asks.
    let mut seen = vec![
        call(&mut one, ()).await.unwrap(),
        call(&mut two, ()).await.unwrap(),
        call(&mut one, ()).await.unwrap(),
    ];
    seen.sort();
    assert_eq!(seen, ["a", "b", "c"]);

    // Endpoint changes and pending counts are seen by every clone.
    two.handle().insert("d", ep("d").0);
    assert_eq!(one.handle().len(), 4);
    let (held, held_ctl) = ep("held");
    held_ctl.hold.store(true, Ordering::SeqCst);
    one.handle().insert("held", held);
    let mut in_flight = Vec::new();
    while held_ctl.calls() == 0 {
        ready_now::<_, ()>(&mut one);
        let mut fut = one.call(());
        if poll_once(&mut fut).is_pending() {
            in_flight.push(fut);
        }
    }
    let pending: Vec<_> = two
        .handle()
        .endpoints()
        .into_iter()
        .map(|e| (e.key, e.pending))
        .collect();
    assert!(pending.contains(&("held", 1)), "{pending:?}");
}

#[tokio::test(start_paused = true)]
async fn a_dropped_response_future_releases_its_pending_count() {
    let (held, held_ctl) = ep("held");
    held_ctl.hold.store(true, Ordering::SeqCst);
    let mut lb = Balance::new([("held", held)]);
    ready_now::<_, ()>(&mut lb);
    let never_polled = lb.call(());
    ready_now::<_, ()>(&mut lb);
    let mut in_flight = lb.call(());
    assert!(poll_once(&mut in_flight).is_pending());
    assert_eq!(lb.handle().endpoints()[0].pending, 2);
    drop(never_polled);
    assert_eq!(lb.handle().endpoints()[0].pending, 1);
    drop(in_flight);
    assert_eq!(lb.handle().endpoints()[0].pending, 0);
}

#[tokio::test(start_paused = true)]
async fn a_removal_between_poll_ready_and_call_does_not_redirect_the_request() {
    // tower#856: an index kept from poll_ready points elsewhere once the list shifts.
    let layer = BalanceLayer::builder()
        .strategy(Strategy::RoundRobin)
        .build();
    let mut lb = layer.endpoints([("a", ep("a").0), ("b", ep("b").0), ("c", ep("c").0)]);
    assert_eq!(call(&mut lb, ()).await.unwrap(), "a");
    assert_eq!(call(&mut lb, ()).await.unwrap(), "b");
    ready_now::<_, ()>(&mut lb); // reserves "c", the last in the list
    assert!(lb.handle().remove(&"a")); // "c" moves from index 2 to index 1
    assert_eq!(lb.call(()).await.unwrap(), "c");
    assert_ne!(call(&mut lb, ()).await.unwrap(), "a");
}

#[tokio::test(start_paused = true)]
async fn a_per_endpoint_limit_makes_a_busy_endpoint_unready_and_it_is_routed_around() {
    use tower::limit::ConcurrencyLimitLayer;

    let (a, a_ctl) = ep("a");
    let (b, b_ctl) = ep("b");
    a_ctl.hold.store(true, Ordering::SeqCst);
    b_ctl.hold.store(true, Ordering::SeqCst);
    let mut lb = BalanceLayer::builder()
        .endpoint_layer(ConcurrencyLimitLayer::new(1))
        .seed(8)
        .build()
        .endpoints([("a", a), ("b", b)]);
    // Each endpoint takes one request; the limit is shared by all clones of an endpoint.
    ready_now::<_, ()>(&mut lb);
    let mut first = lb.call(());
    assert!(poll_once(&mut first).is_pending());
    let info = lb.handle().endpoints();
    let busy = info.iter().find(|e| e.pending == 1).unwrap().key;
    let freed = if busy == "a" { "b" } else { "a" };
    ready_now::<_, ()>(&mut lb);
    let mut second = lb.call(());
    assert!(poll_once(&mut second).is_pending());
    assert_eq!((a_ctl.calls(), b_ctl.calls()), (1, 1));

    // Both busy: the balancer waits, and the first endpoint to free up takes the next call.
    let mut t = task::spawn(());
    assert_pending!(t.enter(|cx, _| Service::<()>::poll_ready(&mut lb, cx)));
    a_ctl.hold.store(false, Ordering::SeqCst);
    b_ctl.hold.store(false, Ordering::SeqCst);
    drop(second);
    assert!(t.is_woken());
    assert_ready_ok!(t.enter(|cx, _| Service::<()>::poll_ready(&mut lb, cx)));
    assert_eq!(lb.call(()).await.unwrap(), freed);
    assert_eq!(a_ctl.calls() + b_ctl.calls(), 3);
    drop(first);
}

//! One breaker per key: keys trip alone, events carry the key, the handle reaches each key, and
//! the map stays bounded.

use std::time::Duration;

use bulwark_breaker::{BreakerLayer, Rejected};
use bulwark_policy::{BoxError, BreakerState, EventKind};
use bulwark_test_support::RecordingHook;
use tower::{service_fn, Layer, ServiceExt};

type Req = (&'static str, bool);

fn inner() -> impl tower::Service<Req, Response = (), Error = BoxError, Future = impl Send> + Clone
{
    service_fn(|(_, ok): Req| async move {
        if ok {
            Ok(())
        } else {
            Err(BoxError::from("down"))
        }
    })
}

#[tokio::test(start_paused = true)]
async fn each_key_trips_alone_and_events_name_it() {
    let hook = RecordingHook::new();
    let layer = BreakerLayer::builder()
        .consecutive_failures(2)
        .name("hosts")
        .hook(hook.clone())
        .build_keyed(|(host, _): &Req| *host)
        .unwrap();
    let svc = layer.layer(inner());
    for _ in 0..2 {
        assert!(svc.clone().oneshot(("a", false)).await.is_err());
    }
    let err = svc.clone().oneshot(("a", true)).await.unwrap_err();
    assert!(err.is::<Rejected>());
    svc.clone().oneshot(("b", true)).await.unwrap();

    let handle = layer.handle();
    let mut keys = handle.keys();
    keys.sort_unstable();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(handle.get(&"a").unwrap().state(), BreakerState::Open);
    assert_eq!(handle.get(&"b").unwrap().state(), BreakerState::Closed);

    let transition = hook
        .events()
        .into_iter()
        .find(|e| matches!(e.kind, EventKind::BreakerTransition { .. }))
        .unwrap();
    assert_eq!(
        (transition.name.as_str(), transition.key.as_deref()),
        ("hosts", Some("a"))
    );
    assert!(hook.events().iter().all(|e| e.key.is_some()));

    handle.get(&"a").unwrap().reset();
    svc.oneshot(("a", true)).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_map_is_bounded_and_forgets_idle_keys() {
    let layer = BreakerLayer::builder()
        .max_keys(2)
        .idle_timeout(Duration::from_secs(60))
        .build_keyed(|(host, _): &Req| *host)
        .unwrap();
    let svc = layer.layer(inner());
    svc.clone().oneshot(("a", true)).await.unwrap();
    tokio::time::advance(Duration::from_secs(1)).await;
    svc.clone().oneshot(("b", true)).await.unwrap();
    tokio::time::advance(Duration::from_secs(1)).await;
    svc.clone().oneshot(("c", true)).await.unwrap();
    let mut keys = layer.handle().keys();
    keys.sort_unstable();
    assert_eq!(keys, ["b", "c"], "the idlest key made room");

    tokio::time::advance(Duration::from_secs(60)).await;
    svc.clone().oneshot(("c", true)).await.unwrap();
    svc.oneshot(("d", true)).await.unwrap();
    let mut keys = layer.handle().keys();
    keys.sort_unstable();
    assert_eq!(keys, ["c", "d"], "b sat idle past the timeout");
}

#[tokio::test]
async fn reconfiguring_a_keyed_layer_reaches_every_key() {
    let layer = BreakerLayer::keyed(|(host, _): &Req| *host);
    let svc = layer.layer(inner());
    svc.clone().oneshot(("a", true)).await.unwrap();
    let config = bulwark_breaker::BreakerConfig {
        consecutive_failures: Some(1),
        ..Default::default()
    };
    layer.handle().reconfigure(config).unwrap();
    assert!(svc.clone().oneshot(("a", false)).await.is_err());
    assert!(svc.clone().oneshot(("new", false)).await.is_err());
    let handle = layer.handle();
    assert_eq!(handle.get(&"a").unwrap().state(), BreakerState::Open);
    assert_eq!(handle.get(&"new").unwrap().state(), BreakerState::Open);
}

//! One breaker per key: keys trip alone, events carry the key, the handle reaches each key, and
//! the map stays bounded.

mod support;

use std::time::Duration;

use bulwark_breaker::{BreakerLayer, Rejected};
use bulwark_policy::{BoxError, BreakerState, EventKind};
use bulwark_test_support::RecordingHook;
use support::keyed_inner;
use tower::{service_fn, Layer, ServiceExt};

type Req = (&'static str, bool);

fn inner() -> impl tower::Service<Req, Response = (), Error = BoxError, Future = impl Send> + Clone
{
    keyed_inner()
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
    assert_eq!(keys, ["b", "c"], "the idlest closed key made room");

    tokio::time::advance(Duration::from_secs(60)).await;
    svc.clone().oneshot(("c", true)).await.unwrap();
    svc.oneshot(("d", true)).await.unwrap();
    let mut keys = layer.handle().keys();
    keys.sort_unstable();
    assert_eq!(keys, ["c", "d"], "b sat idle past the timeout");
}

#[tokio::test(start_paused = true)]
async fn open_and_forced_keys_are_never_evicted() {
    let layer = BreakerLayer::builder()
        .consecutive_failures(1)
        .open_for(bulwark_policy::Backoff::constant(Duration::from_secs(1000)))
        .max_keys(2)
        .idle_timeout(Duration::from_secs(60))
        .build_keyed(|(host, _): &Req| *host)
        .unwrap();
    let handle = layer.handle();
    let svc = layer.layer(inner());
    assert!(svc.clone().oneshot(("down", false)).await.is_err());
    svc.clone().oneshot(("up", true)).await.unwrap();
    tokio::time::advance(Duration::from_secs(120)).await;
    // Both sat idle past the timeout and the map is full: only the closed key makes room.
    svc.clone().oneshot(("new", true)).await.unwrap();
    let mut keys = handle.keys();
    keys.sort_unstable();
    assert_eq!(keys, ["down", "new"], "the open key is remembered");
    assert!(svc
        .clone()
        .oneshot(("down", true))
        .await
        .unwrap_err()
        .is::<Rejected>());

    // A key forced open by hand is kept too; with every key kept, a new key is not stored
    // and its calls go through the overflow breaker.
    handle.get(&"new").unwrap().force_open();
    tokio::time::advance(Duration::from_secs(120)).await;
    assert!(svc.clone().oneshot(("other", false)).await.is_err());
    let mut keys = handle.keys();
    keys.sort_unstable();
    assert_eq!(keys, ["down", "new"]);
    assert_eq!(handle.overflow().state(), BreakerState::Open);
    assert!(
        svc.clone()
            .oneshot(("third", true))
            .await
            .unwrap_err()
            .is::<Rejected>(),
        "the overflow breaker is shared by the keys that found no room"
    );
    handle.overflow().reset();
    handle.get(&"new").unwrap().reset();
    // For a tenth of a second after the map was found full, keys not in it go straight to the
    // overflow breaker, under the read lock, without looking for room.
    svc.clone().oneshot(("third", true)).await.unwrap();
    let mut keys = handle.keys();
    keys.sort_unstable();
    assert_eq!(keys, ["down", "new"], "not looked for room yet");
    tokio::time::advance(Duration::from_millis(100)).await;
    svc.oneshot(("third", true)).await.unwrap();
    let mut keys = handle.keys();
    keys.sort_unstable();
    assert_eq!(keys, ["down", "third"], "room again once a key closed");
}

#[tokio::test(start_paused = true)]
async fn a_key_with_a_call_in_flight_is_not_evicted() {
    use tower::Service;
    let layer = BreakerLayer::builder()
        .consecutive_failures(1)
        .max_keys(1)
        .build_keyed(|(host, _): &(&'static str, u32)| *host)
        .unwrap();
    let handle = layer.handle();
    let (gate_tx, gate_rx) = tokio::sync::oneshot::channel::<()>();
    let gate = std::sync::Arc::new(std::sync::Mutex::new(Some(gate_rx)));
    let mut svc = layer.layer(service_fn(move |(_, n): (&'static str, u32)| {
        let gate = gate.lock().unwrap().take();
        async move {
            if let Some(gate) = gate {
                let _ = gate.await;
                return Err(BoxError::from("slow and failed"));
            }
            Ok::<_, BoxError>(n)
        }
    }));
    svc.ready().await.unwrap();
    let slow = tokio::spawn(svc.call(("slow", 0)));
    tokio::task::yield_now().await;
    assert_eq!(handle.keys(), ["slow"]);
    assert_eq!(svc.clone().oneshot(("other", 1)).await.unwrap(), 1);
    assert_eq!(handle.keys(), ["slow"], "the call in flight keeps its key");
    gate_tx.send(()).unwrap();
    assert!(slow.await.unwrap().is_err());
    assert_eq!(
        handle.get(&"slow").unwrap().state(),
        BreakerState::Open,
        "its failure reached the breaker that is still in the map"
    );
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_distinct_keys_never_grows_the_map_past_its_bound() {
    let layer = BreakerLayer::builder()
        .consecutive_failures(1)
        .max_keys(8)
        .build_keyed(|(key, _): &(u32, bool)| *key)
        .unwrap();
    let handle = layer.handle();
    let svc = layer.layer(keyed_inner::<u32>());
    // Three keys down, kept whatever comes after.
    for key in 0..3 {
        assert!(svc.clone().oneshot((key, false)).await.is_err());
    }
    for key in 3..5_000u32 {
        // Every seventh new key fails, so some of the flood trips and must be kept too.
        let _ = svc.clone().oneshot((key, key % 7 != 0)).await;
        assert!(handle.len() <= 8, "{} keys after key {key}", handle.len());
        if key % 250 == 0 {
            tokio::time::advance(Duration::from_secs(1)).await;
        }
    }
    assert_eq!(handle.len(), 8);
    for key in 0..3 {
        assert_eq!(handle.get(&key).unwrap().state(), BreakerState::Open);
    }
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

#[tokio::test]
async fn reconfiguring_one_key_through_its_handle_reaches_its_calls() {
    let layer = BreakerLayer::keyed(|(host, _): &Req| *host);
    let svc = layer.layer(inner());
    svc.clone().oneshot(("a", true)).await.unwrap();
    svc.clone().oneshot(("b", true)).await.unwrap();
    let a = layer.handle().get(&"a").unwrap();
    let config = bulwark_breaker::BreakerConfig {
        consecutive_failures: Some(1),
        ..a.config()
    };
    a.reconfigure(config).unwrap();
    assert!(svc.clone().oneshot(("a", false)).await.is_err());
    assert!(svc.clone().oneshot(("b", false)).await.is_err());
    assert_eq!(
        a.state(),
        BreakerState::Open,
        "the cached engine was refreshed"
    );
    assert_eq!(
        layer.handle().get(&"b").unwrap().state(),
        BreakerState::Closed,
        "b keeps the default of five failures"
    );
}

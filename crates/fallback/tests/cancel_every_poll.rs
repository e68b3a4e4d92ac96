//! Cancellation after every poll: a fallback's response future is driven under paused time
//! and dropped after poll 0, 1, 2, … until it finishes on its own, through the primary's
//! call, the wait for the backup's readiness, the backup's call and a `from_fn` future.
//!
//! Checked after every drop: no copy of the request is alive; no call to the primary or the
//! backup is still in flight; every permit of both is back; their shared state has the
//! reference count it had before the call; and a further second of time sends nothing more.

use std::sync::Arc;
use std::time::Duration;

use bulwark_fallback::FallbackLayer;
use bulwark_policy::BoxError;
use bulwark_test_support::cancel::{assert_no_copies, drive, Tracked, Upstream};
use tower::{Layer, Service, ServiceExt};

struct Case {
    primary_fails: bool,
    backup_fails: bool,
    /// When another caller takes the backup's permits, and for how long.
    backup_busy: Option<(Duration, Duration)>,
}

async fn check_service(case: &Case) {
    let mut finished = false;
    for stop in 0.. {
        let primary = Upstream::new(
            1,
            usize::from(case.primary_fails) * 100,
            Duration::from_millis(20),
        );
        let backup = Upstream::new(
            1,
            usize::from(case.backup_fails) * 100,
            Duration::from_millis(15),
        );
        let (p, b) = (primary.shared().clone(), backup.shared().clone());
        let mut svc = FallbackLayer::service(backup.clone()).layer(primary.clone());
        let live = Arc::new(());
        let (p_refs, b_refs) = (Arc::strong_count(&p), Arc::strong_count(&b));
        let hog = case.backup_busy.map(|(at, hold)| backup.hog(at, hold));

        ServiceExt::<Tracked>::ready(&mut svc).await.unwrap();
        let (polls, out) = drive(svc.call(Tracked(live.clone())), stop).await;
        if let Some(out) = &out {
            finished = true;
            assert!(polls > 2, "the scenario should take several polls");
            let want_ok = !case.primary_fails || !case.backup_fails;
            assert_eq!(out.is_ok(), want_ok, "{:?}", out.as_ref().err());
        }
        tokio::time::advance(Duration::from_millis(200)).await;
        if let Some(hog) = hog {
            hog.await.unwrap();
        }
        let calls = (p.calls(), b.calls());
        assert_no_copies(&live, stop);
        p.assert_idle("the primary", stop);
        b.assert_idle("the backup", stop);
        drop(svc);
        drop((primary, backup));
        assert_eq!(
            Arc::strong_count(&p),
            p_refs - 2,
            "the primary's state (stop {stop})"
        );
        assert_eq!(
            Arc::strong_count(&b),
            b_refs - 2,
            "the backup's state (stop {stop})"
        );
        assert!(calls.0 <= 1 && calls.1 <= 1, "{calls:?}");
        tokio::time::advance(Duration::from_secs(1)).await;
        let after = (p.calls(), b.calls());
        assert_eq!(after, calls, "a call was sent after the drop (stop {stop})");
        if finished {
            break;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn dropped_after_any_poll_while_the_backup_answers() {
    check_service(&Case {
        primary_fails: true,
        backup_fails: false,
        backup_busy: None,
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn dropped_after_any_poll_when_both_fail() {
    check_service(&Case {
        primary_fails: true,
        backup_fails: true,
        backup_busy: None,
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn dropped_after_any_poll_while_the_backup_is_busy() {
    let busy = Some((Duration::from_millis(10), Duration::from_millis(30)));
    check_service(&Case {
        primary_fails: true,
        backup_fails: false,
        backup_busy: busy,
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn dropped_after_any_poll_of_a_call_the_primary_answers() {
    check_service(&Case {
        primary_fails: false,
        backup_fails: false,
        backup_busy: None,
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn dropped_after_any_poll_of_a_from_fn_fallback() {
    for stop in 0.. {
        let primary = Upstream::new(1, 100, Duration::from_millis(20));
        let p = primary.shared().clone();
        let held = Arc::new(());
        let in_fn = held.clone();
        let mut svc = FallbackLayer::from_fn(move |_: Result<&'static str, BoxError>| {
            let guard = in_fn.clone();
            async move {
                let _guard = guard;
                tokio::time::sleep(Duration::from_millis(25)).await;
                Ok::<_, BoxError>("from cache")
            }
        })
        .layer(primary);
        let live = Arc::new(());
        ServiceExt::<Tracked>::ready(&mut svc).await.unwrap();
        let (polls, out) = drive(svc.call(Tracked(live.clone())), stop).await;
        tokio::time::advance(Duration::from_millis(200)).await;
        assert_eq!(Arc::strong_count(&live), 1, "stop {stop}");
        p.assert_idle("the primary", stop);
        assert_eq!(
            Arc::strong_count(&held),
            2,
            "the fallback's future was dropped (stop {stop})"
        );
        if let Some(out) = out {
            assert!(polls > 2);
            assert_eq!(out.unwrap(), "from cache");
            break;
        }
    }
}

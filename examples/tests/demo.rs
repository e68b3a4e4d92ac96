//! The demo's scenario, shortened: bulwark's client must answer more requests than the bare
//! one, and must stop sending to the dark replica once it has found out that it is dark.

use std::time::Duration;

use bulwark_examples::demo::{run, Scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulwark_answers_more_and_stops_sending_to_the_dark_replica() {
    // 4 s at 100 rps: the dark replica is dark from 1.2 s to 2.8 s.
    let mut scenario = Scenario::new(11, Duration::from_secs(4), 100);
    scenario.live = false;
    let report = run(&scenario).await.expect("the demo runs");
    let table = report.table();
    eprintln!("{table}");

    assert!(
        report.bulwark.success_rate() > report.bare.success_rate(),
        "bulwark should answer more requests than the bare client\n{table}"
    );

    // The bare client keeps sending a third of its requests to the dark replica.
    let (bare_early, bare_late) = report.dark_hits_by_half(&report.bare);
    assert!(
        bare_early > 0 && bare_late > 0,
        "the bare client reaches the dark replica throughout\n{table}"
    );
    // bulwark sends it a few requests until the breaker opens and the balancer ejects it,
    // and then, in the second half of the window, fewer than in the first.
    let (early, late) = report.dark_hits_by_half(&report.bulwark);
    assert!(
        early > 0,
        "bulwark's client finds out that the replica is dark by sending to it\n{table}"
    );
    assert!(
        late < early,
        "once the replica is found dark, less traffic reaches it\n{table}"
    );
    assert!(
        report.bulwark.dark_hits() * 4 < report.bare.dark_hits(),
        "bulwark sends far fewer requests to the dark replica\n{table}"
    );
    assert!(
        report
            .events
            .transitions
            .iter()
            .any(|t| t.replica.name() == "dark" && t.to.rejects()),
        "the dark replica's breaker opened\n{table}"
    );
}

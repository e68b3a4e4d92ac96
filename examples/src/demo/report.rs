//! What each client got, side by side.

use std::fmt::Write as _;
use std::time::Duration;

use super::load::{Answer, Record};
use super::tally::EventCounts;
use super::upstream::Upstream;
use super::Scenario;

/// One second of one client's run, by when requests were due.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Second {
    /// Requests due in this second that finished.
    pub requests: u64,
    /// Of those, answered with a 2xx by a replica.
    pub ok: u64,
    /// The 99th percentile of their latency.
    pub p99: Duration,
}

impl Second {
    /// The share answered with a 2xx, in percent; 100 for a second with no request.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_examples::demo::Second;
    /// let second = Second { requests: 200, ok: 150, p99: Duration::ZERO };
    /// assert_eq!(second.success_percent(), 75.0);
    /// ```
    pub fn success_percent(&self) -> f64 {
        percent(self.ok, self.requests)
    }
}

/// `part` of `whole` in percent; 100 for a `whole` of zero.
pub(super) fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        100.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// The latency below which `q` of `sorted` lies (nearest rank); zero for none.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// What one client got.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientReport {
    /// Requests sent.
    pub requests: u64,
    /// Answered with a 2xx by a replica.
    pub ok: u64,
    /// Answered by the fallback's stand-in.
    pub fallbacks: u64,
    /// Failed: an error, a status that is not 2xx, or no answer before the run ended.
    pub failed: u64,
    /// The 50th percentile of the latency of finished requests.
    pub p50: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// The longest.
    pub max: Duration,
    /// Calls that reached any of this client's replicas, retries included.
    pub upstream_calls: u64,
    /// Requests that reached the dark replica while it was dark, in 100 ms buckets from the
    /// scenario's start.
    pub dark_hits_by_tenth: Vec<u64>,
    /// Each second of the run.
    pub seconds: Vec<Second>,
}

impl ClientReport {
    fn new(scenario: &Scenario, records: &[Record], upstream: &Upstream) -> Self {
        let count = |answer| records.iter().filter(|r| r.answer == answer).count() as u64;
        let mut latencies: Vec<Duration> = records.iter().map(|r| r.latency).collect();
        latencies.sort_unstable();
        let requests = scenario.requests();
        let ok = count(Answer::Ok);
        let fallbacks = count(Answer::Fallback);

        let seconds = scenario.duration.as_secs_f64().ceil() as usize;
        let mut by_second: Vec<Vec<&Record>> = vec![Vec::new(); seconds.max(1)];
        for record in records {
            let i = (record.due.as_secs() as usize).min(by_second.len() - 1);
            by_second[i].push(record);
        }
        let seconds = by_second
            .iter()
            .map(|records| {
                let mut latencies: Vec<Duration> = records.iter().map(|r| r.latency).collect();
                latencies.sort_unstable();
                Second {
                    requests: records.len() as u64,
                    ok: records.iter().filter(|r| r.answer == Answer::Ok).count() as u64,
                    p99: quantile(&latencies, 0.99),
                }
            })
            .collect();

        Self {
            requests,
            ok,
            fallbacks,
            // Requests still unanswered when the run ended count as failed.
            failed: requests - ok - fallbacks,
            p50: quantile(&latencies, 0.50),
            p99: quantile(&latencies, 0.99),
            max: latencies.last().copied().unwrap_or_default(),
            upstream_calls: upstream.calls(),
            dark_hits_by_tenth: upstream
                .dark()
                .map(|r| r.counts.dark_buckets())
                .unwrap_or_default(),
            seconds,
        }
    }

    /// The share of requests answered with a 2xx by a replica, in percent.
    ///
    /// ```
    /// use bulwark_examples::demo::ClientReport;
    /// let report = ClientReport { requests: 400, ok: 396, ..Default::default() };
    /// assert_eq!(report.success_rate(), 99.0);
    /// ```
    pub fn success_rate(&self) -> f64 {
        percent(self.ok, self.requests)
    }

    /// Requests that reached the dark replica while it was dark.
    ///
    /// ```
    /// use bulwark_examples::demo::ClientReport;
    /// let report = ClientReport { dark_hits_by_tenth: vec![0, 3, 1], ..Default::default() };
    /// assert_eq!(report.dark_hits(), 4);
    /// ```
    pub fn dark_hits(&self) -> u64 {
        self.dark_hits_by_tenth.iter().sum()
    }

    /// Requests that reached the dark replica while it was dark, from `from` until `until`
    /// after the scenario's start, to the nearest 100 ms.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_examples::demo::ClientReport;
    /// let report = ClientReport { dark_hits_by_tenth: vec![0, 3, 1], ..Default::default() };
    /// assert_eq!(report.dark_hits_between(Duration::from_millis(200), Duration::MAX), 1);
    /// assert_eq!(report.dark_hits_between(Duration::ZERO, Duration::MAX), 4);
    /// ```
    pub fn dark_hits_between(&self, from: Duration, until: Duration) -> u64 {
        let tenth = |d: Duration| (d.as_millis() / 100).min(usize::MAX as u128) as usize;
        let (from, until) = (tenth(from), tenth(until));
        self.dark_hits_by_tenth
            .iter()
            .enumerate()
            .filter(|(i, _)| (from..until).contains(i))
            .map(|(_, n)| n)
            .sum()
    }
}

/// The outcome of a run: what each client got, and what bulwark's layers did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// The scenario that ran.
    pub scenario: Scenario,
    /// The bare hyper-util client.
    pub bare: ClientReport,
    /// The same client inside bulwark's stack.
    pub bulwark: ClientReport,
    /// What bulwark's hook counted.
    pub events: EventCounts,
}

impl Report {
    pub(crate) fn new(
        scenario: Scenario,
        bare: (Vec<Record>, &Upstream),
        bulwark: (Vec<Record>, &Upstream),
        events: EventCounts,
    ) -> Self {
        Self {
            bare: ClientReport::new(&scenario, &bare.0, bare.1),
            bulwark: ClientReport::new(&scenario, &bulwark.0, bulwark.1),
            scenario,
            events,
        }
    }

    /// The requests that reached the dark replica in the first and the second half of its
    /// dark window, for `client`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_examples::demo::{ClientReport, Report, Scenario};
    /// // Dark from 0.3 s to 0.7 s: the halves meet at 0.5 s.
    /// let report = Report {
    ///     scenario: Scenario::new(1, Duration::from_secs(1), 10),
    ///     bare: ClientReport { dark_hits_by_tenth: vec![0, 0, 0, 5, 4, 3, 2], ..Default::default() },
    ///     ..Default::default()
    /// };
    /// assert_eq!(report.dark_hits_by_half(&report.bare), (9, 5));
    /// ```
    pub fn dark_hits_by_half(&self, client: &ClientReport) -> (u64, u64) {
        let (from, until) = (self.scenario.dark_from(), self.scenario.dark_until());
        let middle = from + (until - from) / 2;
        (
            client.dark_hits_between(Duration::ZERO, middle),
            client.dark_hits_between(middle, Duration::MAX),
        )
    }

    /// Breaker transitions in order, like `6.0 s  dark  closed → open`; the first 12, and a
    /// count of the rest.
    fn transitions_summary(&self) -> Vec<String> {
        const SHOWN: usize = 12;
        let all = &self.events.transitions;
        let mut lines: Vec<String> = all
            .iter()
            .take(SHOWN)
            .map(|t| {
                format!(
                    "{:>5.1} s  {:<4}  {} → {}",
                    t.at.as_secs_f64(),
                    t.replica.name(),
                    t.from.as_str(),
                    t.to.as_str(),
                )
            })
            .collect();
        if all.len() > SHOWN {
            lines.push(format!("and {} more", all.len() - SHOWN));
        }
        lines
    }

    /// The side-by-side table, in Markdown.
    ///
    /// ```
    /// use bulwark_examples::demo::Report;
    /// let table = Report::default().table();
    /// assert!(table.contains("| success rate "));
    /// ```
    pub fn table(&self) -> String {
        let (bare, bulwark) = (&self.bare, &self.bulwark);
        let e = &self.events;
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        let pct =
            |c: &ClientReport| format!("{:.2}% ({} of {})", c.success_rate(), c.ok, c.requests);
        let dark = |c: &ClientReport| {
            let (early, late) = self.dark_hits_by_half(c);
            format!("{} ({early} + {late})", c.dark_hits())
        };
        let transitions = self.transitions_summary();
        let rows: Vec<(&str, String, String)> = vec![
            ("success rate", pct(bare), pct(bulwark)),
            (
                "failed / fallback answers",
                format!("{} / -", bare.failed),
                format!("{} / {}", bulwark.failed, bulwark.fallbacks),
            ),
            ("p50 latency", ms(bare.p50), ms(bulwark.p50)),
            ("p99 latency", ms(bare.p99), ms(bulwark.p99)),
            ("max latency", ms(bare.max), ms(bulwark.max)),
            (
                "requests to the dark replica while dark (1st + 2nd half)",
                dark(bare),
                dark(bulwark),
            ),
            (
                "calls that reached the replicas",
                bare.upstream_calls.to_string(),
                bulwark.upstream_calls.to_string(),
            ),
            (
                "retries (all attempts failed / budget refusals)",
                "0".into(),
                format!(
                    "{} ({} / {})",
                    e.retries, e.retries_exhausted, e.budget_exhausted
                ),
            ),
            (
                "attempt / total timeouts",
                "- / -".into(),
                format!("{} / {}", e.attempt_timeouts, e.total_timeouts),
            ),
            ("fallbacks", "-".into(), e.fallbacks.to_string()),
            (
                "ejections (restorations)",
                "-".into(),
                format!("{} ({})", e.ejections, e.restorations),
            ),
            (
                "breaker transitions",
                "-".into(),
                e.transitions.len().to_string(),
            ),
        ];
        let mut out = String::new();
        let _ = writeln!(out, "{}\n", self.scenario);
        let width = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
        let col = |c: usize| rows.iter().map(|r| [&r.1, &r.2][c].chars().count()).max();
        let (w1, w2) = (col(0).unwrap_or(0).max(4), col(1).unwrap_or(0).max(7));
        let _ = writeln!(
            out,
            "| {:width$} | {:>w1$} | {:>w2$} |",
            "", "bare", "bulwark"
        );
        let _ = writeln!(
            out,
            "|-{}-|-{}:|-{}:|",
            "-".repeat(width),
            "-".repeat(w1),
            "-".repeat(w2)
        );
        for (name, a, b) in &rows {
            let _ = writeln!(out, "| {name:width$} | {a:>w1$} | {b:>w2$} |");
        }
        if !transitions.is_empty() {
            let _ = writeln!(out, "\nbreaker transitions:");
            for line in transitions {
                let _ = writeln!(out, "  {line}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn quantiles_take_the_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(quantile(&sorted, 0.50), ms(50));
        assert_eq!(quantile(&sorted, 0.99), ms(99));
        assert_eq!(quantile(&sorted, 1.0), ms(100));
        assert_eq!(quantile(&sorted[..1], 0.99), ms(1));
        assert_eq!(quantile(&[], 0.99), Duration::ZERO);
    }

    #[test]
    fn a_client_report_counts_unfinished_requests_as_failed_and_buckets_by_due_second() {
        let scenario = Scenario::new(1, Duration::from_secs(2), 3);
        let record = |due: u64, latency: u64, answer| Record {
            due: ms(due),
            latency: ms(latency),
            answer,
        };
        // Six requests were due; five finished.
        let records = [
            record(0, 1, Answer::Ok),
            record(333, 2, Answer::Failed),
            record(666, 3, Answer::Ok),
            record(1000, 40, Answer::Fallback),
            record(1333, 5, Answer::Ok),
        ];
        let upstream = Upstream {
            replicas: Vec::new(),
        };
        let report = ClientReport::new(&scenario, &records, &upstream);
        assert_eq!(report.requests, 6);
        assert_eq!((report.ok, report.fallbacks, report.failed), (3, 1, 2));
        assert_eq!(report.max, ms(40));
        assert_eq!(report.p50, ms(3));
        assert_eq!(report.seconds.len(), 2);
        assert_eq!((report.seconds[0].requests, report.seconds[0].ok), (3, 2));
        assert_eq!((report.seconds[1].requests, report.seconds[1].ok), (2, 1));
        assert_eq!(report.seconds[1].p99, ms(40));
        assert_eq!(report.dark_hits(), 0);
    }

    #[test]
    fn the_table_lists_every_row_and_the_transitions_in_order() {
        use super::super::tally::Transition;
        use super::super::upstream::Fault;
        use bulwark_policy::BreakerState;

        let mut report = Report {
            scenario: Scenario::new(1, Duration::from_secs(10), 100),
            ..Default::default()
        };
        report.bulwark.requests = 1000;
        report.bulwark.ok = 998;
        report.events.retries = 120;
        report.events.transitions = vec![
            Transition {
                at: ms(3_050),
                replica: Fault::Dark,
                from: BreakerState::Closed,
                to: BreakerState::Open,
            },
            Transition {
                at: ms(4_100),
                replica: Fault::Dark,
                from: BreakerState::Open,
                to: BreakerState::HalfOpen,
            },
        ];
        let table = report.table();
        for row in [
            "success rate",
            "p50 latency",
            "p99 latency",
            "max latency",
            "requests to the dark replica while dark",
            "retries",
            "fallbacks",
            "ejections",
            "breaker transitions",
        ] {
            assert!(
                table.contains(&format!("| {row}")),
                "{row} missing:\n{table}"
            );
        }
        assert!(table.contains("99.80% (998 of 1000)"), "{table}");
        let first = table
            .find("3.0 s  dark  closed → open")
            .expect("first transition");
        let second = table
            .find("4.1 s  dark  open → half_open")
            .expect("second transition");
        assert!(first < second, "{table}");
    }
}
